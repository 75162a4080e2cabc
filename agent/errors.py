"""Error roots of the agent, by what the caller should do about them, and the one place where the
command-line tools turn an error into an exit code and a one-line message (docs/adr/0001-errors.md).

    >>> sys.exit(run_command("sharaka-gate", "hitlist install", lambda: install(args)))
    sharaka-gate hitlist install: no such file: 'missing.shl'; check the path        (stderr, exit 2)
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable

from hal.errors import BadUrlError, HalError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and the answer is no: a check failed, a part did not start, a command was rejected
EXIT_USAGE = 2  # the user's input is wrong: arguments, config, a file missing, unreadable or malformed
EXIT_REFUSED = 3  # a signed input was refused by its trust checks; the trusted state is unchanged
EXIT_TRANSPORT = 4  # the link or a transfer failed: retry later
EXIT_INTERRUPTED = 130  # ^C


class AgentError(Exception):
    """Root of every error the agent raises on purpose. ``remedy`` (optional) says what to do about it;
    ``exit_status`` (optional) is a command's own exit code for it (``sharaka-gate provision``'s table)."""

    remedy: str | None = None
    exit_status: int | None = None


class BadDataError(AgentError, ValueError):
    """Input that is not what it claims to be: reject it, keep the last good state."""


class TransportError(AgentError, OSError):
    """A link or file transfer failed: retry later."""


class ConfigError(AgentError, ValueError):
    """The configuration is invalid: never start a pipeline that could answer CLEAR."""


class UsageError(AgentError, ValueError):
    """The command line asks for something that cannot be done as given (the message says what to give)."""


class RefusedError(BadDataError):
    """A signed input was refused by its trust checks; the trusted state is unchanged (exit 3)."""


def exit_code(exc: BaseException) -> int:
    """The exit code of a command that ended with ``exc`` (the table in docs/adr/0001-errors.md)."""
    own = getattr(exc, "exit_status", None)
    if isinstance(own, int):
        return own
    if isinstance(exc, RefusedError):
        return EXIT_REFUSED
    if isinstance(exc, TransportError):
        return EXIT_TRANSPORT
    if isinstance(exc, OSError | ValueError | sqlite3.DatabaseError):  # config, usage, bad data, files, devices
        return EXIT_USAGE
    return EXIT_FAILED


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(what went wrong, what to do about it) for ``exc``; an exception's own ``remedy`` wins."""
    remedy = getattr(exc, "remedy", None)
    if isinstance(exc, OSError) and not isinstance(exc, AgentError | HalError) and exc.filename is not None:
        what = f"{_OS_WHAT.get(type(exc), exc.strerror or 'cannot use')}: {str(exc.filename)!r}"
        return what, remedy or _OS_REMEDY.get(type(exc), "check the file, its permissions and the disk")
    what = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError):
        what = f"database: {what}"
    return what, remedy or next(text for family, text in _REMEDIES if isinstance(exc, family))


_OS_WHAT: dict[type, str] = {
    FileNotFoundError: "no such file",
    IsADirectoryError: "is a directory, expected a file",
    NotADirectoryError: "not a directory",
    PermissionError: "permission denied",
    FileExistsError: "already exists",
}
_OS_REMEDY: dict[type, str] = {
    FileNotFoundError: "check the path",
    IsADirectoryError: "give the file inside it",
    NotADirectoryError: "give a directory",
    PermissionError: "check the file's owner and mode",
    FileExistsError: "remove it or choose another path",
}
_REMEDIES: tuple[tuple[type, str], ...] = (  # first match wins
    (ConfigError, "fix the config (docs/config.md lists every key)"),
    (UsageError, "see --help"),
    (RefusedError, "nothing was changed; use a file signed by the pinned keys"),
    (TransportError, "check the link and retry"),
    (BadUrlError, "fix the device URL (docs/readers.md, docs/indicators.md)"),
    (HalError, "check the device, its cable and its URL"),
    (sqlite3.DatabaseError, "check that the file is the right database and not damaged"),
    (ValueError, "check that the file or value is the right one and not damaged"),
    (OSError, "check the file, its permissions and the disk"),
    (ModuleNotFoundError, "install the optional part that provides it (e.g. pip install 'sharaka-gate[vision]')"),
    (BaseException, "see the message"),
)


def report(prog: str, command: str, exc: BaseException) -> int:
    """Print ``<prog> <command>: <what>; <remedy>`` on stderr (a listing of several problems, as an
    invalid config has, follows on indented lines) and return the exit code for ``exc``."""
    what, remedy = describe_error(exc)
    first, *more = [line for line in what.splitlines() if line.strip()] or [type(exc).__name__]
    print(f"{prog} {command}: {first.rstrip(':')}; {remedy}", file=sys.stderr)
    for line in more:
        print(f"  {line.strip()}", file=sys.stderr)
    logger.debug("command failed", extra={"fields": {"prog": prog, "command": command}}, exc_info=exc)
    return exit_code(exc)


# What a user's mistake (or a missing optional package) can raise; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    AgentError, HalError, OSError, ValueError, sqlite3.DatabaseError, ModuleNotFoundError)


def run_command(prog: str, command: str, func: Callable[[], int]) -> int:
    """Run one command of a CLI: its exit code, or for a user's mistake (``USER_ERRORS``, the HAL's
    errors) the one-line report of ``report`` and the family's exit code; ^C exits 130, a closed
    output pipe 0."""
    try:
        return int(func())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except USER_ERRORS as exc:
        return report(prog, command, exc)


def command_path(args: object) -> str:
    """The subcommand path argparse chose (``hitlist install``): ``command`` then every ``*_command``."""
    names = vars(args)
    parts = [names.get("command")] + [v for k, v in names.items() if k.endswith("_command")]
    return " ".join(str(p) for p in parts if p)
