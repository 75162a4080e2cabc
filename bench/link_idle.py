"""What a gate link costs: CPU and thread wake-ups per link per second when idle, and CPU per event when live.

    .venv/bin/python bench/link_idle.py                     # 100 links in this process, 30 s idle
    .venv/bin/python bench/link_idle.py --links 1 --profile # one link, where its CPU goes (cProfile, all threads)
    .venv/bin/python bench/link_idle.py --rate 0.3          # live: 0.3 events per link per second, acked by a
                                                            # real `sharaka-central run` worker (SQLite)

Real ``GateLink``s (the gate's link code, each with its outbox on tmpfs) connected to a real Mosquitto, then left
idle (heartbeats every ``--heartbeat`` s, as configured on a gate): CPU seconds of this process per link-second
(``time.process_time``), and the threads' context switches per link-second (/proc/self/task/*/status: each one a
wake-up of an idle thread: a Pi gate's power, a simulated fleet's cores). The central node is not running: an
idle gate sends nothing but its heartbeats and paho's keepalive pings. With ``--rate R`` the links each put an
event in their outbox R times a second on average (as bench/central_bench.py's live phase: the outbox append,
sealing, publishing, the centre's signed ack verified, the rows deleted), a real central worker (SQLite, its own
process, not counted) storing and acking them: this process's CPU per event, less the idle cost measured first.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from nacl.signing import SigningKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent import keys as keyfiles  # noqa: E402
from agent.link import GateLink, LinkConfig  # noqa: E402
from agent.outbox import PRIORITY_ROUTINE, Outbox  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.central_workers import CentralWorkers, central_keys  # noqa: E402
from tools.central.store import CentralStore  # noqa: E402


def switches() -> tuple[int, int]:
    """(voluntary, involuntary) context switches of every thread of this process so far."""
    vol = invol = 0
    for status in Path("/proc/self/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                vol += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                invol += int(line.split()[1])
    return vol, invol


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", type=int, default=100)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds measured once every link is connected")
    parser.add_argument("--heartbeat", type=float, default=60.0)
    parser.add_argument("--keepalive", type=int, default=30)
    parser.add_argument("--rate", type=float, default=0.0, help="then a live phase: events per link per second")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile every thread the links start, during the idle phase (the live one with --rate)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharaka-link-idle-", dir="/dev/shm"))
    broker = Broker(work / "broker")
    users = [broker.add_gate(f"idle-{i:04d}") for i in range(args.links)]
    broker.start()
    keys = central_keys(work / "keys")
    node = keyfiles.load_signing_key(keys / "node.key").verify_key
    links: list[GateLink] = []
    central = None
    try:
        if args.rate:
            store = CentralStore(work / "central.db")
            for user, _ in users:
                store.enrol(user, bytes(SigningKey(hashlib.sha256(user.encode()).digest()).verify_key), time.time())
            store.close()
            central = CentralWorkers(broker, str(work / "central.db"), keys, 1, work)
            central.start()
        for user, password in users:
            state = work / user
            state.mkdir()
            config = LinkConfig(gate_id=user, host=broker.host, port=broker.port, username=user, password=password,
                                heartbeat=args.heartbeat, keepalive=args.keepalive)
            key = SigningKey(hashlib.sha256(user.encode()).digest())
            links.append(GateLink(config, Outbox(state / "outbox.sqlite3"), key, node_keys=[node], command_keys=[],
                                  state_dir=state))
        measuring = threading.Event()
        profiles: list[cProfile.Profile] = []
        if args.profile:  # every thread the links start, from its first call once the measurement began
            def start_profile(*_a: object) -> None:
                if measuring.is_set():
                    profile = cProfile.Profile(time.thread_time)  # the CPU time of the thread it runs on
                    profiles.append(profile)
                    profile.enable()  # replaces this hook for this thread
            threading.setprofile(start_profile)
        for link in links:
            link.start()
        deadline = time.monotonic() + 60
        while not all(link.is_connected for link in links) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)  # births published, subscriptions acknowledged
        cpu0, sw0, t0 = time.process_time(), switches(), time.monotonic()
        if not args.rate:
            measuring.set()
        time.sleep(args.idle)
        measuring.clear()
        cpu, sw, elapsed = time.process_time() - cpu0, switches(), time.monotonic() - t0
        per = args.links * elapsed
        print(f"{args.links} idle links for {elapsed:.1f} s (heartbeat {args.heartbeat:g} s, keepalive "
              f"{args.keepalive} s): {cpu / per * 1e6:.0f} µs CPU per link-second, "
              f"{(sw[0] - sw0[0]) / per:.2f} voluntary + {(sw[1] - sw0[1]) / per:.2f} involuntary context switches "
              f"per link-second; {threading.active_count()} threads")
        if args.rate:
            idle_cpu = cpu / per
            import random
            rng = random.Random(1)
            emitted = 0
            measuring.set()
            if args.profile:  # this thread's part too: the outbox appends (the screener's commits on a gate)
                sys.setprofile(start_profile)
            cpu0, t0 = time.process_time(), time.monotonic()
            while time.monotonic() - t0 < args.idle:  # as central_bench's live phase: a draw per link every 0.1 s
                for link in links:
                    if rng.random() < args.rate * 0.1:
                        link.outbox.append("decision", uuid.uuid4().hex, b"\x81\xa8decision\xa5CLEAR",
                                           priority=PRIORITY_ROUTINE)
                        link.notify()
                        emitted += 1
                time.sleep(0.1)
            deadline = time.monotonic() + 30
            while any(link.outbox.depth() for link in links) and time.monotonic() < deadline:
                time.sleep(0.05)
            measuring.clear()
            cpu, elapsed = time.process_time() - cpu0, time.monotonic() - t0
            left = sum(link.outbox.depth() for link in links)
            live = (cpu - idle_cpu * args.links * elapsed) / max(1, emitted)
            print(f"live: {emitted} events in {elapsed:.1f} s ({left} not acked): {cpu / (args.links * elapsed) * 1e6:.0f}"
                  f" µs CPU per link-second, {live * 1e6:.0f} µs per event beyond the idle cost")
        if profiles:
            measuring.clear()
            threading.setprofile(None)  # type: ignore[arg-type]
            stats = pstats.Stats(profiles[0])
            for p in profiles[1:]:
                stats.add(p)
            stats.sort_stats("tottime").print_stats(25)
    finally:
        for link in links:
            link.stop(timeout=2.0)
        if central is not None:
            central.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
