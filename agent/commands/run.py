"""`sharaka-gate run --config FILE`: the gate agent (systemd runs it; SIGTERM stops it cleanly).

Exit codes: 0 stopped cleanly (safe state applied), 2 config invalid (every error listed on
stderr), 1 a part the gate needs did not start or the reader worker died (safe state applied;
systemd restarts the gate).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run the gate agent", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="gate config (TOML), see docs/config.md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.app import GateApp, StartupError
    from agent.config import load_config
    from agent.errors import ConfigError
    from agent.logs import setup_logging

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(config.logging.level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signo, _frame: stop.set())
    app = GateApp(config)
    try:
        app.open()
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    return app.run(stop)
