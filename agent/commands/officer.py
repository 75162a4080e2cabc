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
from collections.abc import Callable, Iterator
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate officer …`` to ``subparsers``."""
    add_account_commands(subparsers, "officer", "manage the officers' accounts of the officer's screen",
                         roles=("officer", "supervisor"), location=("--config", "gate config (TOML)"),
                         open_accounts=_gate_accounts, description=__doc__)


def add_account_commands(subparsers: Any, command: str, helptext: str, *, roles: tuple[str, ...],
                         location: tuple[str, str], open_accounts: Callable[[str, bool], Any],
                         description: str | None = None) -> None:
    """Add ``COMMAND add|passwd|remove|unlock|list LOCATION`` to ``subparsers``: account management of a web
    site built on agent/web (the gate's officers, the centre's operators). ``location`` is the option naming
    where the accounts live (flag, help); ``open_accounts(value, create)`` opens them (``create``: for ``add``,
    which may start a new account file; the other actions need an existing one)."""
    p = subparsers.add_parser(command, help=helptext, description=description or helptext,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest=f"{command}_command", required=True, metavar="ACTION")
    for name, text, func, takes_name in (
        ("add", "create an account (password from the terminal or stdin)", _add, True),
        ("passwd", "set a new password (also clears a lock-out)", _passwd, True),
        ("remove", "delete an account", _remove, True),
        ("unlock", "clear a lock-out after too many wrong passwords", _unlock, True),
        ("list", "list the accounts", _list, False),
    ):
        q = sub.add_parser(name, help=text, description=text)
        if takes_name:
            q.add_argument("name", metavar="NAME", help="account name (a-z 0-9 . _ -)")
        if name == "add":
            q.add_argument("--role", default=roles[0], choices=roles, help=f"default: {roles[0]}")
        if name == "list":
            q.add_argument("--json", action="store_true", help="one JSON object per account")
        q.add_argument(location[0], dest="accounts_at", required=True, metavar="FILE", help=location[1])
        q.set_defaults(func=func, what=command, open_accounts=open_accounts)


def _gate_accounts(config_path: str, _create: bool) -> Any:
    from agent.config import load_config
    from agent.screen import accounts_for

    config = load_config(config_path)
    config.gate.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return accounts_for(config)


@contextlib.contextmanager
def _accounts(args: argparse.Namespace) -> Iterator[Any]:
    accounts = args.open_accounts(args.accounts_at, args.func is _add)
    try:
        yield accounts
    finally:
        accounts.close()


def read_password() -> str:
    """The new password: asked twice on a terminal, else the first line of stdin. Raises ``AccountError``."""
    from agent.web.accounts import AccountError, check_password

    try:
        if sys.stdin.isatty():
            first = getpass.getpass("new password: ")
            if getpass.getpass("again: ") != first:
                raise AccountError("the two passwords differ")
        else:
            first = sys.stdin.readline().rstrip("\r\n")
        first.encode("utf-8")  # undecodable bytes read as surrogates (a POSIX locale) cannot be hashed
    except UnicodeError:
        raise AccountError("the password is not UTF-8 text: type it again, or give it in UTF-8") from None
    check_password(first)
    return first


def _add(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        account = accounts.add(args.name, read_password(), args.role)
    print(f"{args.what} {account.name!r} added ({account.role})")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.set_password(args.name, read_password())
    print(f"password of {args.name!r} set")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.remove(args.name)
    print(f"{args.what} {args.name!r} removed")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    with _accounts(args) as accounts:
        accounts.unlock(args.name)
    print(f"{args.what} {args.name!r} unlocked")
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
