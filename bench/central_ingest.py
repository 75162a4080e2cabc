"""The central worker's cost per event, without the broker's receive side: signed, sealed gate events (as
``GateLink`` publishes them) handed to ``CentralNode._process`` in batches, on SQLite and on PostgreSQL.

    .venv/bin/python bench/central_ingest.py [--gates 2000] [--events 20000] [--batch 500] [--setups sqlite,pg]
    .venv/bin/python bench/central_ingest.py --profile pg      # cProfile (CPU time) of the PostgreSQL run, top 40 by own time
    .venv/bin/python bench/central_ingest.py --batch 5 --setups pg:2,pg:16   # SETUP:N: with PARALLEL_MIN = N

Per setup: events/s through one worker (wall), the worker's own CPU per event (µs, this process), the
database server's CPU per event (PostgreSQL: the backends' CPU from /proc), and a second pass of the same
messages (every one a copy the database refuses, as after a worker was killed before its acks). The worker's
CPU per event is what sets the ingest ceiling: N workers on N free cores take N times as many. Acks are
published to a real Mosquitto, as in production; statements are timed inside the worker.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nacl.signing import SigningKey  # noqa: E402

from agent import keys as keyfiles  # noqa: E402
from agent.protocol import topics  # noqa: E402
from agent.protocol.envelope import seal  # noqa: E402
from agent.screening.events import EventSealer, encode_event, seal_private  # noqa: E402
from bench.procstat import cpu_s  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tools.central import node as central_node  # noqa: E402
from tools.central.node import CentralConfig, CentralNode  # noqa: E402
from tools.central.store import open_store  # noqa: E402
from tools.mosquitto import Broker  # noqa: E402


def gate_key(gate_id: str) -> SigningKey:
    return SigningKey(hashlib.sha256(b"ingest " + gate_id.encode()).digest())


def gate_event(gate_id: str, key: SigningKey, seq: int, hit: bool, sealer: EventSealer) -> tuple[str, bytes]:
    """(topic, wire) of one decision event as a gate's link publishes it: the personal part sealed to the
    centre (``sealer``), the envelope signed by the gate's ``key``; created and sent now."""
    msg_id = uuid.uuid4().hex
    event = seal_private({"v": 2, "type": "decision", "id": msg_id, "gate": gate_id, "seq": seq,
                          "decision": "HIT" if hit else "CLEAR", "reasons": [], "wall": time.time(),
                          "mrz": {"surname": "TRAVELLER", "document_number": f"X{seq:08d}"}}, sealer)
    wire = seal("hit" if hit else "event",
                {"id": msg_id, "ts": time.time(), "gate": gate_id, "seq": seq, "kind": "hit" if hit else "decision",
                 "created": time.time(), "body": encode_event(event)},
                [key])
    return topics.gate(gate_id, topics.HIT if hit else topics.EVENT), wire


def messages(gates: list[str], n: int, node_key: SigningKey) -> list[tuple[str, bytes]]:
    """``n`` events round-robin over ``gates``, each sealed and signed as a gate's link sends it (0.1 % hits)."""
    sealer = EventSealer(node_key.verify_key)
    keys = {g: gate_key(g) for g in gates}
    seqs = dict.fromkeys(gates, 0)
    out = []
    for i in range(n):
        gate_id = gates[i % len(gates)]
        seqs[gate_id] += 1
        out.append(gate_event(gate_id, keys[gate_id], seqs[gate_id], i % 1000 == 999, sealer))
    return out


def run(name: str, db: str, server: list[int], broker: Broker, work: Path, gates: list[str],
        batch: int, n: int, profile: bool) -> dict[str, Any]:
    store = open_store(db)
    now = time.time()
    for gate_id in gates:
        store.enrol(gate_id, bytes(gate_key(gate_id).verify_key), now)
    node_key = keyfiles.generate(work / f"{name}-node.key")
    msgs = messages(gates, n, node_key)
    user, password = broker.central
    node = CentralNode(CentralConfig(port=broker.port, username=user, password=password, client_id=user,
                                     share_group="bench" if name.startswith("pg") else None), store, node_key, [])
    node._client.connect(broker.host, broker.port)
    node._client.loop_start()
    result: dict[str, Any] = {"setup": name}
    prof = cProfile.Profile(time.process_time) if profile else None
    for phase in ("new", "copies"):
        t0, c0, s0 = time.perf_counter(), time.process_time(), sum(cpu_s(p) for p in server)
        if prof:
            prof.enable()
        for i in range(0, n, batch):
            node._process(msgs[i : i + batch])
        if prof:
            prof.disable()
        wall, cpu, srv = time.perf_counter() - t0, time.process_time() - c0, sum(cpu_s(p) for p in server) - s0
        result[phase] = {"events_per_s": n / wall, "worker_us": cpu / n * 1e6, "server_us": srv / n * 1e6}
    result["stored"], result["duplicates"] = node.stats.stored, node.stats.duplicates
    node._client.loop_stop()
    node._client.disconnect()
    store.close()
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(40)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gates", type=int, default=2000)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--setups", default="sqlite,pg",
                    help="sqlite, pg; SETUP:N runs it with tools.central.node.PARALLEL_MIN = N (before/after in one run)")
    ap.add_argument("--profile", default="", help="setup to run under cProfile (sqlite or pg)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sharaka-ingest-"))
    work.chmod(0o755)
    broker = Broker(work / "broker")
    broker.start()
    pg = PostgresCluster(work / "pg")
    gates = [f"ingest-{i:04d}" for i in range(a.gates)]
    default_min = central_node.PARALLEL_MIN
    results = []
    try:
        for k, setup in enumerate(a.setups.split(",")):
            engine, _, parallel_min = setup.partition(":")
            central_node.PARALLEL_MIN = int(parallel_min) if parallel_min else default_min
            if engine == "pg":
                if not pg.data.exists():
                    pg.start()
                pids = [pg._proc.pid] if pg._proc else []
                results.append(run(setup, pg.create_database(f"ingest{k}"), pids, broker, work, gates, a.batch,
                                   a.events, a.profile == setup))
            else:
                results.append(run(setup, str(work / f"central{k}.db"), [], broker, work, gates, a.batch, a.events,
                                   a.profile == setup))
    finally:
        pg.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{a.events:,} events from {a.gates:,} gates in batches of {a.batch}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'setup':<10}{'phase':<8}{'events/s':>10}{'worker µs/ev':>14}{'server µs/ev':>14}")
    for r in results:
        for phase in ("new", "copies"):
            p = r[phase]
            print(f"{r['setup']:<10}{phase:<8}{p['events_per_s']:>10.0f}{p['worker_us']:>14.0f}{p['server_us']:>14.0f}")
    ok = all(r["stored"] == a.events and r["duplicates"] == a.events for r in results)
    print("stored once each, every copy refused" if ok else f"MISMATCH: {results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
