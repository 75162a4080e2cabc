"""An honest gate's hit latency while another enrolled gate floods the centre (issue 8.1/8.5, RELIABILITY 40/44).

    python bench/central_flood.py [--hits 50] [--seconds 10] [--rate 0]

The central node runs in its own process (``sharaka-central run``), the flooding gate in another (poisoned
statuses and events, correctly signed, fields out of range; ``--rate 0`` = as fast as paho publishes), the
honest gate (real outbox, real GateLink) in this one. Prints the honest gate's hit latency (commit at the
gate -> the centre's ack removes it from the outbox) p50 / p99 / max without and with the flood, how many
messages the flooder sent, the rejects the centre counted for it, and whether Mosquitto dropped messages
queued for the centre (its queue overflowed: the flood outran the centre's ingest).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.keys import load_signing_key  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.link import Keys, make_gate  # noqa: E402
from tests.support.rawgate import POISON, RawGate, poisoned  # noqa: E402
from tests.support.wait import wait_until  # noqa: E402
from tools.central.cli import main as central_main  # noqa: E402
from tools.central.store import CentralStore  # noqa: E402


def flood(broker_dir: str, port: int, password: str, seed: bytes, seconds: float, rate: float, out: mp.Queue) -> None:
    from nacl.signing import SigningKey

    class B:  # just what RawGate needs of the broker
        host = "127.0.0.1"

        def add_gate(self, gate_id):
            return gate_id, password

    b = B()
    b.port = port  # type: ignore[attr-defined]
    raw = RawGate(b, "gate-bad", SigningKey(seed))
    msgs = [poisoned(t, over, raw.key) for t, over in POISON.values()]
    sent, start = 0, time.monotonic()
    while time.monotonic() < start + seconds:
        for leaf, wire in msgs:
            raw.publish(leaf, wire)
            sent += 1
        if rate:
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    time.sleep(1.0)
    raw.close()
    out.put(sent)


def latencies(gate, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        gate.emit(1, hit=True)
        if not wait_until(lambda: gate.outbox.depth() == 0, 60, interval=0.001):
            raise SystemExit("a hit was not acked within 60 s")
        out.append(time.monotonic() - t0)
    return out


def show(name: str, xs: list[float]) -> None:
    xs = sorted(xs)
    p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))]
    print(f"{name:<28} p50 {statistics.median(xs) * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms   max {xs[-1] * 1000:8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hits", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=0.0, help="flood messages/s (0: as fast as possible)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="central-flood-"))
    broker = Broker(tmp / "broker")
    broker.start()
    with contextlib.redirect_stdout(io.StringIO()):  # "keys written to ...": a directory removed at the end
        assert central_main(["keygen", "--out", str(tmp / "keys")]) == 0
    keys = Keys(node=load_signing_key(tmp / "keys" / "node.key"),
                commands=[load_signing_key(p) for p in sorted((tmp / "keys").glob("command-*.key"))])
    db = tmp / "central.db"
    store = CentralStore(db)
    seed = os.urandom(32)
    from nacl.signing import SigningKey

    store.enrol("gate-bad", bytes(SigningKey(seed).verify_key), time.time())
    _, bad_password = broker.add_gate("gate-bad")
    (tmp / "pw").write_text(broker.central[1])
    node = subprocess.Popen([sys.executable, "-m", "tools.central.cli", "run", "--db", str(db), "--json",
                             "--keys", str(tmp / "keys"), "--port", str(broker.port), "--username", "central",
                             "--password-file", str(tmp / "pw")], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    # a hit sent before the centre subscribed is lost and only resent after the 30 s ack timeout (in the warm-up)
    assert node.stdout is not None
    if not json.loads(node.stdout.readline()).get("connected"):
        raise SystemExit("central node did not connect")
    threading.Thread(target=node.stdout.read, daemon=True).start()  # drain its console lines
    gate = make_gate(broker, tmp / "honest", keys, "gate-ok", store=store)
    try:
        assert gate.link.wait_for_connected(10)
        latencies(gate, 5)  # warm up
        show("hits, no flood", latencies(gate, args.hits))
        out: mp.Queue = mp.Queue()
        proc = mp.Process(target=flood, args=(str(tmp), broker.port, bad_password, seed, args.seconds, args.rate, out))
        proc.start()
        time.sleep(0.5)
        show("hits, one gate flooding", latencies(gate, args.hits))
        proc.join(args.seconds + 30)
        sent = out.get(timeout=5)
        time.sleep(2.0)
        rejects = store.rejects_by_gate()
        print(f"flooder sent {sent} messages ({sent / args.seconds:,.0f}/s); centre counted for it: "
              f"{rejects.get('gate-bad', {})}; rejects for the honest gate: {rejects.get('gate-ok', {})}")
        drops = [line for line in broker.log_text().splitlines() if "being dropped for client central" in line]
        print(f"Mosquitto dropped messages queued for the centre: {'yes' if drops else 'no'}")
    finally:
        gate.stop()
        node.terminate()
        node.wait(20)
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # its keys, store and broker


if __name__ == "__main__":
    main()
