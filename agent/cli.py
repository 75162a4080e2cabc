"""`sharaka-gate`: the gate's command line. Each subcommand lives in agent/commands/<name>.py.

A command module exposes ``register(subparsers)``, which adds its parser and sets ``func``
(``func(args) -> int`` exit code). Modules import heavy dependencies inside ``func``. A command
raises on a user's mistake; ``agent.errors.run_command`` turns the error into the exit code and the
one-line message ``sharaka-gate <command>: <what>; <remedy>`` (docs/adr/0001-errors.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from agent import __version__
from agent.errors import command_path, run_command

COMMANDS = ("run", "mrz", "face", "reader", "selftest", "status", "hitlist", "officer", "update", "provision")


def build_parser() -> argparse.ArgumentParser:
    """The ``sharaka-gate`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="sharaka-gate", description="Sharaka Gate border-gate agent")
    parser.add_argument("--version", action="version", version=f"sharaka-gate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"agent.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``sharaka-gate`` command; returns its exit code."""
    args = build_parser().parse_args(argv)
    return run_command("sharaka-gate", command_path(args), lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
