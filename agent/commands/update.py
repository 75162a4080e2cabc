"""`sharaka-gate update …`: signed A/B updates with RAUC (docs/update.md).

    sharaka-gate update install BUNDLE | URL --size N --sha256 HEX   verify, install into the other slot
    sharaka-gate update status [--json]                              slots, versions, which boots next
    sharaka-gate update commit --config FILE                         (every boot) commit or roll back a trial
    sharaka-gate update bootloader get-primary | set-primary S | get-state S | set-state S good|bad
    sharaka-gate update check-bundle                                 (RAUC pre-install) refuse a downgrade

`bootloader` and `check-bundle` are called by RAUC (system.conf handlers), not by people. Exit codes:
0 done, 1 a trial boot was rolled back, 2 bad input, 3 bundle refused (signature, compatible, older
than the running system, hash), 4 download or RAUC failed (retry resumes the download).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent.arguments import positive_int, seconds

DEFAULT_DIR = Path("/var/lib/sharaka/update")


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate update`` to ``subparsers``."""
    p = subparsers.add_parser("update", help="signed A/B system updates (RAUC)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rauc-conf", type=Path, metavar="FILE", help="RAUC system.conf (default /etc/rauc/system.conf)")
    sub = p.add_subparsers(dest="update_command", required=True, metavar="ACTION")

    i = sub.add_parser("install", help="install a bundle (file or URL) into the other slot")
    i.add_argument("source", metavar="FILE", help="a bundle file, or its http(s):// URL")
    i.add_argument("--size", type=positive_int, help="bundle size in bytes (a URL needs it)")
    i.add_argument("--sha256", help="bundle sha256 (a URL needs it)")
    i.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"download directory (default {DEFAULT_DIR})")
    i.set_defaults(func=install)

    s = sub.add_parser("status", help="slots, their versions and which one boots next")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=status)

    c = sub.add_parser("commit", help="commit this boot's slot when the agent is healthy; roll back a failed trial")
    c.add_argument("--config", type=Path, required=True, metavar="FILE", help="gate config (for the selftest)")
    c.add_argument("--settle", type=seconds, default=30.0, help="seconds the agent must run without restart")
    c.add_argument("--deadline", type=seconds, default=300.0, help="seconds to wait for a healthy agent")
    c.set_defaults(func=commit)

    b = sub.add_parser("bootloader", help="RAUC custom bootloader backend (called by RAUC)")
    b.add_argument("op", choices=("get-primary", "set-primary", "get-state", "set-state"))
    b.add_argument("slot", nargs="?")
    b.add_argument("value", nargs="?", choices=("good", "bad"))
    b.set_defaults(func=bootloader)

    k = sub.add_parser("check-bundle", help="RAUC pre-install handler: refuse a bundle older than this system")
    k.add_argument("handler_args", nargs="*", help="rauc service --handler-args (passed by RAUC, unused)")
    k.set_defaults(func=check_bundle)


def _rauc(args: argparse.Namespace) -> Any:
    from agent.update.rauc import Rauc

    return Rauc(conf=args.rauc_conf)


def install(args: argparse.Namespace) -> int:
    """Fetch (a URL) and install a bundle."""
    from agent.durable import make_dirs
    from agent.errors import UsageError
    from agent.update.fetch import exclusive_download, fetch_bundle

    with contextlib.ExitStack() as held:
        bundle = Path(args.source)
        if "://" in args.source:
            if args.size is None or args.sha256 is None:
                raise UsageError(f"{args.source!r} is a URL: give --size and --sha256 from the signed offer")
            make_dirs(args.dir)
            # the agent's own download uses the same directory: one at a time, the bundle not kept after
            dest = held.enter_context(exclusive_download(args.dir))
            bundle = fetch_bundle(args.source, size=args.size, sha256=args.sha256, dest=dest)
        rauc = _rauc(args)
        rauc.info(bundle)  # signature and manifest first: a clear refusal before RAUC's service is asked
        print(rauc.install(bundle))
    print("installed: the other slot boots next, once, on trial (reboot to start it)")
    return 0


def status(args: argparse.Namespace) -> int:
    """Print the slots."""
    from agent.update.bootstate import load

    st = _rauc(args).status()
    report = {"booted": st["booted"], "boot_primary": st.get("boot_primary"), "slots": {}}
    for group in st["slots"]:
        for name, slot in group.items():
            bundle = (slot.get("slot_status") or {}).get("bundle") or {}
            report["slots"][name] = {"bootname": slot.get("bootname"), "state": slot.get("state"),
                                     "boot_status": slot.get("boot_status"), "version": bundle.get("version")}
    report["boot_state"] = load(_boot_state_path()).text().split()
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        for name, slot in sorted(report["slots"].items()):
            print(f"{name} ({slot['bootname']}): {slot['state']}, boot {slot['boot_status']}, version {slot['version']}")
        print(f"boots next: {report['boot_primary']}")
    return 0


def commit(args: argparse.Namespace) -> int:
    """Judge this boot: commit, renew, or roll back (and reboot)."""
    from agent.config import load_config
    from agent.errors import AgentError
    from agent.update.health import commit_or_rollback, unit_health, wait_healthy
    from agent.update.job import record_trial

    state_dir: Path | None = None
    try:
        state_dir = load_config(args.config).gate.state_dir
        broken = None
    except (AgentError, OSError, ValueError) as exc:
        if not _boot_state_path().exists():
            raise  # no A/B boot state here (not the appliance): no trial to judge, the config is the mistake
        # on the appliance it is judged with the boot: a trial whose new system cannot read the gate's config is
        # rolled back, not left running unjudged (an unprovisioned gate does not run this: the unit's condition)
        broken = f"config {str(args.config)!r} unusable: {exc}"

    def selftest() -> str | None:
        if broken is not None:
            return broken
        out = subprocess.run([sys.executable, "-m", "agent", "selftest", "--step", "0", "--config", str(args.config)],
                             capture_output=True, text=True, check=False, timeout=120)
        return None if out.returncode == 0 else f"selftest failed: {(out.stdout + out.stderr).strip()[-300:]}"

    def unhealthy() -> str | None:
        return wait_healthy(unit_health, settle=args.settle, deadline=args.deadline)

    def reboot() -> None:
        subprocess.run(["systemctl", "reboot"], check=False, timeout=60)

    def record(outcome: str) -> None:
        if state_dir is not None:  # reported by the agent after the reboot (UpdateJob.status: last_trial)
            try:
                record_trial(state_dir, outcome, time.time())
            except OSError as exc:
                print(f"cannot keep the trial's outcome: {exc}", file=sys.stderr)

    done = commit_or_rollback(_rauc(args), unhealthy, selftest, reboot, boot_state=_boot_state_path(), record=record)
    print(done)
    return 1 if "rolled back" in done else 0


def _boot_state_path() -> Path:
    from agent.update.bootstate import DEFAULT_PATH

    return Path(os.environ.get("SHARAKA_BOOT_STATE", DEFAULT_PATH))


def bootloader(args: argparse.Namespace) -> int:
    """RAUC's custom backend interface on the boot-state file."""
    from agent.errors import UsageError
    from agent.update.bootstate import load, save

    path = _boot_state_path()
    state = load(path)
    if args.op != "get-primary" and not args.slot:
        raise UsageError(f"{args.op} needs a slot name (A or B)")
    if args.op == "get-primary":
        print(state.primary())
    elif args.op == "get-state":
        print("good" if state.is_good(args.slot) else "bad")
    elif args.op == "set-primary":
        state.set_primary(args.slot)
        save(state, path)
    else:
        if args.value is None:
            raise UsageError("set-state needs good or bad")
        state.set_good(args.slot, args.value == "good")
        save(state, path)
    return 0


def check_bundle(args: argparse.Namespace) -> int:
    """RAUC pre-install handler: the signed manifest's version against the running system's."""
    from agent.errors import RefusedError, UsageError
    from agent.update.bundle import (
        COMPATIBLE,
        RELEASE_FILE,
        check_not_older,
        manifest_version,
        running_version,
    )

    mount = os.environ.get("RAUC_BUNDLE_MOUNT_POINT")
    if not mount:
        raise UsageError("RAUC_BUNDLE_MOUNT_POINT is not set: RAUC runs this as its pre-install handler")
    compatible, version = manifest_version(Path(mount))
    if compatible != COMPATIBLE:
        raise RefusedError(f"bundle for {compatible!r}, this gate is {COMPATIBLE!r}")
    running = running_version(Path(os.environ.get("SHARAKA_RELEASE", RELEASE_FILE)))
    check_not_older(version, running)
    print(f"bundle {version} accepted over running {running}")
    return 0
