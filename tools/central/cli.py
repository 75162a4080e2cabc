"""`sharaka-central`: the reference central node an operator runs (docs/protocol.md "Central node").

    sharaka-central keygen --out keys/                      # node key + command keys (pin the .pub on gates)
    sharaka-central enrol --db central.db --gate gate-1 --pub gate-1/device.key.pub
    sharaka-central run --db central.db --keys keys/ --port 1883 --username central --password-file pw
    sharaka-central cmd --db central.db --keys keys/ ... --gate gate-1 --op pulse_relay --args '{"seconds": 2}'
    sharaka-central enrol --db central.db --gate gate-1 --pub new.pub --replace --reason "unit stolen, rebuilt"
    sharaka-central gates|events|keys --db central.db [--json]

Exit codes (docs/adr/0001-errors.md): 0 done, 1 a command was rejected or timed out, 2 bad arguments or
files, 4 the broker cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from agent.errors import BadDataError, TransportError, command_path, run_command
from agent.protocol import keys as keyfiles
from tools.central.hitlists import DocumentRecords, HitListServer
from tools.central.node import CentralConfig, CentralNode
from tools.central.store import CentralStore

COMMAND_KEY_GLOB = "command-*.key"


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--username", default="central")
    p.add_argument("--password-file", type=Path, metavar="FILE", help="file holding the broker password")
    p.add_argument("--ca", metavar="FILE", help="CA file of the broker (TLS)")
    p.add_argument("--cert", metavar="FILE", help="client certificate (TLS)")
    p.add_argument("--key", dest="tls_key", metavar="FILE", help="client certificate key (TLS)")
    p.add_argument("--keys", type=Path, required=True, metavar="DIR", help="directory made by `keygen`")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sharaka-central", description="Sharaka Gate reference central node")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="create the node key and command keys")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--command-keys", type=int, default=3)
    p = sub.add_parser("enrol", help="register a gate's device public key")
    p.add_argument("--db", type=Path, required=True, metavar="FILE")
    p.add_argument("--gate", required=True)
    p.add_argument("--pub", required=True, metavar="FILE", help="32-byte public key file, or 64 hex digits")
    p.add_argument("--replace", action="store_true",
                   help="re-enrol a gate (compromised, rebuilt) with a new key: the old key is refused at once")
    p.add_argument("--reason", default="", help="why the key is replaced (required with --replace; recorded)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("run", help="accept events, ack after commit, show gates and hits live")
    p.add_argument("--db", type=Path, required=True, metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until ^C)")
    p.add_argument("--lists", type=Path, metavar="DIR", help="hit-list directory: LISTS/{list_id}/ files + head, re-read every 2 s")
    p.add_argument("--records", type=Path, metavar="FILE", help="JSON Lines document records answering online queries")
    _broker_args(p)
    p = sub.add_parser("cmd", help="send a signed command and wait for its result")
    p.add_argument("--db", type=Path, required=True, metavar="FILE")
    p.add_argument("--gate", required=True)
    p.add_argument("--op", required=True)
    p.add_argument("--args", default="{}", help="JSON object")
    p.add_argument("--ttl", type=float, default=300.0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", action="store_true")
    _broker_args(p)
    for name in ("gates", "events", "keys"):
        p = sub.add_parser(name, help="list the device-key history (enrolments, rotations, replacements with their"
                           " reasons)" if name == "keys" else f"list stored {name}")
        p.add_argument("--db", type=Path, required=True, metavar="FILE")
        p.add_argument("--json", action="store_true")
        if name in ("events", "keys"):
            p.add_argument("--gate")
            p.add_argument("--hits", action="store_true")
    return parser


def _emit(obj: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(obj, default=str) if as_json else text, flush=True)


def _node(args: argparse.Namespace, store: CentralStore, on_update: Any = None) -> CentralNode:
    node_key = keyfiles.load_signing_key(args.keys / "node.key")
    cmd_keys = [keyfiles.load_signing_key(p) for p in sorted(args.keys.glob(COMMAND_KEY_GLOB))]
    password = args.password_file.read_text().strip() if args.password_file else None
    cfg = CentralConfig(host=args.host, port=args.port, username=args.username, password=password,
                        ca_file=args.ca, cert_file=args.cert, key_file=args.tls_key)
    return CentralNode(cfg, store, node_key, cmd_keys, on_update=on_update)


def cmd_keygen(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    names = ["node.key", *(f"command-{i}.key" for i in range(1, args.command_keys + 1))]
    for name in names:  # never replace a key gates already pin
        if (args.out / name).exists() or (args.out / f"{name}.pub").exists():
            raise FileExistsError(17, "refusing to overwrite a key", str(args.out / name))
    keyfiles.generate(args.out / "node.key")
    for i in range(1, args.command_keys + 1):
        keyfiles.generate(args.out / f"command-{i}.key")
    print(f"keys written to {args.out} (pin node.key.pub and command-*.key.pub on the gates)")
    return 0


def cmd_enrol(args: argparse.Namespace) -> int:
    pub = bytes.fromhex(args.pub) if len(args.pub) == 64 and not Path(args.pub).exists() else Path(args.pub).read_bytes()
    store = _store(args.db, create=True)
    new = store.enrol(args.gate, pub, time.time(), replace=args.replace, reason=args.reason)
    what = ("key replaced: " + args.reason) if new and args.replace else "enrolled" if new else \
        "already enrolled with this key"
    _emit({"gate": args.gate, "enrolled": new, "replaced": new and args.replace, "reason": args.reason}, args.json,
          f"gate {args.gate} {what}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    store = _store(args.db, create=True)
    lock = threading.Lock()

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "hit":
            text = f"HIT   {data['gate']:<16} seq={data['seq']} id={data['id']}"
        elif kind == "status":
            if not data["applied"]:
                text = f"      {data['gate']:<16} ignored {data['state']} from old session {data['session']}"
            else:
                text = (f"{'UP' if data['state'] == 'online' else 'DOWN':<5} {data['gate']:<16} session={data['session']}"
                        f" {data['kind']} list={data['list_version']}")
        elif kind == "key":
            text = f"KEY   {data['gate']:<16} {data['kind']} new_key={data['new_key']}"
        elif kind == "cmd_result":
            text = f"CMD   {data['gate']:<16} {data['op']} ok={data['ok']} {data['reason']} {data['detail']}"
        else:
            text = f"REJ   {data['topic']} {data['reason']}: {data['detail']}"
        with lock:
            _emit({"type": kind, **data}, args.json, text)

    node = _node(args, store, show)
    if args.lists:
        node.hitlists = HitListServer(args.lists)
    if args.records:
        node.records = DocumentRecords(args.records)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node.start()
    connected = node.wait_for_connected(10)
    _emit({"type": "broker", "connected": connected, "host": args.host, "port": args.port}, args.json,
          f"broker {args.host}:{args.port} {'connected' if connected else 'not reachable yet (retrying)'}")
    for g in store.gates():
        _emit({"type": "gate", **g}, args.json,
              f"{'UP' if g['online'] else 'DOWN':<5} {g['gate_id']:<16} session={g['session']} list={g['list_version']}")
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if args.lists and node.connected.is_set():
                published = node.poll_hitlists()
                if published:
                    _emit({"type": "heads", "published": published}, args.json, f"published {published} hit-list head(s)")
            stop.wait(2.0 if deadline is None else max(0.0, min(2.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    node.stop()
    s = node.stats
    _emit({"type": "summary", "received": s.received, "stored": s.stored, "duplicates": s.duplicates,
           "rejected": s.rejected}, args.json,
          f"received={s.received} stored={s.stored} duplicates={s.duplicates} rejected={s.rejected}")
    return 0


def cmd_cmd(args: argparse.Namespace) -> int:
    try:
        cmd_args = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise BadDataError(f"--args {args.args!r} is not JSON: {exc}")
    if not isinstance(cmd_args, dict):
        raise BadDataError(f"--args {args.args!r} must be a JSON object")
    store = _store(args.db)
    done = threading.Event()
    result: dict[str, Any] = {}
    sent: list[str] = []

    def on_update(kind: str, data: dict[str, Any]) -> None:
        if kind == "cmd_result" and sent and data["cmd_id"] == sent[0]:
            result.update(data)
            done.set()

    node = _node(args, store, on_update)
    node.start()
    try:
        if not node.wait_for_connected(args.timeout):
            raise TransportError(f"cannot connect to the broker at {args.host}:{args.port}")
        sent.append(node.send_command(args.gate, args.op, cmd_args, ttl=args.ttl))
        if not done.wait(args.timeout):
            _emit({"cmd_id": sent[0], "ok": None, "reason": "timeout"}, args.json,
                  f"command {sent[0]} sent; no result within {args.timeout:g} s")
            return 1
    finally:
        node.stop()
    _emit(result, args.json, f"{args.op} on {args.gate}: ok={result['ok']} {result['reason']} {result['detail']}")
    return 0 if result["ok"] else 1


def _store(path: Path, *, create: bool = False) -> CentralStore:
    """The node's store at ``path``; unless ``create`` (run, enrol), a mistyped --db is an error, not a new
    empty database. Raises FileNotFoundError, or BadDataError naming a file that is not the store."""
    if not create and not path.exists():
        raise FileNotFoundError(2, "no such database", str(path))
    try:
        return CentralStore(path)
    except sqlite3.DatabaseError as exc:
        raise BadDataError(f"--db {str(path)!r}: {exc}") from exc


def cmd_gates(args: argparse.Namespace) -> int:
    for g in _store(args.db).gates():
        pending = f" pending_key={g['pending_key']}" if g["pending_key"] else ""
        _emit(g, args.json, f"{g['gate_id']:<16} {'online' if g['online'] else 'offline':<8} session={g['session']}"
                            f" list={g['list_version']} key={g['device_key']}{pending}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    for k in _store(args.db).key_events(args.gate):
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(k["at"]))
        _emit(k, args.json, f"{at} {k['gate_id']:<16} {k['kind']:<18} {k['old_key'] or '-':<16} -> {k['new_key']}"
                            + (f"  reason: {k['reason']!r}" if k["reason"] else ""))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    for e in _store(args.db).events(args.gate, hits_only=args.hits):
        _emit(e, args.json, f"{e['gate_id']:<16} {'HIT ' if e['is_hit'] else '    '} seq={e['seq']} {e['msg_id']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one ``sharaka-central`` command; errors as in docs/adr/0001-errors.md."""
    args = build_parser().parse_args(argv)
    handler = {"keygen": cmd_keygen, "enrol": cmd_enrol, "run": cmd_run, "cmd": cmd_cmd, "gates": cmd_gates,
               "events": cmd_events, "keys": cmd_keys}[args.command]
    return run_command("sharaka-central", command_path(args), lambda: handler(args))


if __name__ == "__main__":
    sys.exit(main())
