"""`sharaka-central`: the reference central node an operator runs (docs/protocol.md "Central node").

    sharaka-central keygen --out keys/                      # node key + command keys (pin the .pub on gates)
    sharaka-central enrol --db central.db --gate gate-1 --pub gate-1/device.key.pub
    sharaka-central token --db central.db --gate gate-7 --site port-a --root-pub lists/keys/root.pub   # one-time
    sharaka-central run ... --enrol-ca /etc/sharaka/broker-ca --root-pub root.pub   # answer enrolment requests
    sharaka-central run --db central.db --keys keys/ --port 1883 --username central --password-file pw
    sharaka-central cmd --db central.db --username central-cmd --password-file pw-cmd \
                    --gate gate-1 --op request_status --sign-with alice/command.key
    # a high-impact command: the first holder signs into a file, a second holder reviews, cosigns and sends
    sharaka-central cmd --db central.db --gate gate-1 --op pulse_relay --args '{"seconds": 2}' \
                    --sign-with alice/command.key --out pulse.cmd
    sharaka-central cosign pulse.cmd --db central.db --sign-with bob/command.key --password-file pw-cmd
    sharaka-central enrol --db central.db --gate gate-1 --pub new.pub --replace --reason "unit stolen, rebuilt"
    sharaka-central gates|events|keys --db central.db [--json]
    sharaka-central alert send --db central.db --alert-key hlkeys/alert-2.key --notice "…" --document UTO L898902C3 \
                    --username central-cmd --password-file pw-cmd --wait 30      # an early warning, followed
    sharaka-central alert status [ALERT_ID] --db central.db [--json]
    sharaka-central alert clear ALERT_ID --db central.db --alert-key hlkeys/alert-2.key [--share fed/federation.toml] \
                    --username central-cmd --password-file pw-cmd                 # withdraw it
    sharaka-central operator add amina --role supervisor --accounts operators.sqlite3   # password from the terminal
    sharaka-central console --db central.db --accounts operators.sqlite3 --listen 127.0.0.1:8080 \
                    [--alert-key hlkeys/alert-2.key] [--command-keys DIR] --username central-cmd --password-file pw-cmd
    # federation (docs/central.md "Federation"): share with the region, receive what other centres share
    sharaka-central federation init --out fed/federation.toml --centre ATL        # this centre's key + file
    sharaka-central federation pin --config fed/federation.toml --centre BOR --pub bor-federation.key.pub
    sharaka-central federation run --config fed/federation.toml --db central.db --alert-key hlkeys/alert-2.key \
                    --username central-federation --password-file pw-fed
    sharaka-central alert send ... --share fed/federation.toml          # the alert, and to the region
    sharaka-central federation share --config fed/federation.toml --db central.db --hit EVENT_ID [--personal]
    sharaka-central federation items --db central.db [--config fed/federation.toml --json]

Everything a gate sent is printed through ``tools.central.terminal.escape_controls`` (text) or JSON.

Exit codes (docs/adr/0001-errors.md): 0 done, 1 a command was rejected or timed out, 2 bad arguments or
files, 4 the broker cannot be reached.
"""

from __future__ import annotations

import argparse
import getpass
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent import keys as keyfiles
from agent.arguments import host_port, port, seconds
from agent.durable import atomic_write
from agent.errors import BadDataError, TransportError, UsageError, command_path, run_command
from agent.hitlist.records import RecordsReader
from agent.keys import message_key_id
from agent.protocol.commands import MIN_HIGH_IMPACT_THRESHOLD, OPS, is_high_impact
from agent.protocol.envelope import cosign, peek
from agent.provision.token import format_token
from agent.signals import stop_on
from tools.broker_setup import CertFiles
from tools.central.admission import AdmissionConfig, Rate, default_rates
from tools.central.commander import COMMAND_USER, CommandSender
from tools.central.enrolment import EnrolmentConfig, EnrolmentDesk, issue_token
from tools.central.hitlists import HitListServer
from tools.central.node import CentralConfig, CentralNode, sign_command
from tools.central.online import OnlineLists
from tools.central.store import CentralStore, is_url, open_store, redact
from tools.central.terminal import escape_controls


def _broker_args(p: argparse.ArgumentParser, username: str, *, keys: bool = True) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=1883, help="broker port, 1 to 65535 (default 1883)")
    p.add_argument("--username", default=username, help=f"broker user (default {username}: its own identity)")
    p.add_argument("--password-file", type=Path, metavar="FILE", help="file holding the broker password")
    p.add_argument("--ca", metavar="FILE", help="CA file of the broker (TLS)")
    p.add_argument("--cert", metavar="FILE", help="client certificate (TLS)")
    p.add_argument("--key", dest="tls_key", metavar="FILE", help="client certificate key (TLS)")
    if keys:
        p.add_argument("--keys", type=Path, required=True, metavar="DIR", help="directory made by `keygen`")


def _duration(text: str) -> float:
    """``--duration``: seconds (``agent.arguments.seconds``), 0 for until ^C."""
    return seconds(text, " (0: until ^C)")


def _listen(text: str) -> tuple[str, int]:
    """``--listen``: where the console listens (``agent.arguments.host_port``; port 0: one the system picks)."""
    return host_port(text, free=True, example="127.0.0.1:8080")


def _enrol_broker(text: str) -> tuple[str, int]:
    """``--enrol-broker``: where enrolled gates connect (``agent.arguments.host_port``)."""
    return host_port(text, example="broker.example:8883")


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", "--store", dest="db", required=True, metavar="FILE",
                   help="the central store: an SQLite file (default engine), or postgresql://USER@HOST:PORT/DB")


def _signer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sign-with", action="append", type=Path, default=[], required=True, metavar="KEYFILE",
                   help="this operator's command key (0600, one file per holder); repeat only for keys you hold")
    _db_arg(p)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sharaka-central", description="Sharaka Gate reference central node")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="create the node key and command keys")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--command-keys", type=int, default=3)
    p = sub.add_parser("enrol", help="register a gate's device public key")
    _db_arg(p)
    p.add_argument("--gate", required=True)
    p.add_argument("--pub", required=True, metavar="FILE", help="32-byte public key file, or 64 hex digits")
    p.add_argument("--replace", action="store_true",
                   help="re-enrol a gate (compromised, rebuilt) with a new key: the old key is refused at once")
    p.add_argument("--reason", default="", help="why the key is replaced (required with --replace; recorded)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("token", help="issue a one-time enrolment token for a gate (docs/provisioning.md)")
    _db_arg(p)
    p.add_argument("--gate", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--ttl", type=float, default=86400.0, metavar="SECONDS", help="valid this long (default 1 day)")
    p.add_argument("--replace", metavar="REASON",
                   help="the token may replace the gate's enrolled device key (a new unit for a broken one); recorded")
    p.add_argument("--root-pub", type=Path, metavar="FILE", help="root public key: print its fingerprint to read out")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("run", help="accept events, ack after commit, show gates and hits live")
    _db_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--duration", type=_duration, default=0.0, help="stop after this many seconds (0: until ^C)")
    p.add_argument("--lists", type=Path, metavar="DIR", help="hit-list directory: LISTS/{list_id}/ files + head, re-read every 2 s")
    p.add_argument("--keyrings", type=Path, metavar="DIR",
                   help="keyrings gates may fetch (the `sharaka-hitlist` keys directory's keyrings/: public files only)")
    p.add_argument("--records", type=Path, metavar="FILE", help="JSON Lines records answering online queries as list 'records' (besides LISTS/*/records.jsonl)")
    p.add_argument("--rate", action="append", default=[], metavar="TOPIC=PER_SECOND/BURST",
                   help="a gate's budget on one topic leaf, e.g. hitlist/req=50/200 (repeatable; docs/protocol.md)")
    p.add_argument("--queue-max", type=int, default=AdmissionConfig().queue_max, metavar="N",
                   help="inbound queue bound; when full the node stops reading and the broker holds the rest")
    p.add_argument("--linger", type=_linger, default=CentralConfig.linger, metavar="SECONDS",
                   help="a batch waits this long for more messages once one came (fewer commits; not for a hit)")
    p.add_argument("--gap-grace", type=seconds, default=60.0, metavar="SECONDS",
                   help="report event sequence numbers missing for longer than this")
    p.add_argument("--enrol-ca", type=Path, metavar="DIR",
                   help="broker CA directory (ca.crt, ca.key): answer enrolment requests, signing gates' certificates")
    p.add_argument("--root-pub", type=Path, metavar="FILE", help="with --enrol-ca: the root public key gates pin")
    p.add_argument("--enrol-broker", type=_enrol_broker, metavar="HOST:PORT",
                   help="with --enrol-ca: where enrolled gates connect (default: the host they enrolled through, 8883)")
    p.add_argument("--enrol-list", default="", metavar="ID", help="with --enrol-ca: the list id enrolled gates follow")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes sharing the gate traffic (MQTT 5 shared subscriptions); worker I connects"
                   " as USERNAME-I, each with the same password file (docs/central.md)")
    p.add_argument("--share", metavar="GROUP",
                   help="join the shared subscription group GROUP (default with --workers > 1: sharaka-central);"
                   " run workers on several machines with the same GROUP")
    p.add_argument("--keep-days", type=int, default=0, metavar="DAYS",
                   help="retention: drop events created more than DAYS days ago (0: keep everything)")
    p.add_argument("--list-username", metavar="USER",
                   help="serve hit-list requests on a broker connection of their own as USER (a central-* user;"
                   " worker I: USER-I), so list transfers never wait behind an event backlog (docs/central.md)")
    p.add_argument("--list-password-file", type=Path, metavar="FILE",
                   help="with --list-username: its password file (default: --password-file)")
    p.add_argument("--hit-username", metavar="USER",
                   help="take the gates' hits on a broker connection of their own as USER (a central-* user;"
                   " worker I: USER-I), with its own writer and acks, so a hit never waits behind routine events"
                   " (docs/central.md \"The hit lane\")")
    p.add_argument("--hit-password-file", type=Path, metavar="FILE",
                   help="with --hit-username: its password file (default: --password-file)")
    _broker_args(p, "central")
    p = sub.add_parser("cmd", help="sign a command with your key; send it, or write it for a second holder (--out)")
    p.add_argument("--gate", required=True, help="the enrolled gate that executes it")
    p.add_argument("--op", required=True, choices=OPS, metavar="OP",
                   help=f"what the gate does: {', '.join(OPS)} (docs/protocol.md \"cmd\")")
    p.add_argument("--args", default="{}", help="JSON object")
    p.add_argument("--ttl", type=float, default=300.0, help="seconds the command stays valid (at most 86400)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write the partially signed command here for a second key holder (`cosign`); send nothing")
    _signer_args(p)
    _broker_args(p, COMMAND_USER, keys=False)
    p = sub.add_parser("cosign", help="review a partially signed command, add your signature and send it")
    p.add_argument("file", type=Path, metavar="FILE")
    _signer_args(p)
    _broker_args(p, COMMAND_USER, keys=False)
    p = sub.add_parser("alert", help="issue an early warning to the gates, or show who received and acknowledged it")
    alert = p.add_subparsers(dest="alert_command", required=True, metavar="ACTION")
    p = alert.add_parser("send", help="sign an alert with the alert key and publish it retained; --wait: follow it")
    p.add_argument("--alert-key", type=Path, required=True, metavar="FILE",
                   help="the alert key (`sharaka-hitlist certify --add-alert-key` wrote KEYS/alert-N.key)")
    p.add_argument("--notice", required=True, help="what the officers read (up to 2000 characters)")
    p.add_argument("--severity", choices=("urgent", "warning", "info"), default="urgent")
    p.add_argument("--ttl", type=float, default=3600.0, help="seconds the alert stays in force (at most 30 days)")
    p.add_argument("--site", action="append", default=[], help="only gates of this site (repeatable)")
    p.add_argument("--gate", action="append", default=[], help="only this gate (repeatable)")
    p.add_argument("--listings", type=Path, metavar="RECORDS",
                   help="urgent listings: JSON Lines records as for `sharaka-hitlist build --from`, each optionally "
                        "with \"list\" and \"version\" (the list version that will contain it)")
    p.add_argument("--document", nargs=2, metavar=("STATE", "NUMBER"), help="one urgent document listing")
    p.add_argument("--reason", default="stolen", help="reason of --document")
    p.add_argument("--ref", default="", help="reference of --document")
    p.add_argument("--list", dest="list_id", default="", help="list that will contain --document (with --in-version)")
    p.add_argument("--in-version", type=int, default=0, help="the version of --list that will contain --document")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="then show receipts and acknowledgements as they reach --db (the central node's store)")
    _db_arg(p)
    p.add_argument("--json", action="store_true")
    _broker_args(p, COMMAND_USER, keys=False)
    p.add_argument("--share", type=Path, metavar="FEDERATION_FILE",
                   help="also share the alert with the region, signed by this centre's federation key (docs/central.md)")
    p.add_argument("--operator", metavar="NAME",
                   help="who sends it, as the console's Alerts page and audit log name them (default: your login name)")
    p = alert.add_parser("clear", help="withdraw an alert: its signed clearing replaces it at the broker, and in "
                                       "the region when it was shared")
    p.add_argument("alert_id", metavar="ALERT_ID")
    p.add_argument("--alert-key", type=Path, required=True, metavar="FILE", help="the alert key that issued it")
    p.add_argument("--notice", default="withdrawn", help="why (shown nowhere at the gates; kept in the clearing)")
    _db_arg(p)
    p.add_argument("--json", action="store_true")
    _broker_args(p, COMMAND_USER, keys=False)
    p.add_argument("--share", type=Path, metavar="FEDERATION_FILE",
                   help="the alert was shared: share its clearing too, so the peer centres withdraw it from their gates")
    p = alert.add_parser("status", help="which gates received and acknowledged an alert (from the central store)")
    p.add_argument("alert_id", metavar="ALERT_ID", nargs="?", help="one alert (default: every alert)")
    _db_arg(p)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("console", help="serve the operators' web console (docs/central.md \"Operators' console\")")
    _db_arg(p)
    p.add_argument("--accounts", type=Path, required=True, metavar="FILE",
                   help="the operators' accounts (`sharaka-central operator add`)")
    p.add_argument("--listen", type=_listen, default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="default 127.0.0.1:8080")
    p.add_argument("--https-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate (and --https-key)")
    p.add_argument("--https-key", type=Path, metavar="FILE")
    p.add_argument("--name", action="append", default=[], metavar="HOST",
                   help="a host name operators reach the console by besides the --listen address (its certificate's "
                        "name, a TLS front's name); repeatable. Requests naming another host are refused (421)")
    p.add_argument("--front", metavar="https://NAME[:PORT]",
                   help="the address a TLS front serves the console at (the console on loopback behind it): the "
                        "session cookie is then Secure with the __Host- prefix, HSTS is sent, a form must come from "
                        "that origin, and NAME is one of the console's names")
    p.add_argument("--idle", type=float, default=900.0, metavar="SECONDS", help="sign out after this long idle")
    p.add_argument("--max-failures", type=int, default=5, help="wrong passwords in a row from one client that lock that client out of an account")
    p.add_argument("--lockout", type=float, default=300.0, metavar="SECONDS", help="how long a client stays locked out of an account")
    p.add_argument("--alert-key", type=Path, metavar="FILE", help="the alert key: supervisors may issue alerts")
    p.add_argument("--command-keys", type=Path, metavar="DIR",
                   help="DIR/NAME.key: supervisor NAME's own command key (the second approval needs another's)")
    p.add_argument("--federation", type=Path, metavar="FILE",
                   help="this centre's federation file: supervisors share alerts and hits, officers read shared "
                        "personal hits (docs/central.md \"Federation\")")
    p.add_argument("--duration", type=_duration, default=0.0, help="stop after this many seconds (0: until ^C)")
    _broker_args(p, COMMAND_USER, keys=False)
    _federation_parser(sub)
    for name in ("gates", "events", "keys"):
        p = sub.add_parser(name, help="list the device-key history (enrolments, rotations, replacements with their"
                           " reasons)" if name == "keys" else f"list stored {name}")
        _db_arg(p)
        p.add_argument("--json", action="store_true")
        if name == "gates":
            p.add_argument("--gap-grace", type=seconds, default=60.0, metavar="SECONDS",
                           help="report sequence numbers missing for longer than this")
        if name in ("events", "keys"):
            p.add_argument("--gate", help=f"only this gate's {name}")
        if name == "events":
            p.add_argument("--hits", action="store_true", help="only hits")
    from agent.commands.officer import add_account_commands

    add_account_commands(sub, "operator", "manage the operators' accounts of the web console",
                         roles=("viewer", "officer", "supervisor"),
                         location=("--accounts", "the console's account file (SQLite, 0600)"),
                         open_accounts=_operator_accounts)
    return parser


def _operator_accounts(path: str, create: bool, max_failures: int = 5, lockout_s: float = 300.0) -> Any:
    """The console's account file; unless ``create`` (``operator add``) it must exist (a mistyped path is an
    error, not a new empty file). Raises FileNotFoundError, BadDataError for a file that is not one."""
    from agent.web.accounts import Accounts, LockoutPolicy
    from tools.central.console import ROLES

    if not create and not Path(path).exists():
        raise FileNotFoundError(2, "no such account file", path)
    return Accounts(path, roles=ROLES, policy=LockoutPolicy(max_failures, lockout_s))


def _loopback(host: str) -> bool:
    """True when ``host`` (a --listen host, IPv6 in brackets or not) is this machine's loopback only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the operators' console until ^C, SIGTERM or --duration."""
    from agent.web.server import server_ssl_context
    from tools.central.console import Console, ConsoleConfig

    host, listen_port = args.listen
    from agent.web.hosts import HOST_NAME_FORM, front_origin, host_name, is_host_name

    for name in args.name:
        if not is_host_name(name):
            raise UsageError(f"--name {name!r:.80}: expected {HOST_NAME_FORM}")
    if (args.https_cert is None) != (args.https_key is None):
        raise UsageError("--https-cert and --https-key go together")
    try:
        front = front_origin(args.front) if args.front is not None else ""
    except ValueError as exc:
        raise UsageError(f"--front: {exc}") from None
    if front and args.https_cert is not None:
        raise UsageError("--front is for a console served over plain HTTP on loopback behind a TLS front: "
                         "not with --https-cert")
    if args.https_cert is None and not _loopback(host):  # as the gate's screen: passwords and sessions never in clear
        raise UsageError(f"--listen {host}:{listen_port} is reachable from the network: serve HTTPS there "
                         "(--https-cert and --https-key), or listen on loopback behind a TLS front")
    # the gate's officer screen's floors (agent/config.py [screen]): a NaN idle never signs out, a negative
    # lockout turns it off, a failure count below 1 locks an account at its first wrong password
    for flag, value, least in (("--idle", args.idle, 30), ("--max-failures", args.max_failures, 1),
                               ("--lockout", args.lockout, 1)):
        if not value >= least:
            raise UsageError(f"{flag} {value:g}: expected at least {least}")
    store = _store(args.db)
    accounts = _operator_accounts(str(args.accounts), False, args.max_failures, args.lockout)
    if not accounts.list():
        raise UsageError(f"no account in {str(args.accounts)!r}: add one with "
                         f"`sharaka-central operator add NAME --role supervisor --accounts {args.accounts}`")
    broker = _config(args) if args.alert_key or args.command_keys or args.federation else None
    if args.federation is not None:
        from tools.central.federation import Federation

        Federation.load(args.federation)  # a bad file is refused now, not at the first page
    ssl_context = server_ssl_context(args.https_cert, args.https_key) if args.https_cert else None
    console = Console(ConsoleConfig(store=store, accounts=accounts, broker=broker, alert_key=args.alert_key,
                                    command_keys=args.command_keys, federation=args.federation, idle_s=args.idle,
                                    secure=ssl_context is not None or bool(front), front=front,
                                    names=(*args.name, *([host_name(front[len("https://"):])] if front else []))))
    url = console.start(host.strip("[]"), listen_port, ssl_context)
    _emit({"type": "console", "url": url}, False, f"operators' console at {url}")
    stop = threading.Event()
    with stop_on(stop, signal.SIGTERM):
        try:
            stop.wait(args.duration or None)
        except KeyboardInterrupt:
            pass
        console.stop()
    return 0


def _federation_parser(sub: Any) -> None:
    p = sub.add_parser("federation", help="share alerts and hits with the region; receive what other centres share")
    fed = p.add_subparsers(dest="federation_command", required=True, metavar="ACTION")
    p = fed.add_parser("init", help="create this centre's federation key and federation file (no peers yet)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="the federation file to create (the key is written beside it)")
    p.add_argument("--centre", required=True, help="this centre's id in the region")
    p = fed.add_parser("pin", help="pin a peer centre's federation public key (exchanged out of band)")
    p.add_argument("--config", type=Path, required=True, metavar="FILE")
    p.add_argument("--centre", required=True, help="the peer centre's id")
    p.add_argument("--pub", required=True, metavar="FILE", help="its federation.key.pub, or 64 hex digits")
    p = fed.add_parser("run", help="receive what other centres share: verify, record, re-issue alerts to the gates")
    p.add_argument("--config", type=Path, required=True, metavar="FILE")
    p.add_argument("--alert-key", type=Path, metavar="FILE",
                   help="this centre's alert key: re-issue received alerts to its gates (without it: recorded only)")
    p.add_argument("--site", action="append", default=[],
                   help="re-issue received alerts only to the gates of this site (repeatable; default: all gates)")
    p.add_argument("--duration", type=_duration, default=0.0, help="stop after this many seconds (0: until ^C)")
    p.add_argument("--count", type=int, default=0, metavar="N",
                   help="stop once N items were received and recorded (0: no limit; --duration still bounds the run)")
    p.add_argument("--peer-rate", default="5/100", metavar="PER_SECOND/BURST",
                   help="items per second each peer centre's items are verified at, and the burst (default 5/100)")
    p.add_argument("--peer-queue", type=int, default=1000, metavar="N",
                   help="items of one peer waiting at most; a flood beyond is dropped and counted (default 1000)")
    p.add_argument("--json", action="store_true")
    _db_arg(p)
    _broker_args(p, "central-federation", keys=False)
    p = fed.add_parser("share", help="share one hit with the region (no personal data unless --personal)")
    p.add_argument("--config", type=Path, required=True, metavar="FILE")
    p.add_argument("--hit", required=True, metavar="EVENT_ID", help="the hit event's id (`sharaka-central events --hits`)")
    p.add_argument("--personal", action="store_true",
                   help="include the traveller's data (MRZ, entry, matches; sealed to the peers' keys); never the face")
    p.add_argument("--note", default="", help="the operator's note for the other centres")
    p.add_argument("--ttl", type=float, default=7 * 86400.0, help="seconds the item stays in force (at most 30 days)")
    p.add_argument("--json", action="store_true")
    _db_arg(p)
    _broker_args(p, COMMAND_USER, keys=False)
    p = fed.add_parser("items", help="items shared with the region and received from it, with their origin")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="show each hit's content (with --json), personal data included when sealed to this centre")
    _db_arg(p)
    p.add_argument("--json", action="store_true")


def _emit(obj: dict[str, Any], as_json: bool, text: str | list[str]) -> None:
    """Print one record: JSON (which escapes every control character itself), or ``text`` (a list: one line
    each) with every control, bidi and separator character escaped, so nothing a gate sent can drive the
    operator's terminal (nor start a line of its own)."""
    lines = [text] if isinstance(text, str) else text
    out = json.dumps(obj, default=str) if as_json else "\n".join(map(escape_controls, lines))
    # one write with its newline (print writes the two apart): a line another thread prints meanwhile, the node's
    # events beside the main thread's, cannot land between them and leave two lines that do not parse
    sys.stdout.write(out + "\n")
    sys.stdout.flush()


def _linger(text: str) -> float:
    """``--linger``: 0 to 1 seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 to 1 seconds (a batch's wait for more messages)")
    return value


def _config(args: argparse.Namespace) -> CentralConfig:
    password = args.password_file.read_text().strip() if args.password_file else None
    return CentralConfig(host=args.host, port=args.port, username=args.username, password=password,
                         client_id=args.username, ca_file=args.ca, cert_file=args.cert, key_file=args.tls_key)


def _rate(value: str) -> Rate | None:
    """``PER_SECOND/BURST`` (or ``PER_SECOND``) as a Rate; None unless both are numbers, positive, burst >= 1."""
    per_second, _, burst = value.partition("/")
    try:
        rate = Rate(float(per_second), float(burst or per_second))
    except ValueError:
        return None
    return rate if rate.per_second > 0 and rate.burst >= 1 else None


def _admission(args: argparse.Namespace) -> AdmissionConfig:
    rates = default_rates()
    for spec in args.rate:
        leaf, _, value = spec.partition("=")
        rate = _rate(value)
        if leaf not in rates or rate is None:
            raise BadDataError(f"--rate {spec!r}: expected TOPIC=PER_SECOND/BURST with TOPIC one of {sorted(rates)}"
                               " and positive numbers, e.g. hitlist/req=50/200")
        rates[leaf] = rate
    if args.queue_max < 1:
        raise BadDataError(f"--queue-max {args.queue_max}: expected a positive number of messages")
    return AdmissionConfig(rates=rates, queue_max=args.queue_max)


def _node(args: argparse.Namespace, store: CentralStore, on_update: Any = None) -> CentralNode:
    """The node of ``run``: it signs acks and chunks with node.key and holds no command key."""
    config = _config(args)
    config.admission, config.gap_grace = _admission(args), args.gap_grace
    config.linger = args.linger
    config.share_group, config.keep_days = args.share, args.keep_days
    if args.list_username:
        pw_file = args.list_password_file or args.password_file
        config.list_username = args.list_username
        config.list_password = pw_file.read_text().strip() if pw_file else None
    if args.hit_username:
        pw_file = args.hit_password_file or args.password_file
        config.hit_username = args.hit_username
        config.hit_password = pw_file.read_text().strip() if pw_file else None
    node_key = keyfiles.load_signing_key(args.keys / "node.key")
    return CentralNode(config, store, node_key, [], on_update=on_update)


MAX_COMMAND_KEYS = 32  # the most command keys keygen makes at once (each a supervisor's key pair)


def cmd_keygen(args: argparse.Namespace) -> int:
    if not 0 <= args.command_keys <= MAX_COMMAND_KEYS:  # a huge count would spin, then fill the directory
        raise UsageError(f"--command-keys {args.command_keys}: expected 0 to {MAX_COMMAND_KEYS}")
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
    if len(args.pub) == 64 and not Path(args.pub).exists():
        pub = keyfiles.decode_key(args.pub.encode(), "--pub")
    else:
        pub = keyfiles.read_public_key(args.pub)
    store = _store(args.db, create=True)
    new = store.enrol(args.gate, pub, time.time(), replace=args.replace, reason=args.reason)
    what = ("key replaced: " + args.reason) if new and args.replace else "enrolled" if new else \
        "already enrolled with this key"
    _emit({"gate": args.gate, "enrolled": new, "replaced": new and args.replace, "reason": args.reason}, args.json,
          f"gate {args.gate} {what}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Issue a one-time enrolment token; with --root-pub also the fingerprint the technician compares."""
    store = _store(args.db, create=True)
    now = time.time()
    token = issue_token(store, args.gate, args.site, ttl=args.ttl, now=now, replace_reason=args.replace)
    fp = keyfiles.root_fingerprint(keyfiles.read_public_key(args.root_pub)) if args.root_pub else None
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now + args.ttl))
    text = [f"enrolment token for gate {args.gate} at site {args.site}: {format_token(token)}",
            f"  valid once, until {until}{'; replaces the enrolled unit' if args.replace else ''}"]
    if fp:
        text.append(f"  root key fingerprint to read out to the technician: {fp}")
    _emit({"gate": args.gate, "site": args.site, "token": format_token(token), "token_id": token.token_id,
           "expires": now + args.ttl, "root_fingerprint": fp, "replace": bool(args.replace)}, args.json, text)
    return 0


def _check_enrolment_flags(args: argparse.Namespace) -> None:
    """The desk's settings only count with ``--enrol-ca``: given without it, say so (they were ignored)."""
    given = [flag for flag, value in (("--root-pub", args.root_pub), ("--enrol-broker", args.enrol_broker),
                                      ("--enrol-list", args.enrol_list)) if value]
    if given and args.enrol_ca is None:
        raise UsageError(f"{', '.join(given)} without --enrol-ca DIR: the enrolment desk is off; add --enrol-ca")


def _enrolment(args: argparse.Namespace, store: CentralStore) -> EnrolmentDesk | None:
    if args.enrol_ca is None:
        return None
    if args.root_pub is None:
        raise UsageError("--enrol-ca needs --root-pub FILE: the root key enrolled gates pin")
    host, broker_port = args.enrol_broker or ("", 8883)
    ca = CertFiles(args.enrol_ca / "ca.crt", args.enrol_ca / "ca.key")
    for f in (ca.cert, ca.key):
        f.read_bytes()  # a missing or unreadable CA file is the operator's mistake, said now
    commands = tuple(keyfiles.read_public_key(p) for p in sorted(args.keys.glob("command-*.key.pub")))
    config = EnrolmentConfig(ca=ca, root_pub=keyfiles.read_public_key(args.root_pub), command_pubs=commands,
                             broker_host=host, broker_port=broker_port, list_id=args.enrol_list)
    return EnrolmentDesk(store, keyfiles.load_signing_key(args.keys / "node.key"), config)


MAX_WORKERS = 64  # worker processes one `run` starts on its machine (more machines: run it on each, same --share)


def cmd_run(args: argparse.Namespace) -> int:
    if not 1 <= args.workers <= MAX_WORKERS or args.keep_days < 0:
        raise BadDataError(f"--workers {args.workers} / --keep-days {args.keep_days}: expected N of 1 to "
                           f"{MAX_WORKERS} and DAYS >= 0")
    _check_enrolment_flags(args)
    if args.workers > 1:
        return _supervise(args)
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
        elif kind == "gap":
            text = (f"GAP   {data['gate']:<16} {data['missing']} event sequence number(s) below {data['high']}"
                    " missing" if data["missing"] else f"GAP   {data['gate']:<16} closed")
        else:
            text = f"REJ   {data['gate'] or '?':<16} {data['reason']} x{data['count']}: {data['detail']}"
        with lock:
            _emit({"type": kind, **data}, args.json, text)

    node = _node(args, store, show)
    node.enrolment = _enrolment(args, store)
    if args.lists:
        node.hitlists = HitListServer(args.lists, keyrings=args.keyrings)
    if args.lists or args.records:  # online queries: every list's current records (tools/central/online.py)
        server = node.hitlists
        node.online = OnlineLists(args.lists, extra={"records": args.records} if args.records else None,
                                  published=server.newest if server is not None else lambda _list_id: 0)
    stop = threading.Event()
    with stop_on(stop, signal.SIGTERM):
        node.start()
        connected = node.wait_for_connected(10)
        _emit({"type": "broker", "connected": connected, "host": args.host, "port": args.port}, args.json,
              f"broker {args.host}:{args.port} {'connected' if connected else 'not reachable yet (retrying)'}")
        for g in store.gates(time.time(), args.gap_grace):
            _emit({"type": "gate", **g}, args.json, f"{'UP' if g['online'] else 'DOWN':<5} {_gate_line(g)}")
        deadline = time.monotonic() + args.duration if args.duration else None
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if not connected and node.wait_for_connected(0):  # said "not reachable yet": now it is
                    connected = True
                    _emit({"type": "broker", "connected": True, "host": args.host, "port": args.port}, args.json,
                          f"broker {args.host}:{args.port} connected")
                if (args.lists or args.records) and node.connected.is_set():
                    published = node.poll_hitlists()
                    if published:
                        _emit({"type": "heads", "published": published}, args.json,
                              f"published {published} hit-list head(s)")
                stop.wait(2.0 if deadline is None else max(0.0, min(2.0, deadline - time.monotonic())))
        except KeyboardInterrupt:
            pass
        node.stop()
    s = node.totals
    _emit({"type": "summary", "received": s.received, "stored": s.stored, "duplicates": s.duplicates,
           "rejected": dict(s.rejected)}, args.json,
          f"received={s.received} stored={s.stored} duplicates={s.duplicates} rejected={dict(s.rejected)}")
    return 0


def _supervise(args: argparse.Namespace) -> int:
    """Run ``--workers`` worker processes (this command with one worker each, in the shared group) and restart
    any that dies until SIGTERM or ^C, which is passed on to them. Each prints its own console lines."""
    _store(args.db, create=True).close()  # migrate once, and report a bad --db here rather than N times
    group = args.share or "sharaka-central"
    base = [sys.executable, "-m", "tools.central.cli", *args.argv]

    def spawn(i: int) -> subprocess.Popen[bytes]:
        lists = ["--list-username", f"{args.list_username}-{i}"] if args.list_username else []
        hits = ["--hit-username", f"{args.hit_username}-{i}"] if args.hit_username else []
        proc = subprocess.Popen([*base, "--workers", "1", "--share", group, "--username", f"{args.username}-{i}",
                                 *lists, *hits])
        _emit({"type": "worker", "index": i, "pid": proc.pid, "username": f"{args.username}-{i}", "share": group},
              args.json, f"worker {i} started (pid {proc.pid}) as {args.username}-{i} in $share/{group}")
        return proc

    stop = threading.Event()
    with stop_on(stop, signal.SIGTERM):  # kept until the workers are gone: a second SIGTERM orphans none
        procs = {i: spawn(i) for i in range(1, args.workers + 1)}
        try:
            while not stop.is_set():
                for i, proc in procs.items():
                    code = proc.poll()
                    if code is not None:
                        if code == 0 and args.duration:  # --duration reached
                            stop.set()
                            break
                        _emit({"type": "worker", "index": i, "exit": code}, args.json,
                              f"worker {i} exited ({code}); restarting it")
                        procs[i] = spawn(i)
                stop.wait(0.5)
        except KeyboardInterrupt:
            pass
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def cmd_cmd(args: argparse.Namespace) -> int:
    try:
        cmd_args = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise BadDataError(f"--args {args.args!r:.60} is not JSON: {exc}")
    if not isinstance(cmd_args, dict):
        raise BadDataError(f"--args {args.args!r:.60} must be a JSON object")
    signers = [keyfiles.load_signing_key(p) for p in args.sign_with]
    store = _store(args.db)
    if store.device_key(args.gate) is None:
        raise UsageError(f"gate {args.gate!r} is not enrolled in {store.where!r}")
    holders = {message_key_id(k.verify_key) for k in signers}
    if args.out is None and is_high_impact(args.op, cmd_args) and len(holders) < MIN_HIGH_IMPACT_THRESHOLD:
        raise UsageError(f"{args.op} is high impact and needs a second key holder: add --out FILE, then a second "
                         "operator runs `sharaka-central cosign FILE --sign-with THEIR_KEY`")
    cmd_id, wire = sign_command(store, signers, args.gate, args.op, cmd_args, args.ttl, time.time())
    if args.out is not None:
        atomic_write(args.out, wire, mode=0o600, exclusive=True)
        _emit({"cmd_id": cmd_id, "out": str(args.out), "signatures": len(holders)}, args.json,
              f"command {cmd_id} ({args.op} on {args.gate}) signed by {len(holders)} key(s), written to {args.out}; "
              f"a second holder sends it: sharaka-central cosign {args.out} --sign-with KEYFILE")
        return 0
    return _send(args, store, args.gate, args.op, cmd_id, wire)


def cmd_alert(args: argparse.Namespace) -> int:
    """``alert send`` / ``alert status`` (docs/protocol.md "Early warnings")."""
    from tools.central.alerts import alert_receipts, build_alert, is_recorded_alert
    from tools.central.console.records import ConsoleRecords
    from tools.central.federation import Federation, issue_alert

    store = _store(args.db)
    issued_here = ConsoleRecords(store)  # the alerts this centre issued, as the console records them
    if args.alert_command == "status":
        if args.alert_id is not None and not is_recorded_alert(store, args.alert_id):
            raise UsageError(f"alert {args.alert_id!r}: not in {store.where!r} (not issued from this centre, "
                             "shared or received through the federation, nor reported by any gate): check the id")
        receipts = alert_receipts(store, args.alert_id)
        enrolled = [g["gate_id"] for g in store.gates()]
        # an alert this centre issued lists the gates it was addressed to (the Alerts page's), another every gate;
        # the alerts it issued that no gate reported yet are shown too, each gate with "no report"
        mine = [a for a in issued_here.alerts() if args.alert_id in (None, a["alert_id"])]
        addressed = issued_here.addressed(mine)
        issued = [args.alert_id] if args.alert_id else [a["alert_id"] for a in reversed(mine)]
        for alert_id in dict.fromkeys([*receipts, *issued]):
            _alert_lines(alert_id, receipts.get(alert_id, {}), addressed.get(alert_id, enrolled), args.json)
        return 0 if args.alert_id is None or receipts else 1
    if args.alert_command == "clear":
        return _clear_alert(args, store)
    listings: list[dict[str, Any]] = []
    if args.listings is not None:
        records = RecordsReader.open(args.listings)
        with records.located():
            listings = list(records)
    if args.document:
        listings.append({"kind": "document", "issuing_state": args.document[0], "document_number": args.document[1],
                         "reason": args.reason, "ref": args.ref, "list": args.list_id, "version": args.in_version})
    target = "gates" if args.gate else "site" if args.site else "all"
    key = keyfiles.load_signing_key(args.alert_key)
    alert_id, wire, expires = build_alert(key, notice=args.notice, severity=args.severity, ttl=args.ttl,
                                          listings=listings, target=target, sites=args.site, gates=args.gate)
    issue_alert(_config(args), store, alert_id, wire, expires, Federation.load(args.share) if args.share else None)
    # published: recorded as the console records its own, for `alert status`, the Alerts page and the audit log
    issued_here.record_alert(alert_id, args.operator or _login_name(), args.severity, target, args.notice, expires,
                             sites=args.site if target == "site" else [],
                             gates=args.gate if target == "gates" else [], shared=args.share is not None,
                             listed=[str(r.get("kind")) for r in listings])
    _emit({"alert": alert_id, "expires": expires, "target": target, "listings": len(listings),
           "shared": args.share is not None}, args.json,
          f"alert {alert_id} published to {target} gates ({len(listings)} urgent listing(s), in force "
          f"{args.ttl:g} s){', shared with the region' if args.share else ''}")
    deadline = time.monotonic() + args.wait
    shown: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        gates = alert_receipts(store, alert_id).get(alert_id, {})
        for gate, states in gates.items():
            if states != shown.get(gate):
                shown[gate] = dict(states)
                _emit({"alert": alert_id, "gate": gate, **states}, args.json,
                      f"  {gate}: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
        time.sleep(0.5)
    return 0


def _login_name() -> str:
    """Who runs this command, as the system names them (the operator an ``alert send`` is recorded under)."""
    try:
        return getpass.getuser()
    except OSError:  # no login name in the environment and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


def _clear_alert(args: argparse.Namespace, store: CentralStore) -> int:
    """``alert clear``: the clearing replaces the retained alert; a shared alert's clearing goes to the region too
    (docs/protocol.md "Clearing an alert", docs/central.md "Federation")."""
    from tools.central.federation import Federation, withdraw_alert

    fed = Federation.load(args.share) if args.share is not None else None
    withdraw_alert(_config(args), store, keyfiles.load_signing_key(args.alert_key), args.alert_id, fed=fed,
                   notice=args.notice)
    _emit({"alert": args.alert_id, "cleared": True, "shared": fed is not None}, args.json,
          f"alert {args.alert_id} cleared{', and its clearing shared with the region' if fed else ''}")
    return 0


def _alert_lines(alert_id: str, gates: dict[str, dict[str, Any]], addressed: Iterable[str], as_json: bool) -> None:
    for gate in sorted(set(gates) | set(addressed)):
        states = gates.get(gate, {})
        word = "acknowledged" if "acknowledged" in states else "received" if "received" in states else "no report"
        officer = f" by {states['officer']}" if states.get("officer") else ""
        _emit({"alert": alert_id, "gate": gate, "state": word, **states}, as_json, f"{alert_id} {gate}: {word}{officer}")


def cmd_federation(args: argparse.Namespace) -> int:
    """``federation init|pin|run|share|items`` (docs/central.md "Federation")."""
    from tools.central import federation as fd
    from tools.central.alerts import publish_messages

    action = args.federation_command
    if action == "init":
        fed = fd.new_federation(args.out, args.centre)
        pub = keyfiles.read_public_key(str(fed.key_path) + ".pub")
        _emit({"centre": fed.centre, "config": str(args.out), "pub": pub.hex()}, False,
              f"centre {fed.centre}: federation key {fed.key_path} made; give {fed.key_path}.pub to the peer "
              f"centres (fingerprint {keyfiles.root_fingerprint(pub)}) and pin theirs with `federation pin`")
        return 0
    if action == "pin":
        fed = fd.Federation.load(args.config)
        text = args.pub
        pub = keyfiles.decode_key(text.encode(), "--pub") if len(text) == 64 and not Path(text).exists() \
            else keyfiles.read_public_key(text)
        fed.with_peer(args.centre, pub).save(args.config)
        _emit({"centre": args.centre, "pub": pub.hex()}, False,
              f"pinned {args.centre} key {keyfiles.root_fingerprint(pub)} in {args.config}")
        return 0
    store = _store(args.db, create=action == "run")
    if action == "items":
        reader = fd.Federation.load(args.config) if args.config else None
        for r in store.federation_items():
            if reader is not None and r["kind"] == "hit":
                r["hit"] = fd.open_hit(reader, r["wire"])
            r = {k: v for k, v in r.items() if k != "wire"}
            at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["received"]))
            _emit(r, args.json, f"{at} {r['direction']:<3} {r['origin']:<8} {r['kind']:<5} ref={r['ref']}"
                                + (f" issued here as {r['local_ref']}" if r["local_ref"] else "")
                                + (" personal" if r["personal"] else ""))
        refused = {k.removeprefix("federation_"): n for k, n in store.rejects().items() if k.startswith("federation_")}
        _emit({"refused": refused}, args.json, f"refused: {refused or 'none'}")
        return 0
    fed = fd.Federation.load(args.config)
    if action == "share":
        rows = store.events(hits_only=True, kind="hit", msg_id=args.hit)
        if not rows:
            raise UsageError(f"no hit event {args.hit!r} in {store.where!r} (`sharaka-central events --hits`)")
        item_id, wire = fd.share_hit(fed, rows[0], personal=args.personal, note=args.note, ttl=args.ttl)
        publish_messages(_config(args), [fd.item_message(item_id, wire)])
        fd.record_shared(store, fed, item_id, wire, time.time())
        _emit({"item": item_id, "hit": args.hit, "personal": args.personal}, args.json,
              f"hit {args.hit} shared with the region as item {item_id}"
              + (" (with personal data)" if args.personal else " (no personal data)"))
        return 0
    alert_key = keyfiles.load_signing_key(args.alert_key) if args.alert_key else None

    stop = threading.Event()
    received = itertools.count(1)

    def shown(item: fd.FederatedItem) -> None:
        _emit({"type": "item", "origin": item.origin, "item": item.id, "kind": item.kind, "ref": item.ref},
              args.json, f"{item.kind.upper():<5} from {item.origin}: {item.ref} (item {item.id})")
        if next(received) == args.count:
            stop.set()

    peer_rate = _rate(args.peer_rate)
    if peer_rate is None or args.peer_queue < 1:
        raise BadDataError(f"--peer-rate {args.peer_rate!r:.60} --peer-queue {args.peer_queue}: expected PER_SECOND/BURST "
                           "positive numbers (burst >= 1) and a positive queue, e.g. --peer-rate 5/100 --peer-queue 1000")
    if args.count < 0:
        raise BadDataError(f"--count {args.count}: expected a number of items >= 0")
    relay = fd.FederationRelay(_config(args), store, fed, alert_key=alert_key, sites=args.site, on_item=shown,
                               peer_rate=peer_rate, peer_queue=args.peer_queue)
    with stop_on(stop, signal.SIGTERM):  # ``stop`` made before the relay: --count sets it too (``shown``)
        relay.start()
        connected = relay.wait_for_connected(10)
        _emit({"type": "broker", "connected": connected, "host": args.host, "port": args.port}, args.json,
              f"federation relay of {fed.centre} at {args.host}:{args.port} "
              f"{'connected' if connected else 'not connected yet (retrying)'}")
        try:
            stop.wait(args.duration or None)
        except KeyboardInterrupt:
            pass
        relay.stop()
    throttled = dict(relay.throttled)
    _emit({"type": "summary", "accepted": relay.accepted, "rejected": dict(relay.rejected), "throttled": throttled},
          args.json, f"accepted={relay.accepted} rejected={dict(relay.rejected)}"
          + (f" throttled per peer={throttled}" if throttled else ""))
    return 0


def cmd_cosign(args: argparse.Namespace) -> int:
    """A second holder reviews a partially signed command, adds a signature and sends it."""
    wire = args.file.read_bytes()
    body, signed_by = peek("cmd", wire)
    if body["not_after"] <= time.time():
        raise UsageError(f"command {body['id']} in {str(args.file)!r} expired at {body['not_after']:.0f}: sign a new one")
    signers = [keyfiles.load_signing_key(p) for p in args.sign_with]
    if any(message_key_id(k.verify_key) in signed_by for k in signers):
        raise UsageError(f"{str(args.file)!r} is already signed with this key: a second holder must cosign")
    _emit({"cmd_id": body["id"], "gate": body["gate"], "op": body["op"], "args": body["args"],
           "not_after": body["not_after"], "signed_by": [k.hex() for k in signed_by]}, args.json,
          f"cosigning {body['op']} {json.dumps(body['args'])} for {body['gate']} (command {body['id']}, "
          f"signed by {', '.join(k.hex() for k in signed_by)})")
    return _send(args, _store(args.db), body["gate"], body["op"], body["id"], cosign("cmd", wire, signers))


def _send(args: argparse.Namespace, store: CentralStore, gate: str, op: str, cmd_id: str, wire: bytes) -> int:
    sender = CommandSender(_config(args), store, [])
    try:
        if not sender.connect(args.timeout):
            raise TransportError(f"cannot connect to the broker at {args.host}:{args.port} as {args.username!r}: "
                                 f"{sender.refused or f'no answer within {args.timeout:g} s'}")
        sender.send_wire(gate, cmd_id, wire, timeout=args.timeout)
        result = sender.wait_for_result(args.timeout)
    finally:
        sender.close()
    if result is None:
        _emit({"cmd_id": cmd_id, "ok": None, "reason": "timeout"}, args.json,
              f"command {cmd_id} sent; no result within {args.timeout:g} s")
        return 1
    _emit(result, args.json, f"{op} on {gate}: ok={result['ok']} {result['reason']} {result['detail']}")
    return 0 if result["ok"] else 1


def _store(target: str, *, create: bool = False) -> CentralStore:
    """The node's store at ``target`` (an SQLite path or a ``postgresql://`` URL); unless ``create`` (run,
    enrol), a mistyped SQLite path is an error, not a new empty database. Raises FileNotFoundError,
    BadDataError naming a file that is not the store, or TransportError when PostgreSQL cannot be reached."""
    if is_url(target):
        import psycopg

        try:
            return open_store(target)
        except psycopg.OperationalError as exc:
            raise TransportError(f"--db {redact(target)!r}: {str(exc).strip().splitlines()[0]}") from exc
    path = Path(target)
    if not create and not path.exists():
        raise FileNotFoundError(2, "no such database", str(path))
    try:
        return CentralStore(path)
    except sqlite3.DatabaseError as exc:
        raise BadDataError(f"--db {str(path)!r}: {exc}") from exc


def _gate_line(g: dict[str, Any]) -> str:
    gap = f" GAP: {g['seq_overdue']} event(s) missing below seq {g['seq_high']}" if g.get("seq_overdue") else ""
    rejected = f" rejected={g['rejected']}" if g["rejected"] else ""
    pending = f" pending_key={g['pending_key']}" if g.get("pending_key") else ""
    return (f"{g['gate_id']:<16} session={g['session']} list={g['list_version']} seq={g['seq_high']}"
            f" key={g.get('device_key')}{pending}{gap}{rejected}")


def cmd_gates(args: argparse.Namespace) -> int:
    for g in _store(args.db).gates(time.time(), args.gap_grace):
        _emit(g, args.json, f"{'online' if g['online'] else 'offline':<8} {_gate_line(g)}")
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
    if args.command == "operator":
        return run_command("sharaka-central", command_path(args), lambda: args.func(args))
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what `run --workers N` passes on to its workers
    handler = {"keygen": cmd_keygen, "enrol": cmd_enrol, "token": cmd_token, "run": cmd_run, "cmd": cmd_cmd,
               "cosign": cmd_cosign, "alert": cmd_alert, "console": cmd_console, "federation": cmd_federation,
               "gates": cmd_gates, "events": cmd_events, "keys": cmd_keys}[args.command]
    return run_command("sharaka-central", command_path(args), lambda: handler(args))


if __name__ == "__main__":
    sys.exit(main())
