"""A gate process for kill -9 tests: runs the real link over a real outbox and appends events.

Prints ``A <msg_id>`` (flushed) after each append has committed, so the test knows which events a real
gate would have shown on its indicator. ``--count 0`` only drains. With ``--stdin`` it then appends
``N`` more events for each line ``emit N`` it reads (and prints ``OK``), so a test can act between bursts
(step the process's wall clock with tests/faketime.py, for example).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import msgpack
from nacl.signing import SigningKey, VerifyKey

from agent.link import GateLink, LinkConfig
from tests.support.link import PRIORITY_ROUTINE, Outbox


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--gate", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--keepalive", type=int, default=30)
    p.add_argument("--will-delay", type=int, default=30)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--node-pub", required=True)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--interval", type=float, default=0.0)
    p.add_argument("--command-pubs", default="", help="command public keys, hex, comma-separated")
    p.add_argument("--stdin", action="store_true", help="read `emit N` lines after the first burst")
    a = p.parse_args()
    key = SigningKey((a.state / "device.key").read_bytes())
    outbox = Outbox(a.state / "outbox.sqlite3")
    link = GateLink(
        LinkConfig(gate_id=a.gate, host=a.host, port=a.port, username=a.user, password=a.password, backoff_min=0.1,
                   backoff_max=0.5, keepalive=a.keepalive,
                   will_delay=a.will_delay),
        outbox, key, node_keys=[VerifyKey(bytes.fromhex(a.node_pub))], command_keys=[VerifyKey(bytes.fromhex(h)) for h in a.command_pubs.split(",") if h], state_dir=a.state,
    )
    link.start()

    def emit(n: int) -> None:
        for i in range(n):
            msg_id = uuid.uuid4().hex
            outbox.append("decision", msg_id, msgpack.packb({"decision": "CLEAR", "i": i}), priority=PRIORITY_ROUTINE)
            link.notify()
            sys.stdout.write(f"A {msg_id}\n")
            sys.stdout.flush()
            if a.interval:
                time.sleep(a.interval)

    emit(a.count)
    sys.stdout.write("DONE\n")
    sys.stdout.flush()
    if a.stdin:
        for line in sys.stdin:
            if line.startswith("emit "):
                emit(int(line.split()[1]))
                sys.stdout.write("OK\n")
                sys.stdout.flush()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
