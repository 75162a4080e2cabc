"""`sharaka-gate hitlist install|lookup|status|verify`: the gate's hit-list, for provisioning and
for a technician checking a list (docs/hitlist.md "Gate commands").

The pinned root key is copied into the state directory at the first install it verifies (``root.pub``);
later commands read it from there unless ``--root-pub`` is given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from agent.errors import UsageError


def register(subparsers) -> None:
    """Add ``sharaka-gate hitlist`` and its subcommands to ``subparsers``."""
    parser = subparsers.add_parser("hitlist", help="install, check and query the signed hit-list")
    sub = parser.add_subparsers(dest="hitlist_command", required=True, metavar="ACTION")

    def add(name: str, func, help_: str, *, by_config: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--state", required=not by_config, metavar="DIR", help="the gate's hit-list state directory")
        if by_config:
            p.add_argument("--config", metavar="FILE", help="the gate's config: every list it names, by id "
                                                            "(instead of --state)")
        p.add_argument("--root-pub", metavar="FILE", help="pinned root public key (default: DIR/root.pub)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
        return p

    p = add("install", _install, "verify and install a snapshot, delta, keyring or head")
    p.add_argument("file", metavar="FILE", help="snapshot, delta, keyring or head file")
    p = add("lookup", _lookup, "look up a document, person, vehicle or MRZ")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--mrz", nargs="+", metavar="LINE")
    group.add_argument("--document", nargs=2, metavar=("STATE", "NUMBER"))
    group.add_argument("--person", nargs=3, metavar=("SURNAME", "GIVEN_NAMES", "BIRTH_DATE"))
    group.add_argument("--vin")
    add("status", _status, "identity, freshness and size of the installed list (--config: of every list)",
        by_config=True)
    add("verify", _verify, "re-read the installed list and check its signed state hash")


def _open(args):
    from agent.hitlist.store import HitListStore
    from agent.keys import ROOT_PUB, RootPinConflict, pinned_root

    state = Path(args.state)
    if not args.root_pub and not (state / ROOT_PUB).exists():
        raise UsageError(f"no root key pinned in {str(state)!r}: give --root-pub FILE")
    try:
        root = pinned_root(state, args.root_pub)
    except RootPinConflict as exc:
        raise UsageError(str(exc)) from exc
    return HitListStore(state, root)


def _print(args, result: dict) -> None:
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


def _install(args) -> int:
    """Exit 0 installed; a refused file raises HitListRejected (exit 3, the installed list unchanged)."""
    from agent.hitlist.format import unpack_frame
    from agent.keys import pin_root, read_public_key

    blob = _map_file(args.file)  # before the store is touched: a missing file pins nothing
    store = _open(args)
    now = _now(args)
    if len(blob) >= 6 and unpack_frame(blob, store.limits).kind == "head":
        store.accept_head(blob, now=now)
    else:
        store.install(blob, now=now)
    if args.root_pub:  # pinned once a file verified against it: a wrong key (refused, exit 3) is not kept
        pin_root(args.state, read_public_key(args.root_pub))
    _print(args, store.status(now))
    return 0


def _now(args) -> float:
    """The time freshness is judged at: the wall clock, or the gate's trusted time when later (it is in
    ``time.json`` beside the hit-list directory, STATE/hitlist -> STATE/time.json; docs/protocol.md)."""
    from agent.protocol.trusted_time import persisted_screening_time

    return persisted_screening_time(Path(args.state).resolve().parent / "time.json", time.time())


def _map_file(path: str):
    """The file memory-mapped (a 10^8-entry snapshot is not copied into RAM); empty files as bytes."""
    import mmap

    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _lookup(args) -> int:
    """A malformed identifier raises BadDataError (exit 2)."""
    store = _open(args)
    now = _now(args)
    hit, kind = _query(store, args)
    result = {
        "hit": hit is not None and hit.strength == "exact",
        "kind": hit.kind if hit else kind,
        "reason": hit.reason if hit else None,
        "ref": hit.ref if hit else None,
        "strength": hit.strength if hit else None,
        "list_version": store.version,
        "stale": store.is_stale(now),
    }
    _print(args, result)
    return 0


def _check_person(surname: str, given_names: str, birth_date: str) -> None:
    """``--person``: a name with letters and a birth date that can be one; a list holding no persons answers
    "no hit" without looking at them (an impossible 991399 included)."""
    from agent.hitlist import names
    from agent.hitlist.fingerprint import check_birth_date

    names.query_name_keys(surname, given_names)  # NameKeyError (exit 2) for a name without letters
    check_birth_date(birth_date)


def _query(store, args):
    if args.document:
        return store.lookup_document(*args.document), "document"
    if args.vin is not None:  # an empty --vin '' is a bad VIN (exit 2), not "no --vin"
        return store.lookup_vehicle(args.vin), "vehicle"
    if args.person:
        _check_person(*args.person)
        return store.lookup_person(*args.person), "person"
    from agent.mrz import parse_mrz

    mrz = parse_mrz(args.mrz)
    hit = store.lookup_document(mrz.issuing_state, mrz.document_number)
    if hit is None and mrz.birth_date:
        hit = store.lookup_person(mrz.surname, mrz.given_names, mrz.birth_date, truncated=mrz.name_truncated,
                                  issuing_state=mrz.issuing_state)
    return hit, None


def _status(args) -> int:
    if args.config and (args.state or args.root_pub):  # the config names each list's store and root
        raise UsageError("give --state DIR [--root-pub FILE] (one list) or --config FILE (every list), not both")
    if args.config:
        return _status_of_config(args)
    if not args.state:
        raise UsageError("give --state DIR (one list) or --config FILE (every list of the gate)")
    _print(args, _open(args).status(_now(args)))
    return 0


def _status_of_config(args) -> int:
    """Every list the gate's config names ([hitlist] first, then [lists.ID]), by id: the store's status and the
    list's policy, or why it cannot be read (docs/config.md "Several lists"). Exit 1 when a list is missing,
    unreadable or stale."""
    from agent.app import StartupError, list_status, open_lists
    from agent.config import load_config
    from agent.protocol.trusted_time import persisted_screening_time

    config = load_config(args.config)
    now = persisted_screening_time(config.gate.state_dir / "time.json", time.time())
    try:
        sources = open_lists(config)
    except StartupError as exc:
        raise UsageError(str(exc)) from exc
    lists = {}
    for source in sources:
        store_status = getattr(source.hitlist, "status", None)
        one = store_status(now) if callable(store_status) else {}
        lists[source.name] = {**one, **list_status(source, now)}
    result = {"lists": lists}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for name, one in lists.items():
            state = one.get("problem", {}).get("reason") or ("stale" if one.get("stale") else "fresh")
            print(f"{name}: v{one.get('version', 0)} {state}; governs {', '.join(one['policy']['governs'])}; "
                  f"match -> {one['policy']['on_match']}")
    return 1 if any(one.get("problem") or one.get("stale") for one in lists.values()) else 0


def _verify(args) -> int:
    result = _open(args).verify()
    _print(args, result)
    return 0 if result["ok"] else 1
