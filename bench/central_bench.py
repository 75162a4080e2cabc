"""The central node under load: simulated gates (the real gate link and outbox, several processes) against
`sharaka-central run --workers 4` on PostgreSQL and the single-worker SQLite setup, in the same run.

    .venv/bin/python bench/central_bench.py                       # 200 gates, sized for a 2-core machine
    nice -n 5 .venv/bin/python bench/central_bench.py --gates 2000 --procs 14 --backlog 0 --duration 60   # issue 12

Per setup, on the same gates:
  ramp   the gates connect in waves: gate k of n starts its link at k/n x ``--ramp`` s (default n/50: 50 gates a
         second), so 2,000 links do not connect, log in and publish their birth at once; the next phase starts
         once every link is connected;
  drain  (``--backlog`` > 0) every gate gets ``--backlog`` events in its outbox at the same instant: events/s
         acknowledged (after the centre's commit) until every outbox is empty (the centre's capacity without
         the gates on the same cores is bench/central_drain.py's);
  live   every gate makes a passage every 1/``--rate`` s on average (Poisson, so first events are staggered;
         0.1 % hits) with status heartbeats every ``--heartbeat`` s, plus one probe hit per gate process every
         0.5 s for latency samples: events/s stored while it runs; hit latency gate -> store (``received -
         created`` of the stored hits: the gate's outbox commit to the worker's batch, whose commit follows),
         gate -> live notification (the worker's console line for the hit, printed after its commit), and
         gate -> operators' console (the hit's first appearance in the live hits panel of the real web console,
         read through its server-sent events as a signed-in browser does).
The workers take hits on their hit lane (``--hit-lane``, the default; docs/central.md "The hit lane").
Where the time goes: CPU seconds per event acknowledged in the drain and live phases, of the gate processes,
the central workers, the database server and the broker (read from /proc). The workers' figure is what more
workers or machines divide; the gates' is spent on the gates' own devices in production.
Lost = emitted ids not stored; duplicated = stored rows minus distinct (gate, id) (the database refuses
copies; the workers' own ``duplicates`` count of copies dropped is printed too). Goals (issue 12): 2,000
gates, >= 10,000 events/s sustained, hit -> store p99 <= 100 ms, hit -> console p99 <= 1 s, 0 lost, 0
duplicated. Realistic traffic from 2,000 gates (a passage every few seconds each) is ~500-700 events/s; the
10,000 events/s is the centre's capacity, which bench/central_drain.py measures. The gates' outboxes live in
``--gate-dir`` (tmpfs by default: one machine cannot give 2,000 gates an SD card each); the centre's store
(SQLite file, PostgreSQL cluster) is on disk with fsync on.

Watchdog (a shared machine): when the 1-minute load average stays above ``--max-load`` for ``--max-load-for``
seconds, the gates stop, the run ends with what it measured so far, and the summary says so.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import queue
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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


def gate_process(spec: dict[str, Any], orders: Any, out: Any, stop: Any) -> None:
    """Run ``spec['gates']`` real gate links from one process through the phases (module docstring): ramp at the
    times ``spec['slots']`` after the start the main process sends, drain at the instant it sends next, then
    live; report what was emitted, when, and the CPU seconds this process spent in each phase. ``stop`` (the
    watchdog) ends every phase early."""
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
        gates.append((outbox, link))

    def drained(timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if all(o.depth() == 0 for o, _ in gates):
                return time.time()
            time.sleep(0.05)
        return None

    out.put(("ready", spec["index"]))
    t0 = orders.get()
    cpu0 = time.process_time()
    for (_, link), slot in zip(gates, spec["slots"], strict=True):  # the ramp: each link at its own time
        time.sleep(max(0.0, t0 + slot - time.time()))
        if stop.is_set():
            break
        link.start()
    deadline = time.monotonic() + spec["timeout"]
    while not all(link.is_connected for _, link in gates) and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.1)
    out.put(("ramp", spec["index"], sum(link.is_connected for _, link in gates), time.time(),
             time.process_time() - cpu0))
    t1 = orders.get()
    time.sleep(max(0.0, t1 - time.time()))
    cpu0 = time.process_time()
    for outbox, link in gates:
        for _ in range(spec["backlog"] if not stop.is_set() else 0):
            emitted.append(_emit(outbox, link, False))
    t_drained = drained(spec["timeout"]) if spec["backlog"] else time.time()
    out.put(("drain", spec["index"], spec["backlog"] * len(gates), t_drained, time.process_time() - cpu0))
    rng = random.Random(spec["index"])
    live_from = time.time()
    end = time.monotonic() + spec["duration"]
    probe = 0.0
    live = 0
    cpu0 = time.process_time()
    while time.monotonic() < end and not stop.is_set():
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
    live_to = time.time()
    cpu_live = time.process_time() - cpu0
    t_live = drained(spec["timeout"])
    queued = [row.msg_id for outbox, _ in gates for row in outbox.pending(10**9)]  # not lost: resent later
    with ThreadPoolExecutor(50) as pool:  # each stop waits for its offline status to be published
        list(pool.map(lambda gate: gate[1].stop(), gates))
    for outbox, _ in gates:
        outbox.close()
    out.put(("live", spec["index"], live, t_live, emitted, live_from, live_to, cpu_live, queued))


class Watchdog:
    """Sets ``stop`` when the 1-minute load average stays above ``limit`` for ``for_s`` seconds; ``tripped``
    says when and at what load (None while it has not)."""

    def __init__(self, stop: Any, limit: float, for_s: float) -> None:
        self.stop, self.limit, self.for_s = stop, limit, for_s
        self.tripped: str | None = None
        self.peak = 0.0
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        over_since: float | None = None
        while not self._done.wait(2.0):
            load = os.getloadavg()[0]
            self.peak = max(self.peak, load)
            if load <= self.limit:
                over_since = None
                continue
            over_since = over_since or time.monotonic()
            if time.monotonic() - over_since >= self.for_s and self.tripped is None:
                self.tripped = (f"stopped by the watchdog at {time.strftime('%H:%M:%S', time.gmtime())} UTC: load"
                                f" average {load:.1f} above {self.limit:g} for {self.for_s:g} s")
                print(self.tripped, flush=True)
                self.stop.set()

    def close(self) -> None:
        self._done.set()


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
        # the server first: it ends the stream, so the reader thread returns; closing the response while that
        # thread is blocked reading it waits on its buffer's lock for the next ping (agent/web/sse.py
        # HEARTBEAT_S: 15 s a setup)
        self._running.__exit__(None, None, None)
        self._events.close()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def collect(out: Any, procs: list[Any], timeout: float) -> list[Any]:
    """One message from each gate process; raises when one died (rather than waiting out ``timeout``)."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(procs):
        try:
            got.append(out.get(timeout=1.0))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"gate processes: {len(got)} of {len(procs)} answered; exit codes {dead}") from None
    return got


def run_setup(name: str, db: str, workers: int, broker: Broker, server: int | None, args: argparse.Namespace,
              work: Path, gates: list[tuple[str, str]], stop: Any, watchdog: Watchdog,
              linger: str | None = None) -> dict[str, Any]:
    store: CentralStore = open_store(db)
    now = time.time()
    for gate_id, _ in gates:
        store.enrol(gate_id, bytes(gate_key(gate_id).verify_key), now)
    keys = central_keys(work / "keys")
    central = CentralWorkers(broker, db, keys, workers, work, *(("--linger", linger) if linger else ()),
                             hit_lane=args.hit_lane)
    central.start(timeout=180)  # a loaded machine: 4 workers' imports, store and two connections each
    assert central.proc is not None
    console = ConsoleWatch(db, work / name)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    orders = [ctx.Queue() for _ in range(args.procs)]
    procs = []
    ramp = args.ramp if args.ramp is not None else len(gates) / 50
    for i in range(args.procs):
        mine = list(range(i, len(gates), args.procs))
        spec = {"index": i, "gates": [gates[k] for k in mine], "slots": [k * ramp / len(gates) for k in mine],
                "dir": str(args.gate_dir / name / f"p{i}"), "keys": str(keys), "host": broker.host,
                "port": broker.port, "backlog": args.backlog, "rate": args.rate, "heartbeat": args.heartbeat,
                "duration": args.duration, "timeout": args.timeout}
        p = ctx.Process(target=gate_process, args=(spec, orders[i], out, stop))
        p.start()
        procs.append(p)
    try:
        return _phases(name, central, console, server, broker, args, gates, out, orders, procs, store, stop, watchdog)
    finally:
        for p in procs:  # gone already unless a phase failed
            p.join(2)
            if p.is_alive():
                p.terminate()
        central.stop()
        console.close()
        store.close()


def _phases(name: str, central: CentralWorkers, console: ConsoleWatch, server: int | None, broker: Broker,
            args: argparse.Namespace, gates: list[tuple[str, str]], out: Any, orders: list[Any], procs: list[Any],
            store: CentralStore, stop: Any, watchdog: Watchdog) -> dict[str, Any]:
    """The ramp, drain and live phases of one setup (module docstring) and what they measured."""
    collect(out, procs, args.timeout)  # every process has its outboxes made
    ramp = args.ramp if args.ramp is not None else len(gates) / 50

    def cpu_now() -> dict[str, float]:
        assert central.proc is not None
        return {"workers": procstat.cpu_s(central.proc.pid), "database": procstat.cpu_s(server) if server else 0.0,
                "broker": procstat.cpu_s(broker.pid or 0, tree=False)}

    loads = [os.getloadavg()[0]]
    t0 = time.time() + 1.0
    for q in orders:
        q.put(t0)
    ramped = collect(out, procs, ramp + args.timeout + 60)
    loads.append(os.getloadavg()[0])
    connected, ramp_s = sum(r[2] for r in ramped), max(r[3] for r in ramped) - t0
    print(f"{name}: {connected} of {len(gates)} gates connected in {ramp_s:.1f} s (load {loads[-1]:.1f})", flush=True)
    t1 = time.time() + 1.0
    cpu = cpu_now()
    for q in orders:
        q.put(t1)
    drain = collect(out, procs, args.timeout + 60)
    loads.append(os.getloadavg()[0])
    print(f"{name}: drain done (load {loads[-1]:.1f}); live phase for {args.duration:g} s", flush=True)
    cpu = {k: v - cpu[k] for k, v in cpu_now().items()}
    cpu["gates"] = sum(d[4] for d in drain)
    rss = {"workers": procstat.rss_mb(central.proc.pid, tree=True), "broker": procstat.rss_mb(broker.pid or 0)}
    cpu_live0 = cpu_now()
    live = collect(out, procs, args.duration + args.timeout + 60)
    loads.append(os.getloadavg()[0])
    for p in procs:
        p.join(30)
    time.sleep(1.0)  # the last console lines
    cpu_live = {k: v - cpu_live0[k] for k, v in cpu_now().items()}
    cpu_live["gates"] = sum(ln[7] for ln in live)
    backlog = sum(d[2] for d in drain)
    done = [d[3] for d in drain]
    drain_s = (max(done) - t1) if backlog and all(done) else float("nan")
    emitted = {m for ln in live for m in ln[4]}
    queued = {m for ln in live for m in ln[8]}
    rows = store._x("SELECT gate_id, msg_id, is_hit, created, received FROM events").fetchall()
    stored = {r[1] for r in rows}
    live_from, live_to = max(ln[5] for ln in live), min(ln[6] for ln in live)
    window = max(1e-9, live_to - live_from)
    live_stored = sum(1 for r in rows if live_from <= r[4] <= live_to)
    created = {r[1]: r[3] for r in rows if r[2] and r[3] > live_from}
    hits = [(r[4] - r[3]) * 1000 for r in rows if r[2] and r[4] - r[3] >= 0 and r[3] > live_from]
    shown = [(ln["read_at"] - created[ln["id"]]) * 1000 for ln in central.lines
             if ln.get("type") == "hit" and ln.get("id") in created]
    web = [(console.seen[m] - c) * 1000 for m, c in created.items() if m in console.seen]
    central.stop()  # its summary lines
    dup_dropped = sum(ln.get("duplicates", 0) for ln in central.lines if ln.get("type") == "summary")
    per_event = {k: v / backlog * 1e6 for k, v in cpu.items()} if backlog else {}
    per_live = {k: v / live_stored * 1e6 for k, v in cpu_live.items()} if live_stored else {}
    return {"setup": name, "gates": len(gates), "connected": connected, "ramp_s": ramp_s, "workers": central.n,
            "backlog": backlog, "drain_s": drain_s,
            "events_per_s": backlog / drain_s if drain_s == drain_s else float("nan"),
            "live_events": sum(ln[2] for ln in live), "live_s": window, "live_per_s": live_stored / window,
            "hit_samples": len(hits), "hit_p50_ms": pct(hits, 50),
            "hit_p99_ms": pct(hits, 99), "shown_samples": len(shown), "shown_p50_ms": pct(shown, 50),
            "shown_p99_ms": pct(shown, 99), "web_samples": len(web), "web_p50_ms": pct(web, 50),
            "web_p99_ms": pct(web, 99), "web_missed": len(created) - len(web), "lost": len(emitted - stored - queued),
            "queued": len(queued - stored),
            "duplicated": len(rows) - len(stored), "copies_dropped_by_db": dup_dropped, "cpu_us_per_event": per_event,
            "cpu_us_per_live_event": per_live, "rss_mb": rss, "load": loads, "load_peak": watchdog.peak,
            "watchdog": watchdog.tripped, "live_offered_per_s": sum(ln[2] for ln in live) / window}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4, help="gate processes (at most ~150 gates each: select())")
    parser.add_argument("--ramp", type=float, help="seconds over which the gates connect (default: gates / 50)")
    parser.add_argument("--backlog", type=int, default=100, help="events per gate queued at once for the drain (0: none)")
    parser.add_argument("--rate", type=float, default=0.3, help="passages per gate per second in the live phase")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="gate status heartbeat, seconds")
    parser.add_argument("--duration", type=float, default=20.0, help="live phase, seconds")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--setups", default="pg,sqlite",
                        help="pg (4 workers, PostgreSQL), sqlite (1 worker); SETUP:SECONDS runs it with `--linger"
                             " SECONDS` (e.g. pg:0.005,pg:0.05: the same setup before and after, in one run)")
    parser.add_argument("--gate-dir", type=Path, default=Path("/dev/shm"), help="where the gates' outboxes live")
    parser.add_argument("--hit-lane", action=argparse.BooleanOptionalAction, default=True,
                        help="workers take hits on a connection of their own (sharaka-central run --hit-username)")
    parser.add_argument("--max-load", type=float, default=40.0, help="watchdog: the 1-minute load average limit")
    parser.add_argument("--max-load-for", type=float, default=60.0, help="watchdog: seconds above it before stopping")
    args = parser.parse_args()
    if args.gates > 150 * args.procs:
        parser.error(f"--gates {args.gates} in --procs {args.procs}: at most 150 gates a process (paho's select())")
    work = Path(tempfile.mkdtemp(prefix="sharaka-central-bench-"))
    work.chmod(0o755)  # the postgres user (as root we run the cluster as postgres) must reach work/pg
    args.gate_dir = Path(tempfile.mkdtemp(prefix="sharaka-central-bench-gates-", dir=args.gate_dir))
    results = []
    broker = Broker(work / "broker", max_queued_messages=100_000)
    gates = [(f"bench-{i:04d}", broker.add_gate(f"bench-{i:04d}")[1]) for i in range(args.gates)]
    broker.start()
    pg = PostgresCluster(work / "pg", max_connections=50)
    load = os.getloadavg()
    stop = mp.get_context("spawn").Event()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (workers, broker, cluster) when stopped
    watchdog = Watchdog(stop, args.max_load, args.max_load_for)
    try:
        for k, setup in enumerate(args.setups.split(",")):
            if stop.is_set():
                print(f"{setup}: not run ({watchdog.tripped})", flush=True)
                continue
            engine, _, linger = setup.partition(":")
            if engine == "pg":
                if not pg.data.exists():
                    pg.start()
                server = pg._proc.pid if pg._proc else None
                results.append(run_setup(setup, pg.create_database(f"bench{k}"), 4, broker, server, args, work, gates,
                                         stop, watchdog, linger or None))
            else:
                results.append(run_setup(setup, str(work / f"central{k}.db"), 1, broker, None, args, work, gates,
                                         stop, watchdog, linger or None))
            print(results[-1], flush=True)
    finally:
        watchdog.close()
        pg.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(args.gate_dir, ignore_errors=True)
    print(f"\n{args.gates} gates in {args.procs} processes, ramp {args.ramp if args.ramp is not None else args.gates / 50:g} s,"
          f" backlog {args.backlog}/gate, live {args.duration:g} s at {args.rate:g} passages/gate/s; goals: >= 10,000"
          f" events/s, hit p99 <= 100 ms (store), <= 1 s (console), 0 lost, 0 duplicated; load average before"
          f" {load[0]:.1f}, peak {watchdog.peak:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if watchdog.tripped:
        print(f"NOTE: {watchdog.tripped}; the figures below are what was measured until then")
    print(f"{'setup':<12}{'workers':>8}{'connected':>10}{'ramp s':>8}{'drain/s':>9}{'live/s':>8}{'offered/s':>10}"
          f"{'store p50':>10}{'p99':>8}{'notif p50':>10}{'p99':>8}{'hits':>6}{'lost':>6}{'dup':>5}{'queued':>7}"
          f"{'copies':>8}")
    for r in results:
        print(f"{r['setup']:<12}{r['workers']:>8}{r['connected']:>10}{r['ramp_s']:>8.1f}{r['events_per_s']:>9.0f}"
              f"{r['live_per_s']:>8.0f}{r['live_offered_per_s']:>10.0f}{r['hit_p50_ms']:>10.1f}{r['hit_p99_ms']:>8.1f}"
              f"{r['shown_p50_ms']:>10.1f}{r['shown_p99_ms']:>8.1f}{r['hit_samples']:>6}{r['lost']:>6}"
              f"{r['duplicated']:>5}{r['queued']:>7}{r['copies_dropped_by_db']:>8}")
    print("hit -> operators' console (SSE of /events?show=hits, the live hits panel):")
    for r in results:
        print(f"  {r['setup']:<12}p50 {r['web_p50_ms']:.1f} ms, p99 {r['web_p99_ms']:.1f} ms over {r['web_samples']} hits;"
              f" {r['web_missed']} hit(s) never shown live")
    print("CPU µs per event acknowledged, drain | live (gates / workers / database / broker); load at start, after the"
          " ramp, the drain, the live phase:")
    for r in results:
        c, lv = r["cpu_us_per_event"], r["cpu_us_per_live_event"]
        parts = ("gates", "workers", "database", "broker")
        print(f"  {r['setup']:<12}" + " / ".join(f"{c.get(k, 0):.0f}" for k in parts) + " | "
              + " / ".join(f"{lv.get(k, 0):.0f}" for k in parts)
              + f"; resident: workers {r['rss_mb']['workers']:.0f} MiB, broker {r['rss_mb']['broker']:.0f} MiB; load "
              + ", ".join(f"{x:.1f}" for x in r["load"]))
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
