"""`sharaka-gate`: the gate's command line. Each subcommand lives in agent/commands/<name>.py.

A command module exposes ``register(subparsers)``, which adds its parser and sets ``func``
(``func(args) -> int`` exit code). Modules import heavy dependencies inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from agent import __version__

COMMANDS = ("run", "mrz", "face", "reader", "selftest", "status", "hitlist")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sharaka-gate", description="Sharaka Gate border-gate agent")
    parser.add_argument("--version", action="version", version=f"sharaka-gate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"agent.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
