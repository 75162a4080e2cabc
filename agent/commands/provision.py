"""`sharaka-gate provision`: make this device a gate (identity, enrolment, pinning, config), check it, and
end with the technician's checklist; `--wipe` decommissions it (docs/provisioning.md).

    sharaka-gate provision                                   # asks for what it needs
    sharaka-gate provision --gate gate-7 --site port-a --token K7QM-2XPA-… \\
        --broker mqtts://broker.example:8884 --root-fingerprint 1a2b-3c4d-5e6f-7a8b-9c0d \\
        --reader 'serial:///dev/serial/by-id/usb-…?framing=lines' --indicators 'i2c://1/0x40?chip=pca9685'
    sharaka-gate provision --dry-run | --json | --rewrite-config
    sharaka-gate provision --wipe --confirm gate-7

Run again, it shows what is done and changes nothing (unless --rewrite-config). Exit codes: 0 provisioned
and every check passed, 1 provisioned but the checklist has items to fix, 2 bad input, 3 root or broker
certificate refused, 4 broker unreachable or no answer, 5 token not valid for this gate, 6 token expired,
7 token already used (docs/provisioning.md "Exit codes").
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from agent.errors import UsageError

DEFAULT_CONFIG = Path("/etc/sharaka/gate.toml")  # agent.provision.wipe.APPLIANCE_CONFIG
DEFAULT_STATE = Path("/var/lib/sharaka")


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate provision`` to ``subparsers``."""
    p = subparsers.add_parser("provision", help="enrol this gate with the centre, write its config, check it",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, metavar="OUT",
                   help=f"the gate config to write (default {DEFAULT_CONFIG})")
    p.add_argument("--state-dir", type=Path, default=None, metavar="OUT",
                   help=f"where keys, certificates and lists live (default: the config's, else {DEFAULT_STATE})")
    p.add_argument("--answers", type=Path, metavar="FILE",
                   help="a TOML file of answers (the first-boot bundle's provision.toml): gate, site, token, broker, "
                        "root_fingerprint or root_pub, enrol_ca, reader, indicators, camera, list, [policy]; flags win")
    p.add_argument("--gate", metavar="ID", help="gate id the centre issued the token for")
    p.add_argument("--site", metavar="SITE", help="site (border crossing) of the gate")
    p.add_argument("--token", metavar="TOKEN", help="one-time enrolment token (sharaka-central token)")
    p.add_argument("--broker", metavar="URL", help="enrolment listener, e.g. mqtts://broker.example:8884")
    p.add_argument("--enrol-ca", type=Path, metavar="FILE",
                   help="CA to check the enrolment listener's certificate with (optional: the token authenticates)")
    p.add_argument("--root-pub", type=Path, metavar="FILE", help="the centre's root public key file to pin")
    p.add_argument("--root-fingerprint", metavar="FP", help="or its fingerprint, as the centre reads it out")
    p.add_argument("--reader", metavar="URL", help="document reader URL (docs/readers.md)")
    p.add_argument("--indicators", metavar="URL", help="indicator board URL (docs/indicators.md)")
    p.add_argument("--camera", metavar="URL", help="camera URL (optional)")
    p.add_argument("--list", dest="list_id", metavar="ID", help="hit-list id (default: the centre's)")
    p.add_argument("--policy", action="append", default=[], metavar="KEY=VALUE",
                   help="a [screening] setting of docs/config.md, e.g. stale_policy=refer (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="show what would be done; write and send nothing")
    p.add_argument("--rewrite-config", action="store_true", help="replace an existing config that differs")
    p.add_argument("--yes", action="store_true", help="never ask: fail on what is missing")
    p.add_argument("--no-selftest", action="store_true", help="skip the hardware self-test")
    p.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS", help="wait for the centre's answer")
    p.add_argument("--list-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="wait for the hit-list download (0: do not check)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout; never asks")
    p.add_argument("--wipe", action="store_true", help="decommission: destroy keys, lists, queued data and logs")
    p.add_argument("--confirm", metavar="ID", help="with --wipe: the gate id, to confirm without a prompt")
    p.set_defaults(func=run)


def _ask(args: argparse.Namespace, prompt: str) -> str | None:
    if args.json or args.yes or not sys.stdin.isatty():
        return None
    try:
        return input(prompt).strip() or None
    except EOFError:
        return None


def _policy(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--policy {item!r}: expected KEY=VALUE, e.g. stale_policy=refer")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def _existing(config: Path) -> dict[str, Any]:
    """The values of an existing config, to fill what a re-run is not given (a broken file gives nothing; of
    a file of the wrong shape only its tables count; read values with ``_text``)."""
    try:
        data = tomllib.loads(config.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return {name: table for name, table in data.items() if isinstance(table, dict)}


def _text(old: dict[str, Any], section: str, key: str) -> str | None:
    """``[section] key`` of an existing config (``_existing``) when it is set; None when it is not. Raises
    UsageError for a value that is not a non-empty string: a state directory it cannot name is never replaced
    by the default one (a wipe would destroy that)."""
    value = old.get(section, {}).get(key)
    if value is not None and not (isinstance(value, str) and value):
        raise UsageError(f"the existing config's [{section}] {key} = {value!r} is not a name or path: fix it, or give "
                         "it as a flag")
    return value


ANSWERS = {"gate": "gate", "site": "site", "token": "token", "broker": "broker", "root_fingerprint": "root_fingerprint",
           "root_pub": "root_pub", "enrol_ca": "enrol_ca", "reader": "reader", "indicators": "indicators",
           "camera": "camera", "list": "list_id", "policy": "policy"}


def apply_answers(args: argparse.Namespace) -> None:
    """Fill what the flags leave open from ``--answers FILE`` (keys of ``ANSWERS``). Raises UsageError naming an
    unknown key or a value of the wrong type; a missing or unreadable file is the usual file error."""
    if args.answers is None:
        return
    try:
        data = tomllib.loads(args.answers.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"answers file {str(args.answers)!r} is not valid TOML: {exc}") from None
    for key, value in data.items():
        dest = ANSWERS.get(key)
        if dest is None:
            raise UsageError(f"answers file {str(args.answers)!r}: unknown key {key!r}; known: {', '.join(ANSWERS)}")
        if key == "policy":
            if not isinstance(value, dict):
                raise UsageError(f"answers file {str(args.answers)!r}: policy must be a table [policy]")
            args.policy = [f"{k}={_toml_value(v)}" for k, v in value.items()] + args.policy
            continue
        if not isinstance(value, str):
            raise UsageError(f"answers file {str(args.answers)!r}: {key} = {value!r}: expected a string")
        if getattr(args, dest) is None:
            setattr(args, dest, Path(value) if dest in ("root_pub", "enrol_ca") else value)


def _toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def inputs_from(args: argparse.Namespace) -> Any:
    """The provisioning inputs from flags, an answers file, an existing config, and prompts for a person.
    Raises UsageError."""
    from agent import keys as keyfiles
    from agent.provision.broker import Endpoint
    from agent.provision.files import GateFiles
    from agent.provision.flow import Inputs
    from agent.provision.token import parse_token

    apply_answers(args)
    old = _existing(args.config)
    devices_old = old.get("devices", {})
    state = args.state_dir or Path(_text(old, "gate", "state_dir") or DEFAULT_STATE)
    record = GateFiles(state).read_record() or {}
    gate_id = args.gate or _text(old, "gate", "id") or _ask(args, "Gate id (as on the token sheet): ")
    site = args.site or _text(old, "gate", "site") or _ask(args, "Site: ")
    broker_url = args.broker or record.get("broker") or _ask(args, "Broker (e.g. mqtts://broker.example:8884): ")
    token_text = args.token or (None if record else _ask(args, "Enrolment token: "))
    root_pub = keyfiles.read_public_key(args.root_pub) if args.root_pub else None
    root_fp = keyfiles.parse_fingerprint(args.root_fingerprint) if args.root_fingerprint else ""
    if root_pub is None and not root_fp and not record:
        typed = _ask(args, "Root key fingerprint, as the centre reads it out (e.g. 1a2b-3c4d-5e6f-7a8b-9c0d): ")
        root_fp = keyfiles.parse_fingerprint(typed) if typed else ""
    devices = {k: v for k, v in devices_old.items() if isinstance(v, str)}
    for name in ("reader", "indicators", "camera"):
        given = getattr(args, name)
        if given is not None:
            devices[name] = given
    if not devices.get("indicators"):
        devices["indicators"] = _ask(args, "Indicator board URL (e.g. i2c://1/0x40?chip=pca9685): ") or ""
    if not devices.get("reader") and not devices.get("camera"):
        devices["reader"] = _ask(args, "Document reader URL (e.g. serial:///dev/serial/by-id/…?framing=lines): ") or ""
    missing = [flag for flag, value in (("--gate", gate_id), ("--site", site), ("--broker", broker_url),
                                        ("--token", token_text or record)) if not value]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}: give them as flags (scripts) or run in a terminal to be asked")
    screening = {**old.get("screening", {}), **_policy(args.policy)}
    if screening.get("lab_gate", False) is not False:  # RELIABILITY 45: an enrolled gate is a deployed gate
        raise UsageError(f"[screening] lab_gate = {screening['lab_gate']!r}: a provisioned gate is a deployed gate, "
                         "which screens against its signed list; leave lab_gate out (a lab gate is configured by hand)")
    return Inputs(config=args.config, state=state, gate_id=str(gate_id), site=str(site),
                  broker=Endpoint.parse(str(broker_url)),
                  token=parse_token(token_text) if token_text else None, root_pub=root_pub, root_fp=root_fp,
                  enrol_ca=args.enrol_ca, devices={k: v for k, v in devices.items() if v}, screening=screening,
                  list_id=args.list_id or _text(old, "hitlist", "list_id"), timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    """Provision (or with --wipe decommission) this gate; exit codes in the module docstring."""
    if args.wipe:
        return run_wipe(args)
    from agent.config import load_config
    from agent.provision.checklist import as_json, render, run_checklist
    from agent.provision.flow import Provisioner

    if not args.timeout > 0 or not args.list_timeout >= 0:  # NaN too: it reached the socket as "Invalid value NaN"
        raise UsageError("--timeout must be > 0 and --list-timeout >= 0 seconds")
    prov = Provisioner(inputs_from(args), dry_run=args.dry_run, rewrite_config=args.rewrite_config,
                       firewall=appliance_firewall(args.config))
    record = prov.run()
    items = []
    if record is not None and not args.dry_run:
        config = load_config(args.config)
        items = run_checklist(config, record, hardware=not args.no_selftest, list_timeout=args.list_timeout,
                              network=True)
        if args.list_timeout == 0:
            items = [i for i in items if not i.item.startswith("hit-list")]
    ok = all(i.ok for i in items)
    if args.json:
        print(json.dumps({"ok": ok, "gate_id": prov.inputs.gate_id, "dry_run": args.dry_run,
                          "steps": [vars(s) for s in prov.steps], "checklist": as_json(items)}))
    else:
        for s in prov.steps:
            print(f"{s.status:<6} {s.step:<9} {s.detail}")
        if items:
            print()
            print(render(items))
    return 0 if ok else 1


def appliance_firewall(config: Path) -> Any:
    """The appliance's firewall when provision writes the appliance's config and its ruleset is loaded, else None
    (agent/provision/firewall.py)."""
    from agent.provision.firewall import ApplianceFirewall
    from agent.provision.wipe import is_appliance

    firewall = ApplianceFirewall()
    return firewall if is_appliance(config) and firewall.active() else None


def run_wipe(args: argparse.Namespace) -> int:
    """Decommission the gate: keys, lists, queued personal data and logs destroyed, relay safe, centre told."""
    from agent.provision.wipe import decommission, is_appliance

    old = _existing(args.config)
    gate_id = _text(old, "gate", "id")
    state = args.state_dir or Path(_text(old, "gate", "state_dir") or DEFAULT_STATE)
    confirm = args.confirm or _ask(args, f"Type the gate id ({gate_id}) to destroy its keys, lists and queued data: ")
    if not gate_id or confirm != gate_id:
        raise UsageError(f"--wipe needs --confirm {gate_id or 'GATE_ID'} (the gate id in {str(args.config)!r}); "
                         "nothing was destroyed")
    report = decommission(args.config, state, dry_run=args.dry_run, journal=is_appliance(args.config))
    if args.json:
        print(json.dumps({"ok": True, "gate_id": gate_id, "dry_run": args.dry_run, **report}))
    else:
        verb = "would destroy" if args.dry_run else "destroyed"
        print(f"gate {gate_id}: {verb} {len(report['destroyed'])} file(s); relay {report['relay']}; "
              f"centre {report['centre']}")
        for path in report["destroyed"]:
            print(f"  {path}")
    return 0
