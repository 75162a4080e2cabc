"""Fleet load: many simulated gates (the real link code, several processes) on one Mosquitto.

    python bench/fleet_load.py [--gates 1000] [--minutes 10] [--period 4] [--procs 8] [--dir /dev/shm]

Each gate is a real ``GateLink`` with its own SQLite outbox (WAL, synchronous=FULL), its device key and a
real hit-list store (snapshot v1 installed through the verifier). Gates are spread over ``--procs``
processes (paho's select() caps one process at ~150 connections). Traffic per gate: a decision every
``--period`` seconds on average (Poisson), its personal fields sealed to the centre as on a real gate;
0.1 % of them are hits (queued at hit priority); a heartbeat every 60 s. Half-way through, a signed
delta v1 -> v2 and its head are dropped into the centre's list directory: the centre announces it and
every gate fetches, verifies and installs it over MQTT. The central node runs in its own process
(``sharaka-central run``, SQLite store), as on its own machine.

Printed: central ingest (events/s over the run), hit latency p50/p99/max (before the gate's commit ->
stored at the centre, and -> the centre's console line for the hit, printed after its commit: what a live
console sees), the time until every gate installed the delta, peak resident memory of the
broker, the centre and the gate processes (per gate), and after the traffic stops and the outboxes
drain: events lost (made at a gate, neither at the centre nor still in its outbox) and duplicated (two rows for one gate and
sequence number) — both must be 0 — and how many were still queued at the gates when the drain time
ended (not lost: they stay in the outbox until the centre acknowledges them). docs/reliability.md "Fleet load" quotes a run.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import io
import json
import multiprocessing as mp
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nacl.signing import SigningKey, VerifyKey  # noqa: E402

from agent import keys as keyfiles  # noqa: E402
from agent.cli import main as gate_cli  # noqa: E402
from agent.hitlist.store import HitListStore  # noqa: E402
from agent.link import GateLink, LinkConfig  # noqa: E402
from agent.link.config import FetchPacing  # noqa: E402
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox  # noqa: E402
from agent.screening.events import EventSealer, encode_event, seal_private  # noqa: E402
from tools.central.store import CentralStore  # noqa: E402
from tools.hitlist_cli import main as hitlist_cli  # noqa: E402
from tools.mosquitto import Broker  # noqa: E402

LIST_ID = "sltd"


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def build_lists(root: Path) -> tuple[Path, Path, Path, Path]:
    """Keys, snapshot v1 (+ head) in the centre's list directory, and delta v1->v2 + its head held back."""
    keys, lists = root / "listkeys", root / "lists" / LIST_ID
    lists.mkdir(parents=True)
    recs = [{"kind": "document", "issuing_state": "UTO", "document_number": f"L{i:08d}", "reason": "stolen",
             "ref": f"r{i}"} for i in range(2000)]
    (root / "v1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (root / "v2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs[100:] + [
        {**r, "document_number": f"N{i:08d}"} for i, r in enumerate(recs[:300])]))
    steps = [
        ["keygen", "--out", str(keys)],
        ["build", "--keys", str(keys), "--from", str(root / "v1.jsonl"), "--list-id", LIST_ID, "--version", "1",
         "--out", str(lists / "v1.list")],
        ["head", "--keys", str(keys), "--list", str(lists / "v1.list"), "--out", str(lists / "head"),
         "--valid-minutes", "120"],
        ["build", "--keys", str(keys), "--from", str(root / "v2.jsonl"), "--list-id", LIST_ID, "--version", "2",
         "--base", str(lists / "v1.list"), "--out", str(root / "v2.list")],
        ["delta", "--keys", str(keys), "--from", str(lists / "v1.list"), "--to", str(root / "v2.list"),
         "--out", str(root / "v1-v2.delta")],
        ["head", "--keys", str(keys), "--list", str(root / "v2.list"), "--out", str(root / "head.v2"),
         "--valid-minutes", "120"],
    ]
    for step in steps:
        with contextlib.redirect_stdout(io.StringIO()):
            ok = hitlist_cli(step)
        if ok != 0:
            raise SystemExit(f"sharaka-hitlist {step[0]} failed")
    return keys / "root.pub", lists, root / "v1-v2.delta", root / "head.v2"


def worker(root: str, port: int, creds: dict[str, str], node_pub: bytes, gate_ids: list[str], period: float,
           hit_share: float, drain: float, seed: int, ready: Any, go: Any, stop: Any, results: Any) -> None:
    """One process holding a share of the fleet."""
    rng = random.Random(seed)
    sealer = EventSealer(VerifyKey(node_pub))
    fleet: list[tuple[str, Outbox, GateLink, HitListStore]] = []
    for gate_id in gate_ids:
        state = Path(root) / "gates" / gate_id
        store = HitListStore(state / "hitlist", (Path(root) / "root.pub").read_bytes())
        outbox = Outbox(state / "outbox.sqlite3")
        link = GateLink(LinkConfig(gate_id=gate_id, port=port, username=gate_id, password=creds[gate_id],
                                   backoff_min=0.5, backoff_max=5.0, heartbeat=60, list_id=LIST_ID),
                        outbox, SigningKey((state / "device.key").read_bytes()), node_keys=[VerifyKey(node_pub)],
                        command_keys=[], state_dir=state / "link", hitlist=store)
        link.start()
        fleet.append((gate_id, outbox, link, store))
    connected = sum(link.wait_for_connected(60) for _, _, link, _ in fleet)
    ready.put((os.getpid(), connected))
    go.wait()
    sent: dict[str, tuple[str, float, bool]] = {}
    installed_at: dict[str, float] = {}
    due = [(time.monotonic() + rng.expovariate(1 / period), i) for i in range(len(fleet))]
    heapq.heapify(due)
    last_check = 0.0
    while not stop.is_set():
        at, i = due[0]
        now = time.monotonic()
        if now - last_check >= 1.0:
            last_check = now
            for gate_id, _, _, store in fleet:
                if gate_id not in installed_at and store.version == 2:
                    installed_at[gate_id] = time.time()
        if at > now:
            stop.wait(min(at - now, 0.2))
            continue
        heapq.heapreplace(due, (at + rng.expovariate(1 / period), i))
        gate_id, outbox, link, _ = fleet[i]
        hit = rng.random() < hit_share
        msg_id = uuid.uuid4().hex
        event = seal_private({"v": 2, "type": "decision", "id": msg_id, "gate": gate_id, "decision": "HIT" if hit
                              else "CLEAR", "reasons": [], "wall": time.time(),
                              "mrz": {"surname": "TRAVELLER", "document_number": f"X{rng.randrange(10**8):08d}"}},
                             sealer)
        sent[msg_id] = (gate_id, time.time(), hit)
        outbox.append("hit" if hit else "decision", msg_id, encode_event(event),
                      priority=PRIORITY_HIT if hit else PRIORITY_ROUTINE)
        link.notify()
    deadline = time.monotonic() + drain
    while time.monotonic() < deadline and any(o.depth() for _, o, _, _ in fleet):
        time.sleep(0.5)
    for gate_id, _, _, store in fleet:
        if gate_id not in installed_at and store.version == 2:
            installed_at[gate_id] = time.time()
    queued = {row.msg_id for _, o, _, _ in fleet for row in o.pending(o.depth() + 1)}
    resent = sum(link.stats.resent for _, _, link, _ in fleet)
    results.put((sent, installed_at, queued, rss_mb(os.getpid()), resent))
    for _, outbox, link, _ in fleet:
        link.stop()
        outbox.close()


def delta_line(late: list[float], gates: int) -> str:
    """The delta's spread to the fleet, without claiming "all" when the run ended before every gate had it: each
    gate starts its fetch at a random moment within ``FetchPacing.spread_s`` of the head, so a short run (the
    documented ``--minutes 1`` gives it 30 s) sees only some."""
    line = f"  list delta v1->v2: {len(late)}/{gates} gates installed it"
    if not late:
        return line + f" before the run ended (each fetches within {FetchPacing.spread_s:g} s of the head: run longer)"
    span = f"{late[-1]:.1f} s of publication (p50 {statistics.median(late):.1f} s)"
    if len(late) == gates:
        return f"{line}; all within {span}"
    return (f"{line} before the run ended (each fetches within {FetchPacing.spread_s:g} s of the head: run longer); "
            f"those within {span}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gates", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--period", type=float, default=4.0, help="mean seconds between passages at one gate")
    ap.add_argument("--hit-share", type=float, default=0.001)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--drain", type=float, default=300.0, help="seconds the gates get to empty their outboxes after")
    ap.add_argument("--dir", type=Path, default=None, help="where the gates' state lives (default: temp on disk)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the broker holds a socket per gate
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        root = Path(tmp)
        root_pub, lists, delta, head2 = build_lists(root)
        (root / "root.pub").write_bytes(keyfiles.read_public_key(root_pub))
        broker = Broker(root / "broker")
        ids = [f"fleet-{i:04d}" for i in range(a.gates)]
        for gate_id in ids:
            broker.add_gate(gate_id)
        kdir = root / "keys"
        kdir.mkdir()
        node_key = keyfiles.generate(kdir / "node.key")
        keyfiles.generate(kdir / "command-1.key")
        store = CentralStore(root / "central.db")
        for gate_id in ids:
            key = SigningKey.generate()
            store.enrol(gate_id, bytes(key.verify_key), time.time())
            state = root / "gates" / gate_id
            state.mkdir(parents=True)
            (state / "device.key").write_bytes(bytes(key))
            with contextlib.redirect_stdout(io.StringIO()):
                ok = gate_cli(["hitlist", "install", str(lists / "v1.list"), "--root-pub", str(root_pub),
                               "--state", str(state / "hitlist")])
            if ok != 0:
                raise SystemExit("installing v1 failed")
        store.close()
        list_user, list_pw = broker.add_central("central-lists")  # list requests on their own connection
        hit_user, _ = broker.add_central("central-hits", list_pw)  # hits on theirs (docs/central.md "The hit lane")
        broker.start()
        user, pw = broker.central
        (root / "pw").write_text(pw)
        (root / "pw-lists").write_text(list_pw)
        central = subprocess.Popen(
            [sys.executable, "-m", "tools.central.cli", "run", "--db", str(root / "central.db"), "--json",
             "--keys", str(kdir), "--port", str(broker.port), "--username", user, "--password-file",
             str(root / "pw"), "--lists", str(root / "lists"), "--list-username", list_user,
             "--list-password-file", str(root / "pw-lists"), "--hit-username", hit_user,
             "--hit-password-file", str(root / "pw-lists")],
            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert central.stdout is not None
        if not json.loads(central.stdout.readline()).get("connected"):
            raise SystemExit("central node did not connect")
        shown: dict[str, float] = {}  # hit id -> when its console line (printed after the commit) was read

        def console() -> None:
            assert central.stdout is not None
            for line in central.stdout:
                with contextlib.suppress(ValueError):
                    item = json.loads(line)
                    if isinstance(item, dict) and item.get("type") == "hit":
                        shown[item["id"]] = time.time()

        threading.Thread(target=console, daemon=True).start()
        ctx = mp.get_context("spawn")
        ready, results, go, stop = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
        workers = [ctx.Process(target=worker, args=(
            str(root), broker.port, broker.credentials, bytes(node_key.verify_key), ids[i::a.procs], a.period,
            a.hit_share, a.drain, i, ready, go, stop, results)) for i in range(a.procs)]
        try:
            for w in workers:
                w.start()
            pids, connected = zip(*(ready.get(timeout=600) for _ in workers), strict=True)
            print(f"fleet: {sum(connected)}/{a.gates} gates connected in {a.procs} processes; running "
                  f"{a.minutes:g} min, a passage every {a.period:g} s per gate, {a.hit_share:.1%} hits")
            peak = {"broker": 0.0, "centre": 0.0, "gates": 0.0}
            counts: list[tuple[float, int]] = []
            db = sqlite3.connect(f"file:{root / 'central.db'}?mode=ro", uri=True, timeout=30)
            go.set()
            t0 = time.monotonic()
            delta_at = None
            while (elapsed := time.monotonic() - t0) < a.minutes * 60:
                if delta_at is None and elapsed >= a.minutes * 30:
                    (lists / "v1-v2.delta").write_bytes(delta.read_bytes())
                    (lists / "head.tmp").write_bytes(head2.read_bytes())
                    os.replace(lists / "head.tmp", lists / "head")
                    delta_at = time.time()
                peak["broker"] = max(peak["broker"], rss_mb(broker.pid or 0))
                peak["centre"] = max(peak["centre"], rss_mb(central.pid))
                peak["gates"] = max(peak["gates"], sum(rss_mb(p) for p in pids))
                counts.append((time.monotonic() - t0, db.execute("SELECT count(*) FROM events").fetchone()[0]))
                time.sleep(5)
            stop.set()
            sent: dict[str, tuple[str, float, bool]] = {}
            installed: dict[str, float] = {}
            queued: set[str] = set()
            resent = 0
            for _ in workers:
                s, inst, q, _rss, again = results.get(timeout=600)
                sent.update(s)
                installed.update(inst)
                queued |= q
                resent += again
            for w in workers:
                w.join(60)
            time.sleep(2)
            rows = {m: (g, s, r) for m, g, s, r in db.execute("SELECT msg_id, gate_id, seq, received FROM events")}
            dup = db.execute("SELECT count(*) - count(DISTINCT gate_id || '/' || seq) FROM events").fetchone()[0]
            refused = dict(db.execute("SELECT reason, SUM(n) FROM rejects GROUP BY reason"))
            db.close()
        finally:
            stop.set()
            for w in workers:
                if w.is_alive():
                    w.terminate()
            central.terminate()
            central.wait(30)
            broker.stop()
    undelivered = [m for m in sent if m not in rows]
    lost = [m for m in undelivered if m not in queued]  # neither at the centre nor still in a gate's outbox
    span = counts[-1][0] - counts[0][0] if len(counts) > 1 else 1.0
    rate = (counts[-1][1] - counts[0][1]) / span if len(counts) > 1 else 0.0
    lat = sorted((rows[m][2] - t) * 1000 for m, (_g, t, hit) in sent.items() if hit and m in rows)
    print(f"  sent {len(sent):,} events ({sum(h for _, _, h in sent.values())} hits); central ingest "
          f"{rate:,.1f} events/s (sustained, sampled every 5 s)")
    if lat:
        print(f"  hit latency p50 {statistics.median(lat):.1f} ms, p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.1f}"
              f" ms, max {lat[-1]:.1f} ms over {len(lat)} hits")
    live = sorted((shown[m] - t) * 1000 for m, (_g, t, hit) in sent.items() if hit and m in shown)
    if live:
        print(f"  hit -> live console line p50 {statistics.median(live):.1f} ms, p99 "
              f"{live[min(len(live) - 1, int(len(live) * 0.99))]:.1f} ms, max {live[-1]:.1f} ms over {len(live)} hits")
    if delta_at is not None:
        print(delta_line(sorted(t - delta_at for t in installed.values()), a.gates))
    slow = sum(x >= 30_000 for x in lat)
    print(f"  events resent by the gates after their ack timeout (30 s, doubling while acks come late): {resent:,}; "
          f"hits stored 30 s or more after "
          f"their commit: {slow}; messages the centre refused or dropped, by reason: {refused or 'none'}")
    print(f"  peak resident memory: broker {peak['broker']:.0f} MiB, centre {peak['centre']:.0f} MiB, gate processes "
          f"{peak['gates']:.0f} MiB ({peak['gates'] / a.gates * 1024:.0f} KiB per gate)")
    print(f"  lost {len(lost)}, duplicated {dup} (must both be 0); not yet delivered when the drain time ended "
          f"(still in gates' outboxes): {len(undelivered) - len(lost)}; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0 if not lost and not dup else 1


if __name__ == "__main__":
    sys.exit(main())
