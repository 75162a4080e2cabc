"""The centre's own capacity, apart from the simulated gates: a backlog of real gate events is loaded into the
broker while the workers are away, then the workers drain it with the machine's cores to themselves.

    .venv/bin/python bench/central_drain.py                          # 500 gates x 60 events, each setup
    .venv/bin/python bench/central_drain.py --gates 2000 --backlog 20 --setups pg:4,sqlite:1

The events are what a gate's link publishes (``bench.central_ingest.gate_event``: the personal part sealed to
the centre's key, the envelope signed by the gate's own key, 0.1 % hits), made in advance by ``--procs``
publisher processes and published onto the gates' topics by broker users of the centre's (``central-load-N``;
the workers verify every message against its gate's enrolled key exactly as from the gate itself). Per setup
(``pg:N``: ``sharaka-central run --workers N`` on PostgreSQL; ``sqlite:1``, the embedded default), on a fresh
database:

  1. the workers start, connect and subscribe, and are then stopped (SIGSTOP): "away", their sessions and
     subscriptions held by the broker, which queues everything published to them;
  2. the publishers publish the backlog (QoS 1) and go idle;
  3. the workers are resumed (SIGCONT) and the bench counts the stored events until all are in: events/s
     committed (each batch's acks are published right after its commit).

During the drain a probe gate publishes a hit every 0.1 s: hit -> store latency (``received - created``) under
that load. With ``--hit-lane`` (the default) each worker takes the hits on a connection, writer and store
connection of its own (``sharaka-central run --hit-username``); with ``--no-hit-lane`` a hit waits behind what
the broker queued for the worker's one connection before it (an MQTT session's queue is first in, first out),
which is what a hit met there when a centre came back to a full broker. CPU seconds per event of
the workers, the database server and the broker are read from /proc over the drain. Lost: published, not
stored; duplicated: rows minus distinct (gate, message id). A worker must be resumed within 1.5 x its
keepalive (30 s) or the broker ends its session, so keep ``--gates x --backlog`` to what the publishers put
out in ~20 s (~50,000 here).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from agent import keys as keyfiles  # noqa: E402
from agent.screening.events import EventSealer  # noqa: E402
from bench import procstat  # noqa: E402
from bench.central_ingest import gate_event, gate_key  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.central_workers import CentralWorkers, central_keys  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tools.central.node import CentralConfig  # noqa: E402
from tools.central.store import CentralStore, open_store  # noqa: E402

PROBE = "probe-hits"


def publisher(spec: dict[str, Any], orders: Any, done: Any) -> None:
    """Make this process's share of the backlog once, then publish it (QoS 1, every PUBACK awaited) each time
    ``orders`` says so; reports the seconds each publication took."""
    node = keyfiles.load_signing_key(Path(spec["keys"]) / "node.key")
    sealer = EventSealer(node.verify_key)
    wires = []
    for i in range(spec["backlog"]):
        for n, gate_id in enumerate(spec["gates"]):
            hit = (i * len(spec["gates"]) + n) % 1000 == 999
            wires.append(gate_event(gate_id, gate_key(gate_id), i + 1, hit, sealer))
    config = CentralConfig(host=spec["host"], port=spec["port"], username=spec["user"], password=spec["password"],
                           client_id=spec["user"])
    done.put(("ready", len(wires)))
    while orders.get() == "publish":
        client = config.client()
        client.max_inflight_messages_set(100)
        client.connect(config.host, config.port, 60)
        client.loop_start()
        t0 = time.perf_counter()
        infos = [client.publish(topic, wire, qos=1) for topic, wire in wires]
        for info in infos:
            info.wait_for_publish(120)
        done.put(("published", time.perf_counter() - t0))
        client.disconnect()
        client.loop_stop()


class Probe:
    """A gate publishing a hit every ``interval`` s from a central user's connection while ``running``."""

    def __init__(self, broker: Broker, keys: Path, interval: float = 0.1) -> None:
        user, password = "central-probe", broker.credentials["central-probe"]
        self._config = CentralConfig(host=broker.host, port=broker.port, username=user, password=password,
                                     client_id=user)
        self._sealer = EventSealer(keyfiles.load_signing_key(keys / "node.key").verify_key)
        self._key = gate_key(PROBE)
        self._interval = interval
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        client = self._config.client()
        client.connect(self._config.host, self._config.port, 60)
        client.loop_start()
        while not self._stop.wait(self._interval):
            self._seq += 1
            client.publish(*gate_event(PROBE, self._key, self._seq, True, self._sealer), qos=1)
        client.disconnect()
        client.loop_stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def forget_session(broker: Broker) -> None:
    """End the single worker's persistent sessions (clients ``central`` and ``central-hits``), so the broker does
    not queue the next setups' backlog for them."""
    for user in ("central", "central-hits"):
        password = broker.credentials.get(user)
        if password is None:
            continue
        client = CentralConfig(host=broker.host, port=broker.port, username=user, password=password,
                               client_id=user).client()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        client.connect(broker.host, broker.port, 30, clean_start=True, properties=props)
        client.disconnect()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def run_setup(name: str, db: str, workers: int, broker: Broker, pg_pid: int | None, keys: Path, work: Path,
              gates: list[str], pubs: list[tuple[Any, Any]], backlog: int, timeout: float,
              hit_lane: bool) -> dict[str, Any]:
    store: CentralStore = open_store(db)
    now = time.time()
    for gate_id in [*gates, PROBE]:
        store.enrol(gate_id, bytes(gate_key(gate_id).verify_key), now)
    (work / name).mkdir()
    central = CentralWorkers(broker, db, keys, workers, work / name, hit_lane=hit_lane)
    central.start()
    assert central.proc is not None
    pids = [central.proc.pid] if workers == 1 else list(central.pids().values())
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    for orders, _ in pubs:
        orders.put("publish")
    publish_s = max(done.get(timeout=timeout)[1] for _, done in pubs)
    probe = Probe(broker, keys)
    cpu0 = {"workers": procstat.cpu_s(central.proc.pid), "database": procstat.cpu_s(pg_pid) if pg_pid else 0.0,
            "broker": procstat.cpu_s(broker.pid or 0, tree=False)}
    load0 = os.getloadavg()[0]
    t0 = time.time()
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
    away_s = time.monotonic() - t_stop
    probe.start()
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline:
        stored = int(store._x("SELECT count(*) FROM events WHERE gate_id <> ?", (PROBE,)).fetchone()[0])
        if stored >= len(gates) * backlog:
            break
        time.sleep(0.25)
    t_done = time.time()
    cpu = {"workers": procstat.cpu_s(central.proc.pid), "database": procstat.cpu_s(pg_pid) if pg_pid else 0.0,
           "broker": procstat.cpu_s(broker.pid or 0, tree=False)}
    load1 = os.getloadavg()[0]
    probe.stop()
    time.sleep(1.0)  # the probe's last hits
    central.stop()
    forget_session(broker)
    rows = store._x("SELECT gate_id, msg_id, created, received FROM events").fetchall()
    store.close()
    n = len(gates) * backlog
    hits = [(r[3] - r[2]) * 1000 for r in rows if r[0] == PROBE and r[2] < t_done]
    distinct = {(r[0], r[1]) for r in rows}
    return {"setup": name, "workers": workers, "events": n, "publish_s": publish_s, "away_s": away_s,
            "drain_s": t_done - t0, "events_per_s": stored / (t_done - t0), "stored": stored,
            "lost": n - stored, "duplicated": len(rows) - len(distinct), "hit_samples": len(hits),
            "hit_p50_ms": pct(hits, 50), "hit_p99_ms": pct(hits, 99),
            "cpu_us": {k: (cpu[k] - cpu0[k]) / max(1, stored) * 1e6 for k in cpu}, "load": (load0, load1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gates", type=int, default=500)
    ap.add_argument("--backlog", type=int, default=60, help="events per gate loaded into the broker")
    ap.add_argument("--procs", type=int, default=2, help="publisher processes (they are idle during the drain)")
    ap.add_argument("--setups", default="pg:1,pg:2,pg:4,sqlite:1", help="ENGINE:WORKERS, comma-separated")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--hit-lane", action=argparse.BooleanOptionalAction, default=True,
                    help="workers take hits on a connection of their own (sharaka-central run --hit-username)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharaka-drain-"))
    work.chmod(0o755)  # the postgres user must reach work/pg
    gates = [f"drain-{i:04d}" for i in range(a.gates)]
    broker = Broker(work / "broker", max_queued_messages=a.gates * a.backlog + 10_000)
    loaders = [broker.add_central(f"central-load-{i}") for i in range(a.procs)]
    broker.add_central("central-probe")
    broker.start()
    keys = central_keys(work / "keys")
    pg = PostgresCluster(work / "pg", max_connections=50)
    ctx = mp.get_context("spawn")
    pubs = [(ctx.Queue(), ctx.Queue()) for _ in range(a.procs)]
    procs = [ctx.Process(target=publisher, args=({"keys": str(keys), "gates": gates[i :: a.procs], "backlog": a.backlog,
                                                  "host": broker.host, "port": broker.port, "user": user,
                                                  "password": password}, *pubs[i]), daemon=True)
             for i, (user, password) in enumerate(loaders)]
    for p in procs:
        p.start()
    results = []
    try:
        for _, done in pubs:
            done.get(timeout=a.timeout)  # every publisher has made its events
        for setup in a.setups.split(","):
            engine, _, n = setup.partition(":")
            workers = int(n or 1)
            name = f"{engine}-{workers}"
            if engine == "pg":
                if pg._proc is None:
                    pg.start()
                db, pg_pid = pg.create_database(name.replace("-", "_")), pg._proc.pid if pg._proc else None
            else:
                db, pg_pid = str(work / f"{name}.db"), None
            results.append(run_setup(name, db, workers, broker, pg_pid, keys, work, gates, pubs, a.backlog,
                                     a.timeout, a.hit_lane))
            print(results[-1], flush=True)
    finally:
        for orders, _ in pubs:
            orders.put("exit")
        for p in procs:
            p.join(10)
        pg.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nbacklog of {a.gates * a.backlog:,} events ({a.gates:,} gates x {a.backlog}) loaded into the broker while"
          f" the workers were stopped, then drained; hit lane {'on' if a.hit_lane else 'off'}; {os.cpu_count()} CPUs")
    print(f"{'setup':<10}{'events/s':>10}{'drain s':>9}{'hit p50':>9}{'p99 ms':>8}{'lost':>6}{'dup':>5}"
          f"{'  CPU µs/event: workers / database / broker':<44}{'load':>11}")
    for r in results:
        c = r["cpu_us"]
        print(f"{r['setup']:<10}{r['events_per_s']:>10.0f}{r['drain_s']:>9.1f}{r['hit_p50_ms']:>9.0f}"
              f"{r['hit_p99_ms']:>8.0f}{r['lost']:>6}{r['duplicated']:>5}"
              f"{'  ' + ' / '.join(f'{c[k]:.0f}' for k in ('workers', 'database', 'broker')):<44}"
              f"{r['load'][0]:>5.1f}-{r['load'][1]:<5.1f}")
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
