"""`sharaka-gate run --config FILE`: the gate agent (systemd runs it; SIGTERM stops it cleanly).

Exit codes: 0 stopped cleanly (safe state applied), 2 config invalid (every error listed on
stderr), 1 a part the gate needs did not start or the reader worker died (safe state applied;
systemd restarts the gate).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate run`` to ``subparsers``."""
    p = subparsers.add_parser("run", help="run the gate agent", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="gate config (TOML), see docs/config.md")
    p.add_argument("--appliance", action="store_true",
                   help="a deployed gate (the image's unit passes it): refuse [screening] lab_gate = true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config (ConfigError: exit 2), open every part (StartupError: exit 1), screen until stopped."""
    from agent.app import GateApp, settle_for_travellers
    from agent.config import load_config
    from agent.errors import ConfigError
    from agent.logs import logging_for_run
    from agent.signals import stop_on

    config = load_config(args.config)
    if args.appliance and config.screening.lab_gate:  # RELIABILITY 45: never a lab gate in the field
        raise ConfigError(f"{config.path}: [screening] lab_gate = true: refused on a deployed gate (--appliance); "
                          "expected lab_gate = false and a signed list in [hitlist] store_dir")
    stop = threading.Event()
    with logging_for_run(config.logging.level), stop_on(stop, signal.SIGTERM, signal.SIGINT):
        app = GateApp(config)
        app.open()
        settle_for_travellers()
        return app.run(stop)
