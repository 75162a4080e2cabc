"""`sharaka-hitlist`: the central side's hit-list builder and signer (docs/hitlist.md "Tools").

    sharaka-hitlist keygen --out DIR
    sharaka-hitlist certify --keys DIR [--rotate-list-key] [--add-list-key LIST_ID] [--add-command-key [PUB]
                            [--holder NAME]] [--add-alert-key] [--rotate-root] [--revoke KEY_ID]
    sharaka-hitlist build --keys DIR --from RECORDS --list-id ID --version N --out FILE [--base OLD]
    sharaka-hitlist delta --keys DIR --from OLD --to NEW --out FILE
    sharaka-hitlist head --keys DIR --list FILE --out FILE
    sharaka-hitlist verify FILE --root-pub FILE
    sharaka-hitlist inspect FILE
    sharaka-hitlist lookup FILE (--document STATE NUMBER | --person SURNAME GIVEN BIRTH | --vin VIN)

Key files are written 0600 and never overwritten; ``--out`` replaces only an earlier snapshot, delta or
head, never an input. Every command takes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import msgpack
from nacl.signing import SigningKey

from agent import keys as keyfiles
from agent.durable import atomic_write
from agent.errors import AgentError, UsageError, command_path, run_command
from agent.hitlist import names
from agent.hitlist.fingerprint import (
    check_birth_date,
    document_fingerprint,
    person_fingerprint,
    vehicle_fingerprint,
)
from agent.hitlist.format import HEADER, KINDS, MAGIC, unpack_frame
from agent.hitlist.limits import DEFAULT_LIMITS
from agent.hitlist.records import RecordsReader
from agent.hitlist.trust import Keyring, verify_keyring
from agent.hitlist.verify import verify_list
from agent.keys import list_key_id, read_public_key
from tools.hitlist.build import (
    DEFAULT_PERSON_COST,
    Signer,
    build_delta,
    build_head,
    build_keyring,
    build_snapshot,
    entries_from_records,
    new_fingerprint_keys,
    read_list,
)

DAY = 86400.0


class KeyDirError(AgentError, ValueError):
    """The keys directory is missing a key or would have a key overwritten."""


def _new_key(directory: Path, stem: str) -> SigningKey:
    """A new key pair ``stem.key`` (0600) / ``stem.pub``, hex; never overwrites (KeyFileError)."""
    return keyfiles.generate(directory / f"{stem}.key", pub_path=directory / f"{stem}.pub", encoding="hex",
                             exclusive=True)


def _write_keyring(directory: Path, blob: bytes, version: int) -> None:
    (directory / "keyrings").mkdir(exist_ok=True)
    try:
        atomic_write(directory / "keyrings" / f"{version:06d}.bin", blob, mode=0o644, exclusive=True)
    except FileExistsError as exc:
        raise KeyDirError(f"keyring {exc.filename!r} exists: refusing to overwrite a published keyring") from exc
    atomic_write(directory / "keyring.bin", blob, mode=0o644)


class KeyDir:
    """A central keys directory: root keys, list/command keys, the current keyring and its history."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not (self.path / "keyring.bin").exists():
            raise KeyDirError(
                f"{str(self.path)!r} has no keyring.bin: run `sharaka-hitlist keygen --out DIR` first"
            )
        self.blob = (self.path / "keyring.bin").read_bytes()
        self.meta = msgpack.unpackb(unpack_frame(self.blob, DEFAULT_LIMITS).signed, raw=False)
        self.keys = {}
        for f in self.path.glob("*.key"):
            key = keyfiles.load_signing_key(f)
            self.keys[bytes(key.verify_key)] = key

    def signing_key(self, role: str, list_id: str | None = None) -> SigningKey:
        """The private key of a ``role`` key the keyring certifies; for a list: the key scoped to ``list_id``
        first (``certify --add-list-key``), else an unscoped list key (one that may sign any list)."""
        usable = [g for g in self.meta["keys"] if role in g["roles"] and g["pub"] in self.keys
                  and list_key_id(g["pub"]) not in self.meta["revoked"]]
        scoped = [g for g in usable if list_id is not None and list_id in g.get("lists", [])]
        anyone = [g for g in usable if not g.get("lists")]
        for grant in scoped or anyone:
            return self.keys[grant["pub"]]
        what = f"{role!r} key" + (f" for list {list_id!r}" if list_id else "")
        raise KeyDirError(f"no private key in {str(self.path)!r} for a {what} certified by the keyring")

    def signer(self, list_id: str | None = None) -> Signer:
        """The list signer for ``list_id`` (its own key when it has one)."""
        return Signer(self.signing_key("list", list_id), self.blob, self.meta["epoch"])

    def root_signers(self) -> list[SigningKey]:
        return [self.keys[p] for p in self.meta["root_keys"] if p in self.keys]


def _grant(key: SigningKey, roles: list[str], now: float, days: float) -> dict:
    return _grant_pub(bytes(key.verify_key), roles, now, days)


def _grant_pub(pub: bytes, roles: list[str], now: float, days: float) -> dict:
    return {
        "pub": pub,
        "roles": roles,
        "not_before": now - 60,
        "not_after": now + days * DAY,
    }


# --- commands -----------------------------------------------------------------------------------


def cmd_keygen(args, now: float) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("root.key", "list-1.key", "keyring.bin"):
        if (out / name).exists():
            raise KeyDirError(f"{str(out / name)!r} exists: refusing to overwrite keys")
    root = _new_key(out, "root")
    lst = _new_key(out, "list-1")
    blob = build_keyring(
        version=1, root_keys=[bytes(root.verify_key)], threshold=1, epoch=1,
        grants=[_grant(lst, ["list"], now, args.validity_days)], revoked=[], signers=[root],
    )  # fmt: skip
    _write_keyring(out, blob, 1)
    return {
        "root_pub": str(out / "root.pub"),
        "list_key_id": list_key_id(bytes(lst.verify_key)),
        "keyring_version": 1,
        "epoch": 1,
    }


def cmd_certify(args, now: float) -> dict:
    """Issue keyring v+1: rotate the list key (epoch + 1), add a command key, revoke, or rotate the root."""
    kd = KeyDir(args.keys)
    if not (args.rotate_list_key or args.add_list_key or args.add_command_key is not None or args.add_alert_key
            or args.revoke or args.rotate_root):  # a published keyring is never overwritten: no empty ones
        raise UsageError("nothing to certify: give --rotate-list-key, --add-list-key, --add-command-key, "
                         "--add-alert-key, --revoke or --rotate-root")
    meta = kd.meta
    version, epoch = meta["version"] + 1, meta["epoch"]
    grants, revoked, roots = list(meta["keys"]), list(meta["revoked"]), list(meta["root_keys"])
    signers = kd.root_signers()
    if args.rotate_list_key:
        epoch += 1
        revoked += [list_key_id(g["pub"]) for g in grants if "list" in g["roles"]]
        scopes = [g["lists"] for g in grants if "list" in g["roles"] and g.get("lists")]
        grants = [g for g in grants if "list" not in g["roles"]]
        grants.append(_grant(_new_key(kd.path, f"list-{epoch}"), ["list"], now, args.validity_days))
        for scope in scopes:  # every list with its own key gets a new own key
            grants.append({**_grant(_new_key(kd.path, f"list-{scope[0]}-{epoch}"), ["list"], now,
                                    args.validity_days), "lists": scope})
    for list_id in args.add_list_key:
        _check_list_id(list_id)
        grants.append({**_grant(_new_key(kd.path, f"list-{list_id}-{version}"), ["list"], now, args.validity_days),
                       "lists": [list_id]})
    if args.add_command_key is not None:
        # a holder's own public key (the private key never leaves them), or a new pair kept in the keys dir
        pub = read_public_key(args.add_command_key) if args.add_command_key else bytes(
            _new_key(kd.path, f"command-{version}").verify_key)
        if any(g["pub"] == pub for g in grants):
            raise KeyDirError(f"command key {list_key_id(pub)} is already certified")
        grant = _grant_pub(pub, ["command"], now, args.validity_days)
        grant["holder"] = args.holder or (Path(args.add_command_key).stem if args.add_command_key else list_key_id(pub))
        grants.append(grant)
    if args.add_alert_key:  # the centre's early-warning key (docs/protocol.md "Early warnings")
        grants.append(_grant(_new_key(kd.path, f"alert-{version}"), ["alert"], now, args.validity_days))
    for kid in args.revoke:
        if kid not in {list_key_id(g["pub"]) for g in grants}:  # a typo would publish a keyring revoking nothing
            raise KeyDirError(f"--revoke {kid!r}: no key with this id is certified by the keyring")
        revoked.append(kid)
        grants = [g for g in grants if list_key_id(g["pub"]) != kid]
    if args.rotate_root:
        new_root = _new_key(kd.path, f"root-{version}")
        roots = [bytes(new_root.verify_key)]
        signers = signers + [new_root]
    blob = build_keyring(
        version=version,
        root_keys=roots,
        threshold=1,
        epoch=epoch,
        grants=grants,
        revoked=revoked,
        signers=signers,
    )
    verify_keyring(blob, _keyring_chain(kd.path), DEFAULT_LIMITS)  # refuse to publish what gates would refuse
    _write_keyring(kd.path, blob, version)
    return {
        "keyring_version": version,
        "epoch": epoch,
        "keys": [list_key_id(g["pub"]) for g in grants],
        "revoked": revoked,
    }


def _check_list_id(list_id: str) -> str:
    """``list_id`` if it is a valid list id (agent.protocol.ids); KeyDirError otherwise."""
    from agent.protocol import ids

    if not ids.is_id(list_id):
        raise KeyDirError(f"list id {list_id!r}: expected {ids.ID_FORM}")
    return list_id


def _keyring_chain(keys_dir: Path) -> Keyring:
    """The keyring a gate pinned to root.pub ends up trusting after every published keyring."""
    keyring = Keyring.pinned(read_public_key(keys_dir / "root.pub"))
    for path in sorted((keys_dir / "keyrings").glob("*.bin")):
        keyring = verify_keyring(path.read_bytes(), keyring, DEFAULT_LIMITS)
    return keyring


def _progress(enabled: bool):
    if not enabled:
        return None

    def show(n: int) -> None:
        print(f"\r  {n:,} records", end="", file=sys.stderr, flush=True)

    return show


def cmd_build(args, now: float) -> dict:
    kd = KeyDir(args.keys)
    previous = None
    if args.base:
        previous, _, _ = read_list(Path(args.base).read_bytes())
        fp_keys = previous.fp_keys
    else:
        fp_keys = new_fingerprint_keys(args.person_cost)
    show = _progress(not args.json and sys.stderr.isatty() or args.progress)
    records = RecordsReader.open(args.source, args.format)
    kinds: set[object] = set()

    def noted(rows):  # the kinds listed: a list without persons says so, and gates skip the person keys
        for row in rows:
            kinds.add(row.get("kind"))
            yield row

    with records.located():  # a bad record is named by file and line
        entries = entries_from_records(noted(records), fp_keys, progress=show)
    if show:
        print(file=sys.stderr)
    if not entries and not args.allow_empty:  # published, it would empty every gate's list at once
        raise UsageError(f"{args.source!r:.200} holds no record: a list of 0 entries clears every gate that "
                         "installs it; give --allow-empty if that is meant; nothing was written")
    blob = build_snapshot(
        entries, signer=kd.signer(args.list_id), list_id=args.list_id, version=args.version, fp_keys=fp_keys,
        created=now, expires=now + args.expires_days * DAY, previous=previous, persons="person" in kinds,
    )  # fmt: skip
    _write_output(args.out, blob, args.source, args.base)
    return {"out": args.out, "entries": len(entries), "version": args.version, "bytes": len(blob)}


def cmd_delta(args, now: float) -> dict:
    kd = KeyDir(args.keys)
    old = Path(args.old).read_bytes()
    blob = build_delta(old, Path(args.new).read_bytes(), signer=kd.signer(read_list(old)[0].list_id), created=now)
    _write_output(args.out, blob, args.old, args.new)
    meta, adds, removes = read_list(blob)
    return {
        "out": args.out,
        "base_version": meta.base_version,
        "version": meta.version,
        "adds": len(adds),
        "removes": len(removes),
    }


def cmd_head(args, now: float) -> dict:
    kd = KeyDir(args.keys)
    meta, _, _ = read_list(Path(args.list).read_bytes())
    blob = build_head(meta, signer=kd.signer(meta.list_id), issued=now, expires=now + args.valid_minutes * 60)
    _write_output(args.out, blob, args.list)
    return {"out": args.out, "version": meta.version, "expires": now + args.valid_minutes * 60}


def cmd_verify(args, now: float) -> dict:
    keyring = Keyring.pinned(read_public_key(args.root_pub))
    for path in args.keyring:
        keyring = verify_keyring(Path(path).read_bytes(), keyring, DEFAULT_LIMITS)
    v = verify_list(
        Path(args.file).read_bytes(), keyring=keyring, installed=None, now=now, limits=DEFAULT_LIMITS
    )
    return {"ok": True, **_meta_dict(v.meta)}


def _meta_dict(meta) -> dict:
    return {
        "kind": meta.kind, "list_id": meta.list_id, "epoch": meta.epoch, "version": meta.version,
        "base_version": meta.base_version, "count": meta.count, "adds": meta.adds, "removes": meta.removes,
        "created": meta.created, "expires": meta.expires, "key_id": meta.key_id, "reasons": list(meta.reasons),
        "name_key_version": meta.name_key_version, "person_cost": meta.fp_keys.person_cost,
        "state_hash": meta.state_hash.hex(), "content_hash": meta.content_hash.hex(),
    }  # fmt: skip


def cmd_inspect(args, now: float) -> dict:
    data = Path(args.file).read_bytes()
    frame = unpack_frame(data, DEFAULT_LIMITS)
    if frame.kind in ("snapshot", "delta"):
        return _meta_dict(read_list(data)[0])
    meta = msgpack.unpackb(frame.signed, raw=False)
    return {
        k: (v.hex() if isinstance(v, bytes) else v) for k, v in meta.items() if k not in ("root_keys", "keys")
    }


def cmd_lookup(args, now: float) -> dict:
    meta, entries, _ = read_list(Path(args.file).read_bytes())
    if args.document:
        fps, kind = [document_fingerprint(meta.fp_keys, *args.document)], "document"
    elif args.vin is not None:  # an empty --vin '' is a bad VIN (exit 2), not "no --vin"
        fps, kind = [vehicle_fingerprint(meta.fp_keys, args.vin)], "vehicle"
    else:
        surname, given, birth = args.person
        check_birth_date(birth)  # 991399 answered "no hit"
        fps = [person_fingerprint(meta.fp_keys, k, birth) for k, _ in names.query_name_keys(surname, given)]
        kind = "person"
    for fp in fps:
        i = int(entries.fp.searchsorted(entries.fp.dtype.type(fp)))
        if i < len(entries) and int(entries.fp[i]) == fp:
            return {
                "hit": True,
                "kind": kind,
                "reason": entries.reason_at(i),
                "ref": entries.ref_at(i),
                "list_version": meta.version,
            }
    return {"hit": False, "kind": kind, "reason": None, "ref": None, "list_version": meta.version}


def _write_output(path: str, blob: bytes, *inputs: str | None) -> None:
    """Write a list file (durably). It may replace an earlier snapshot, delta or head, never one of the command's
    ``inputs`` or another file: an ``--out`` slip (``keys/root.key``, the records) would destroy what cannot be
    rebuilt."""
    out = Path(path)
    if out.is_file():
        if any(name and Path(name).exists() and out.samefile(name) for name in inputs):
            raise UsageError(f"--out {path!r} is also an input of this command: give another file")
        with out.open("rb") as f:
            magic, _fmt, kind, _ = HEADER.unpack(f.read(HEADER.size).ljust(HEADER.size, b"\0"))
        if magic != MAGIC or KINDS.get(kind) not in ("snapshot", "delta", "head"):
            raise UsageError(f"--out {path!r} exists and is not a snapshot, delta or head: refusing to replace it")
    atomic_write(out, blob, mode=0o644)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharaka-hitlist", description="Build and sign Sharaka Gate hit-lists"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=func)
        return p

    p = add("keygen", cmd_keygen, "create a root key and a list-signing key certified by it")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--validity-days", type=float, default=365.0)
    p = add("certify", cmd_certify, "publish the next keyring (rotate, add or revoke keys)")
    p.add_argument("--keys", required=True, metavar="DIR")
    p.add_argument("--rotate-list-key", action="store_true", help="new list key, old one revoked, epoch + 1")
    p.add_argument("--add-list-key", action="append", default=[], metavar="LIST_ID",
                   help="certify a new list key that signs only list LIST_ID (each list its own signing key)")
    p.add_argument("--add-command-key", nargs="?", const="", metavar="PUBFILE",
                   help="certify a command key: a holder's public key file, or without a file a new pair here")
    p.add_argument("--add-alert-key", action="store_true",
                   help="certify a new key that signs early warnings (alerts) to the gates")
    p.add_argument("--holder", help="who holds the command key (two signatures count only from two holders); "
                                    "default: the public key file's name")
    p.add_argument(
        "--rotate-root", action="store_true", help="new root key, signed by the old and the new root"
    )
    p.add_argument("--revoke", action="append", default=[], metavar="KEY_ID")
    p.add_argument("--validity-days", type=float, default=365.0)
    p = add("build", cmd_build, "sign a snapshot from JSON Lines or CSV records")
    p.add_argument("--keys", required=True, metavar="DIR")
    p.add_argument("--from", dest="source", required=True, metavar="RECORDS")
    p.add_argument("--format", choices=("auto", "jsonl", "csv"), default="auto")
    p.add_argument("--list-id", required=True)
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument(
        "--base", metavar="OLD", help="previous snapshot: reuse its fingerprint keys and chain from it"
    )
    p.add_argument("--expires-days", type=float, default=7.0)
    p.add_argument("--allow-empty", action="store_true",
                   help="sign a list of no entries (refused otherwise: it clears every gate that installs it)")
    p.add_argument(
        "--person-cost", type=int, default=DEFAULT_PERSON_COST, help="PBKDF2 iterations on the person path"
    )
    p.add_argument(
        "--progress", action="store_true", help="show a progress counter even when not on a terminal"
    )
    p = add("delta", cmd_delta, "sign a delta between two snapshots")
    p.add_argument("--keys", required=True, metavar="DIR")
    p.add_argument("--from", dest="old", required=True, metavar="OLD")
    p.add_argument("--to", dest="new", required=True, metavar="NEW")
    p.add_argument("--out", required=True, metavar="FILE")
    p = add("head", cmd_head, "sign a short-lived freshness head for a list file")
    p.add_argument("--keys", required=True, metavar="DIR")
    p.add_argument("--list", required=True, metavar="FILE")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--valid-minutes", type=float, default=60.0)
    p = add("verify", cmd_verify, "verify a list file as a freshly provisioned gate would")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--root-pub", required=True, metavar="FILE")
    p.add_argument(
        "--keyring",
        action="append",
        default=[],
        metavar="FILE",
        help="keyrings published since keygen, in order",
    )
    p = add("inspect", cmd_inspect, "print a file's metadata")
    p.add_argument("file", metavar="FILE")
    p = add("lookup", cmd_lookup, "look an identifier up in a list file")
    p.add_argument("file", metavar="FILE")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--document", nargs=2, metavar=("STATE", "NUMBER"))
    group.add_argument("--person", nargs=3, metavar=("SURNAME", "GIVEN_NAMES", "BIRTH_DATE"))
    group.add_argument("--vin")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``sharaka-hitlist`` command; errors as in docs/adr/0001-errors.md."""
    args = build_parser().parse_args(argv)
    return run_command("sharaka-hitlist", command_path(args), lambda: _run(args))


# Lifetimes a key or a list is signed for: a NaN would never expire, a negative one is expired when written.
LIFETIMES = ("validity_days", "expires_days", "valid_minutes")


def _run(args: argparse.Namespace) -> int:
    for name in LIFETIMES:
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"--{name.replace('_', '-')} {value!r}: expected a positive number")
    result = args.func(args, time.time())
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
