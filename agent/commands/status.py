"""`sharaka-gate status [--json] --config FILE`: the gate's health, read from its state directory.

Works while the agent runs (it reads the agent's status file and opens the outbox read-only):
outbox depth, oldest unsent age, dropped events, last decision, hit-list version, link up or down and
how often it connected, device faults.
Exit 0 when the agent is running without faults, 1 when it is stopped or reports a fault, 2 when
the config or state cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate status`` to ``subparsers``."""
    p = subparsers.add_parser("status", help="show the gate's health", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="gate config (TOML)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=status)


def gather(config_path: str, now: float) -> dict[str, Any]:
    """The status dict: the agent's status.json plus live outbox figures. Raises ``AgentError``."""
    from agent.app import OUTBOX_FILE, STATUS_FILE
    from agent.config import load_config
    from agent.errors import BadDataError
    from agent.outbox import read_outbox_stats

    config = load_config(config_path)
    state_dir = config.gate.state_dir
    try:
        report: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text())
    except FileNotFoundError:
        report = {"gate": config.gate.id, "state": "never started"}
    except (OSError, ValueError) as exc:
        raise BadDataError(f"cannot read {str(state_dir / STATUS_FILE)!r}: {exc}") from exc
    if report.get("state") == "running" and not _alive(report.get("pid")):
        report["state"] = "dead (stopped without shutting down)"
    outbox_path = state_dir / OUTBOX_FILE
    report["outbox"] = read_outbox_stats(outbox_path, now) if outbox_path.exists() else None
    report["checked_at"] = now
    return report


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(args: argparse.Namespace) -> int:
    """Print the gate's health; 0 running and healthy, 1 stopped or faulty (errors: exit 2, agent.errors)."""
    report = gather(args.config, time.time())
    healthy = report.get("state") == "running" and not report.get("faults")
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0 if healthy else 1
    last = report.get("last_decision")
    hl = report.get("hitlist") or {}
    box = report.get("outbox") or {}
    lines = [
        f"gate        {report.get('gate')}  ({report.get('state')})",
        f"last        {_ago(last['at'], report['checked_at']) + ' ' + last['decision'] if last else 'no decision yet'}",
        f"hit-list    version {hl.get('version', '?')}"
        + (f" STALE ({hl.get('stale_reason') or 'past its freshness'})" if hl.get("stale") else ""),
        f"outbox      {box.get('depth', '?')} queued, oldest {box.get('oldest_age_s', '?')} s, "
        f"{box.get('dropped', '?')} dropped",
    ]
    link = report.get("link")
    if link is not None:
        lines.append(f"link        {'connected' if link.get('connected') else 'DOWN'}, "
                     f"{link.get('connects', '?')} connection(s) since start")
    faults = report.get("faults") or {}
    lines += [f"FAULT       {name}: {text}" for name, text in sorted(faults.items())] or ["faults      none"]
    print("\n".join(lines))
    return 0 if healthy else 1


def _ago(at: float, now: float) -> str:
    return f"{max(0.0, now - at):.1f} s ago"
