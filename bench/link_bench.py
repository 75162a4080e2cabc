"""Link throughput and hit latency: real outbox -> real GateLink -> Mosquitto -> real central node (SQLite).

    python bench/link_bench.py [--events 20000] [--backlog 100000] [--gates 200] [--hits 1000] [--held 0]

1. Sustained events/s from one gate: events appended one durable commit each (as live decisions) while
   the link drains with QoS 1; timed from the first append until the central node has acked the last
   (the gate's outbox is empty). Peer in the same run: a bare paho QoS 1 publisher of the same payloads
   to the same broker, no outbox, no signatures, no central commit (an upper bound). ``--held`` rows the link
   cannot seal are queued first: held back, ahead of every event, for the whole run.
2. Backlog drain: ``--backlog`` events queued while the link is down, then the link starts; time until the
   outbox is empty (every event committed and acked by the centre).
3. Hit alert latency with ``--gates`` gates connected in this process (real GateLink each, own outbox):
   time from just before a hit's outbox commit at a gate to its arrival at the central node, p50/p99/max.

The central node runs in its own process (``sharaka-central run``), as it would on its own machine.

Goals (issue 5): >= 2,000 events/s, 100k backlog <= 60 s, hit latency p99 <= 100 ms with 200 gates.
The broker is a real Mosquitto started by tests/support/broker.py on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack
import paho.mqtt.client as mqtt
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent import keys as keyfiles  # noqa: E402
from agent.link import GateLink, LinkConfig  # noqa: E402
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tools.central.store import CentralStore  # noqa: E402

BODY = msgpack.packb({"decision": "CLEAR", "document": {"issuing_state": "UTO", "format": "TD3"},
                      "reasons": [], "list_version": 42, "pad": "x" * 200})


def wait_until(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class Rig:
    """A central node in its own process (``sharaka-central run``), as in a deployment, and gates here."""

    def __init__(self, root: Path, broker: Broker) -> None:
        self.root = root
        self.broker = broker
        kdir = root / "keys"
        kdir.mkdir()
        self.node_key = keyfiles.generate(kdir / "node.key")
        keyfiles.generate(kdir / "command-1.key")
        self.store = CentralStore(root / "central.db")
        user, pw = broker.central
        (root / "pw").write_text(pw)
        self.central = subprocess.Popen(
            [sys.executable, "-m", "tools.central.cli", "run", "--db", str(root / "central.db"), "--json",
             "--keys", str(kdir), "--port", str(broker.port), "--username", user, "--password-file", str(root / "pw")],
            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.central.stdout is not None
        line = json.loads(self.central.stdout.readline())
        if not line.get("connected"):
            raise SystemExit(f"central node did not connect: {line}")
        threading.Thread(target=self.central.communicate, daemon=True).start()  # drain its console

    def stop(self) -> None:
        self.central.terminate()
        self.central.wait(10)

    def gate(self, gate_id: str, *, start: bool = True) -> tuple[Outbox, GateLink]:
        key = SigningKey.generate()
        self.store.enrol(gate_id, bytes(key.verify_key), time.time())
        user, pw = gate_id, self.broker.credentials[gate_id]  # enrolled before the broker started
        state = self.root / gate_id
        state.mkdir()
        outbox = Outbox(state / "outbox.sqlite3")
        link = GateLink(LinkConfig(gate_id=gate_id, host=self.broker.host, port=self.broker.port, username=user,
                                   password=pw, backoff_min=0.1, backoff_max=1.0, heartbeat=3600),
                        outbox, key, node_keys=[self.node_key.verify_key], command_keys=[], state_dir=state)
        if start:
            link.start()
            link.wait_for_connected(10)
        return outbox, link


def bench_throughput(rig: Rig, n: int, held: int) -> float:
    outbox, link = rig.gate("bench-rate")
    for _ in range(held):  # over the 200 KiB a receiver takes: the link cannot seal them and holds them back
        outbox.append("decision", uuid.uuid4().hex, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
    t0, cpu0 = time.monotonic(), time.process_time()
    for _ in range(n):
        outbox.append("decision", uuid.uuid4().hex, BODY, priority=PRIORITY_ROUTINE)
        link.notify()
    appended = time.monotonic() - t0
    if not wait_until(lambda: outbox.depth() == held, 300):
        raise SystemExit(f"throughput: {outbox.depth() - held} events never acked")
    dt, cpu = time.monotonic() - t0, time.process_time() - cpu0
    link.stop()
    print(f"sustained: {n} events in {dt:.2f} s = {n / dt:,.0f} events/s acked by the centre "
          f"(appending alone: {n / appended:,.0f}/s, one fsync'd commit each; {held} rows held back ahead); "
          f"the gate's CPU {cpu / n * 1e3:.2f} ms per event (appends and link)")
    return n / dt


def bench_peer(broker: Broker, n: int) -> float:
    """Bare paho QoS 1 publish of the same payload size, window 100, to a plain subscriber-less topic."""
    user, pw = "bench-peer", broker.credentials["bench-peer"]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, pw)
    c.max_inflight_messages_set(100)
    done = threading.Event()
    count = [0]

    def on_pub(*_a) -> None:  # type: ignore[no-untyped-def]
        count[0] += 1
        if count[0] == n:
            done.set()

    c.on_publish = on_pub
    c.connect(broker.host, broker.port)
    c.loop_start()
    t0 = time.monotonic()
    for _ in range(n):
        c.publish("sharaka/v1/gates/bench-peer/event", BODY, qos=1)
    done.wait(120)
    dt = time.monotonic() - t0
    c.loop_stop()
    c.disconnect()
    print(f"peer (bare paho QoS 1, no outbox/signature/central commit): {n / dt:,.0f} msg/s")
    return n / dt


def bench_backlog(rig: Rig, n: int) -> float:
    outbox, link = rig.gate("bench-backlog", start=False)
    t0 = time.monotonic()
    for _ in range(n):
        outbox.append("decision", uuid.uuid4().hex, BODY, priority=PRIORITY_ROUTINE)
    print(f"backlog: queued {n} events in {time.monotonic() - t0:.1f} s (link down)")
    t1 = time.monotonic()
    link.start()
    if not wait_until(lambda: outbox.depth() == 0, 600):
        raise SystemExit(f"backlog: {outbox.depth()} left")
    dt = time.monotonic() - t1
    link.stop()
    print(f"backlog: {n} events drained and acked in {dt:.1f} s ({n / dt:,.0f} events/s)")
    return dt


def _fleet_worker(root: str, host: str, port: int, creds: dict[str, str], node_pub: bytes, gate_ids: list[str],
                  rate: float, hits: int, seed: int, ready: Any, go: Any, results: Any) -> None:
    """One process holding a share of the fleet: real GateLinks, each with its own outbox and key."""
    from nacl.signing import VerifyKey

    fleet = []
    for gate_id in gate_ids:
        state = Path(root) / gate_id
        outbox = Outbox(state / "outbox.sqlite3")
        link = GateLink(LinkConfig(gate_id=gate_id, host=host, port=port, username=gate_id, password=creds[gate_id],
                                   backoff_min=0.1, backoff_max=1.0, heartbeat=3600),
                        outbox, SigningKey((state / "device.key").read_bytes()), node_keys=[VerifyKey(node_pub)],
                        command_keys=[], state_dir=state)
        link.start()
        fleet.append((outbox, link))
    connected = sum(link.wait_for_connected(20) for _, link in fleet)
    ready.put(connected)
    go.wait()
    rng = random.Random(seed)
    sent: dict[str, float] = {}
    for _ in range(hits):
        outbox, link = rng.choice(fleet)
        msg_id = uuid.uuid4().hex
        sent[msg_id] = time.time()
        outbox.append("hit", msg_id, BODY, priority=PRIORITY_HIT)
        link.notify()
        time.sleep(rng.expovariate(rate))
    wait_until(lambda: all(o.depth() == 0 for o, _ in fleet), 30)
    results.put(sent)
    for _, link in fleet:
        link.stop()


def bench_hit_latency(rig: Rig, gates: int, hits: int, rate: float, procs: int) -> tuple[float, float]:
    """``gates`` gates over ``procs`` processes (paho's select() caps one process at ~150 links: FD_SETSIZE)."""
    ids = [f"bench-g{i:03d}" for i in range(gates)]
    for gate_id in ids:
        key = SigningKey.generate()
        rig.store.enrol(gate_id, bytes(key.verify_key), time.time())
        (rig.root / gate_id).mkdir()
        (rig.root / gate_id / "device.key").write_bytes(bytes(key))
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [
        ctx.Process(target=_fleet_worker, args=(
            str(rig.root), rig.broker.host, rig.broker.port, rig.broker.credentials,
            bytes(rig.node_key.verify_key), ids[i::procs], rate / procs, hits // procs, i, ready, go, results))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    connected = sum(ready.get(timeout=300) for _ in workers)
    print(f"hit latency: {connected}/{gates} gates connected in {procs} processes")
    go.set()
    sent: dict[str, float] = {}
    for _ in workers:
        sent.update(results.get(timeout=300))
    for w in workers:
        w.join(30)
    received = {e["msg_id"]: e["received"] for e in rig.store.events(hits_only=True)}
    lat = sorted((received[m] - t) * 1000 for m, t in sent.items() if m in received)
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"hit latency over {len(lat)}/{len(sent)} hits from {gates} gates at ~{rate:g} hits/s: "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms (before the gate's commit -> centre received)")
    return p50, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--backlog", type=int, default=100_000)
    ap.add_argument("--gates", type=int, default=200)
    ap.add_argument("--hits", type=int, default=1000)
    ap.add_argument("--held", type=int, default=0, help="rows the link cannot seal (200 KiB) queued ahead of the events")
    ap.add_argument("--hit-rate", type=float, default=50.0, help="hits per second over the whole fleet")
    ap.add_argument("--procs", type=int, default=4, help="processes sharing the simulated fleet")
    ap.add_argument("--dir", type=Path, default=None, help="state directory (default: a temp dir on disk)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        root = Path(tmp)
        broker = Broker(root / "broker")
        for gate_id in ["bench-peer", "bench-rate", "bench-backlog"] + [f"bench-g{i:03d}" for i in range(a.gates)]:
            broker.add_gate(gate_id)  # before start: one password file, no reload per gate
        broker.start()
        try:
            peer = bench_peer(broker, a.events)  # before the central node subscribes
            rig = Rig(root, broker)
            try:
                rate = bench_throughput(rig, a.events, a.held)
                print(f"ratio: link {rate / peer:.2f} x bare paho publish")
                drain = bench_backlog(rig, a.backlog)
                p50, p99 = bench_hit_latency(rig, a.gates, a.hits, a.hit_rate, a.procs)
            finally:
                rig.stop()
            print(f"goals: events/s {rate:,.0f} (>= 2,000: {'met' if rate >= 2000 else 'NOT met'}); "
                  f"{a.backlog} backlog {drain:.1f} s (<= 60 s: {'met' if drain <= 60 else 'NOT met'}); "
                  f"hit p99 {p99:.1f} ms (<= 100 ms: {'met' if p99 <= 100 else 'NOT met'})")
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
