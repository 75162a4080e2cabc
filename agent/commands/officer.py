"""`sharaka-gate officer add|passwd|remove|unlock|list --config FILE`: the officers who may sign in to the screen.

Accounts live in STATE_DIR/officers.sqlite3 (0600; Argon2id hashes, agent/web/accounts.py). A password is
read from the terminal (asked twice) or, when stdin is not a terminal, as its first line; it is never an
argument (arguments show in `ps` and shell history). Works while the agent runs: the agent reads the file
at every sign-in and every request, so a removed officer is signed out at their next request.
Exit 0 done, 2 bad input (unknown or taken name, short password, bad config).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Iterator
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate officer …`` to ``subparsers``."""
    p = subparsers.add_parser("officer", help="manage the officers' accounts of the officer's screen",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="officer_command", required=True, metavar="ACTION")
    for name, helptext, func, takes_name in (
        ("add", "create an account (password from the terminal or stdin)", _add, True),
        ("passwd", "set a new password (also clears a lock-out)", _passwd, True),
        ("remove", "delete an account", _remove, True),
        ("unlock", "clear a lock-out after too many wrong passwords", _unlock, True),
        ("list", "list the accounts", _list, False),
    ):
        q = sub.add_parser(name, help=helptext, description=helptext)
        if takes_name:
            q.add_argument("name", metavar="NAME", help="account name (a-z 0-9 . _ -)")
        if name == "add":
            q.add_argument("--role", default="officer", choices=("officer", "supervisor"), help="default: officer")
        if name == "list":
            q.add_argument("--json", action="store_true", help="one JSON object per account")
        q.add_argument("--config", required=True, metavar="FILE", help="gate config (TOML)")
        q.set_defaults(func=func)


@contextlib.contextmanager
def _accounts(args: argparse.Namespace) -> Iterator[Any]:
    from agent.config import load_config
    from agent.screen import accounts_for

    config = load_config(args.config)
    config.gate.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    accounts = accounts_for(config)
    try:
        yield accounts
    finally:
        accounts.close()


def read_password() -> str:
    """The new password: asked twice on a terminal, else the first line of stdin. Raises ``AccountError``."""
    from agent.web.accounts import AccountError, check_password

    if sys.stdin.isatty():
        first = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != first:
            raise AccountError("the two passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    check_password(first)
    return first


def _add(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        account = accounts.add(args.name, read_password(), args.role)
    print(f"officer {account.name!r} added ({account.role})")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.set_password(args.name, read_password())
    print(f"password of {args.name!r} set")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.remove(args.name)
    print(f"officer {args.name!r} removed")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.unlock(args.name)
    print(f"officer {args.name!r} unlocked")
    return 0


def _list(args: argparse.Namespace) -> int:
    import time

    with _accounts(args) as accounts:
        rows = accounts.list()
    now = time.time()
    for a in rows:
        locked = a.locked_until > now
        if args.json:
            print(json.dumps({"name": a.name, "role": a.role, "created": a.created, "failures": a.failures,
                              "locked": locked}))
        else:
            print(f"{a.name:<32} {a.role:<10} {'locked' if locked else ''}")
    return 0
