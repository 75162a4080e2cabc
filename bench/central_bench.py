"""The central node under load: simulated gates (the real gate link and outbox, several processes) against
`sharaka-central run --workers 4` on PostgreSQL and the single-worker SQLite setup, in the same run.

    .venv/bin/python bench/central_bench.py                       # 200 gates, sized for a 2-core machine
    .venv/bin/python bench/central_bench.py --gates 2000 --procs 16 --backlog 100 --duration 60   # the goal

Per setup, two phases on the same gates:
  drain  every gate starts with ``--backlog`` events in its outbox: events/s acknowledged (after the
         centre's commit) until every outbox is empty;
  live   every gate makes a passage every 1/``--rate`` s on average (0.1 % hits) with status heartbeats
         every ``--heartbeat`` s, plus one probe hit per gate process every 0.5 s for latency samples: hit
         latency gate -> store (``received - created`` of the stored hits: the gate's outbox commit to the
         worker's batch, whose commit follows) and gate -> live notification (the worker's console line for
         the hit, printed after its commit, as read by this bench: what a live console subscribed to the
         node's updates sees), and gate -> operators' console (the hit's first appearance in the live hits
         panel of the real web console, read through its server-sent events as a signed-in browser does).
Where the time goes: CPU seconds per event acknowledged in the drain phase, of the gate processes, the
central workers, the database server and the broker (read from /proc). The workers' figure is what more
workers or machines divide; the gates' is spent on the gates' own devices in production.
Lost = emitted ids not stored; duplicated = stored rows minus distinct (gate, id) (the database refuses
copies; the workers' own ``duplicates`` count of copies dropped is printed too). Goals (issue 12): 2,000
gates, >= 10,000 events/s sustained, hit -> store p99 <= 100 ms, hit -> console p99 <= 1 s, 0 lost, 0
duplicated. The gates' outboxes live in ``--gate-dir`` (tmpfs by default: one machine cannot give 2,000 gates
an SD card each); the centre's store (SQLite file, PostgreSQL cluster) is on disk with fsync on.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack
from nacl.signing import SigningKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent import keys as keyfiles  # noqa: E402
from agent.link import GateLink, LinkConfig  # noqa: E402
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox  # noqa: E402
from bench import procstat  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.central_workers import CentralWorkers, central_keys  # noqa: E402
from tests.support.console import OFFICER, PASSWORD, running_console  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.webclient import Client  # noqa: E402
from tools.central.store import CentralStore, open_store  # noqa: E402


def gate_key(gate_id: str) -> SigningKey:
    return SigningKey(hashlib.sha256(b"bench " + gate_id.encode()).digest())


def _emit(outbox: Outbox, link: GateLink, hit: bool) -> str:
    msg_id = uuid.uuid4().hex
    body = msgpack.packb({"decision": "HIT" if hit else "CLEAR", "doc": "L898902C3"})
    outbox.append("hit" if hit else "decision", msg_id, body, priority=PRIORITY_HIT if hit else PRIORITY_ROUTINE)
    link.notify()
    return msg_id


def gate_process(spec: dict[str, Any], out: Any) -> None:
    """Run ``spec['gates']`` real gate links from one process; report what was emitted, when it drained and
    the CPU seconds this process spent in each phase."""
    node = keyfiles.load_signing_key(Path(spec["keys"]) / "node.key").verify_key
    gates = []
    emitted: list[str] = []
    for gate_id, password in spec["gates"]:
        state = Path(spec["dir"]) / gate_id
        state.mkdir(parents=True)
        outbox = Outbox(state / "outbox.sqlite3")
        config = LinkConfig(gate_id=gate_id, host=spec["host"], port=spec["port"], username=gate_id,
                            password=password, heartbeat=spec["heartbeat"], ack_timeout=30.0, backoff_min=0.5,
                            backoff_max=5.0)
        link = GateLink(config, outbox, gate_key(gate_id), node_keys=[node], command_keys=[], state_dir=state)
        for _ in range(spec["backlog"]):
            emitted.append(_emit(outbox, link, False))
        gates.append((outbox, link))

    def drained(timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(o.depth() == 0 for o, _ in gates):
                return time.time()
            time.sleep(0.05)
        return None

    out.put(("ready", spec["index"]))
    start_at = spec["start_at"].get()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    for _, link in gates:
        link.start()
    t_drained = drained(spec["timeout"])
    out.put(("drain", spec["index"], len(emitted), t_drained, time.process_time() - cpu0))
    rng = random.Random(spec["index"])
    end = time.monotonic() + spec["duration"]
    probe = 0.0
    live = 0
    while time.monotonic() < end:
        for outbox, link in gates:
            if rng.random() < spec["rate"] * 0.1:
                emitted.append(_emit(outbox, link, rng.random() < 0.001))
                live += 1
        if time.monotonic() - probe >= 0.5:
            probe = time.monotonic()
            outbox, link = gates[rng.randrange(len(gates))]
            emitted.append(_emit(outbox, link, True))
            live += 1
        time.sleep(0.1)
    t_live = drained(spec["timeout"])
    for outbox, link in gates:
        link.stop()
        outbox.close()
    out.put(("live", spec["index"], live, t_live, emitted))


class ConsoleWatch:
    """The operators' console (``tools.central.console``, as ``sharaka-central console`` serves it) over the
    setup's store, an officer signed in and its live hits panel read as the browser reads it, through the
    server-sent events of ``/events?show=hits``: when each hit (``data-msg``) first appeared."""

    def __init__(self, db: str, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._running = running_console(db, directory / "operators.sqlite3")
        console = self._running.__enter__()
        assert console.server is not None
        client = Client(console.server.url)
        client.sign_in(OFFICER, PASSWORD)
        self.seen: dict[str, float] = {}
        self._events = client.opener.open(console.server.url + "/events?show=hits", timeout=120)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._events:
                now = time.time()
                for msg_id in re.findall(rb'data-msg="([0-9a-f]+)"', line):
                    self.seen.setdefault(msg_id.decode(), now)
        except (OSError, ValueError, AttributeError):  # closed (http.client drops its file)
            pass

    def close(self) -> None:
        self._events.close()
        self._running.__exit__(None, None, None)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def run_setup(name: str, db: str, workers: int, broker: Broker, server: int | None, args: argparse.Namespace,
              work: Path, gates: list[tuple[str, str]]) -> dict[str, Any]:
    store: CentralStore = open_store(db)
    now = time.time()
    for gate_id, _ in gates:
        store.enrol(gate_id, bytes(gate_key(gate_id).verify_key), now)
    keys = central_keys(work / "keys")
    central = CentralWorkers(broker, db, keys, workers, work, hit_lane=args.hit_lane)
    central.start()
    assert central.proc is not None
    console = ConsoleWatch(db, work / name)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    starts = [ctx.Queue() for _ in range(args.procs)]
    procs = []
    for i in range(args.procs):
        spec = {"index": i, "gates": gates[i :: args.procs], "dir": str(args.gate_dir / name / f"p{i}"),
                "keys": str(keys), "host": broker.host, "port": broker.port, "backlog": args.backlog,
                "rate": args.rate, "heartbeat": args.heartbeat, "duration": args.duration, "timeout": args.timeout,
                "start_at": starts[i]}
        p = ctx.Process(target=gate_process, args=(spec, out))
        p.start()
        procs.append(p)
    for _ in procs:
        out.get()  # every process has its outboxes filled
    t0 = time.time() + 1.0
    cpu = {"workers": procstat.cpu_s(central.proc.pid), "database": procstat.cpu_s(server) if server else 0.0,
           "broker": procstat.cpu_s(broker.pid or 0, tree=False)}
    for q in starts:
        q.put(t0)
    drain = [out.get() for _ in procs]
    cpu = {k: v - cpu[k] for k, v in {"workers": procstat.cpu_s(central.proc.pid),
                                      "database": procstat.cpu_s(server) if server else 0.0,
                                      "broker": procstat.cpu_s(broker.pid or 0, tree=False)}.items()}
    cpu["gates"] = sum(d[4] for d in drain)
    rss = {"workers": procstat.rss_mb(central.proc.pid, tree=True), "broker": procstat.rss_mb(broker.pid or 0)}
    live = [out.get(timeout=args.duration + args.timeout + 60) for _ in procs]
    for p in procs:
        p.join(30)
    time.sleep(1.0)  # the last console lines
    central.stop()
    console.close()
    backlog = sum(d[2] for d in drain)
    done = [d[3] for d in drain]
    drain_s = (max(done) - t0) if all(done) else float("nan")
    emitted = {m for ln in live for m in ln[4]}
    rows = store._x("SELECT gate_id, msg_id, is_hit, created, received FROM events").fetchall()
    stored = {r[1] for r in rows}
    live_from = t0 + 1 + drain_s
    created = {r[1]: r[3] for r in rows if r[2] and r[3] > live_from}
    hits = [(r[4] - r[3]) * 1000 for r in rows if r[2] and r[4] - r[3] >= 0 and r[3] > live_from]
    shown = [(ln["read_at"] - created[ln["id"]]) * 1000 for ln in central.lines
             if ln.get("type") == "hit" and ln.get("id") in created]
    web = [(console.seen[m] - c) * 1000 for m, c in created.items() if m in console.seen]
    dup_dropped = sum(ln.get("duplicates", 0) for ln in central.lines if ln.get("type") == "summary")
    store.close()
    per_event = {k: v / backlog * 1e6 for k, v in cpu.items()} if backlog else {}
    return {"setup": name, "gates": len(gates), "workers": workers, "backlog": backlog, "drain_s": drain_s,
            "events_per_s": backlog / drain_s if drain_s == drain_s else float("nan"),
            "live_events": sum(ln[2] for ln in live), "hit_samples": len(hits), "hit_p50_ms": pct(hits, 50),
            "hit_p99_ms": pct(hits, 99), "shown_samples": len(shown), "shown_p50_ms": pct(shown, 50),
            "shown_p99_ms": pct(shown, 99), "web_samples": len(web), "web_p50_ms": pct(web, 50),
            "web_p99_ms": pct(web, 99), "web_missed": len(created) - len(web), "lost": len(emitted - stored), "duplicated": len(rows) - len(stored),
            "copies_dropped_by_db": dup_dropped, "cpu_us_per_event": per_event, "rss_mb": rss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4, help="gate processes (at most ~150 gates each: select())")
    parser.add_argument("--backlog", type=int, default=100, help="events per gate queued before the drain")
    parser.add_argument("--rate", type=float, default=0.3, help="passages per gate per second in the live phase")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="gate status heartbeat, seconds")
    parser.add_argument("--duration", type=float, default=20.0, help="live phase, seconds")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--setups", default="pg,sqlite", help="pg (4 workers, PostgreSQL), sqlite (1 worker)")
    parser.add_argument("--gate-dir", type=Path, default=Path("/dev/shm"), help="where the gates' outboxes live")
    parser.add_argument("--hit-lane", action=argparse.BooleanOptionalAction, default=True,
                        help="workers take hits on a connection of their own (sharaka-central run --hit-username)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharaka-central-bench-"))
    work.chmod(0o755)  # the postgres user (as root we run the cluster as postgres) must reach work/pg
    args.gate_dir = Path(tempfile.mkdtemp(prefix="sharaka-central-bench-gates-", dir=args.gate_dir))
    results = []
    broker = Broker(work / "broker", max_queued_messages=100_000)
    gates = [(f"bench-{i:04d}", broker.add_gate(f"bench-{i:04d}")[1]) for i in range(args.gates)]
    broker.start()
    pg = PostgresCluster(work / "pg", max_connections=50)
    load = os.getloadavg()
    try:
        for setup in args.setups.split(","):
            if setup == "pg":
                if not pg.data.exists():
                    pg.start()
                server = pg._proc.pid if pg._proc else None
                results.append(run_setup("pg", pg.create_database("bench"), 4, broker, server, args, work, gates))
            else:
                results.append(run_setup("sqlite", str(work / "central.db"), 1, broker, None, args, work, gates))
            print(results[-1], flush=True)
    finally:
        pg.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(args.gate_dir, ignore_errors=True)
    print(f"\n{args.gates} gates in {args.procs} processes, backlog {args.backlog}/gate, live {args.duration:g} s at"
          f" {args.rate:g} passages/gate/s; goals: >= 10,000 events/s, hit p99 <= 100 ms (store), <= 1 s (console),"
          f" 0 lost, 0 duplicated; load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f} on"
          f" {os.cpu_count()} CPUs")
    print(f"{'setup':<8}{'workers':>8}{'events/s':>10}{'drain s':>9}{'store p50':>10}{'p99':>8}{'live p50':>10}"
          f"{'p99':>8}{'hits':>6}{'lost':>6}{'dup':>5}{'copies':>8}")
    for r in results:
        print(f"{r['setup']:<8}{r['workers']:>8}{r['events_per_s']:>10.0f}{r['drain_s']:>9.1f}{r['hit_p50_ms']:>10.1f}"
              f"{r['hit_p99_ms']:>8.1f}{r['shown_p50_ms']:>10.1f}{r['shown_p99_ms']:>8.1f}{r['hit_samples']:>6}"
              f"{r['lost']:>6}{r['duplicated']:>5}{r['copies_dropped_by_db']:>8}")
    print("hit -> operators' console (SSE of /events?show=hits, the live hits panel):")
    for r in results:
        print(f"  {r['setup']:<8}p50 {r['web_p50_ms']:.1f} ms, p99 {r['web_p99_ms']:.1f} ms over {r['web_samples']} hits;"
              f" {r['web_missed']} hit(s) never shown live")
    print("CPU µs per event acknowledged in the drain (gates / workers / database / broker):")
    for r in results:
        c = r["cpu_us_per_event"]
        print(f"  {r['setup']:<8}" + " / ".join(f"{c.get(k, 0):.0f}" for k in ("gates", "workers", "database", "broker"))
              + f"; resident: workers {r['rss_mb']['workers']:.0f} MiB, broker {r['rss_mb']['broker']:.0f} MiB")
    if len(results) == 2:
        pg_r, lite = results
        print(f"PostgreSQL {pg_r['workers']} workers / SQLite 1 worker: {pg_r['events_per_s'] / lite['events_per_s']:.2f}x"
              " events/s")
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
