"""`sharaka-gate mrz parse [--json] [LINE ...]`: parse and check MRZ text (ARCHITECTURE.md, "Command line").

Lines come from the arguments (one document), or from stdin: one line each, a blank line or end of input
ends a document, so several documents can be piped in. Exit 0 when every document parsed with all check
digits valid, 1 when one parsed but a check failed, 2 when one is not an MRZ.
With ``--json`` each document gives one JSON object on its own line with exactly the ARCHITECTURE.md keys;
a text that is not an MRZ gives ``{"error": "..."}`` in its place (and the reason on stderr).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterable, Iterator

EXIT_VALID, EXIT_INVALID, EXIT_NOT_MRZ = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mrz parse`` to the ``sharaka-gate`` command line."""
    parser = subparsers.add_parser("mrz", help="machine-readable-zone tools")
    sub = parser.add_subparsers(dest="mrz_command", required=True, metavar="ACTION")
    parse = sub.add_parser(
        "parse",
        help="parse and check MRZ lines",
        description="Parse MRZ lines given as arguments, or read documents from stdin (one line each, a blank "
        "line between documents). Exit 0: all check digits valid; 1: a check failed; 2: not an MRZ.",
    )
    parse.add_argument("lines", nargs="*", metavar="LINE", help="MRZ lines of one document (default: stdin)")
    parse.add_argument("--json", action="store_true", help="one JSON object per document")
    parse.add_argument(
        "--today",
        type=datetime.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="reference date for the century of dates and for expiry (default: system date)",
    )
    parse.set_defaults(func=run_parse)


def documents(rows: Iterable[str]) -> Iterator[list[str]]:
    """Group input lines into documents: a blank line or the end of input ends one."""
    block: list[str] = []
    for row in rows:
        if row.strip():
            block.append(row)
        elif block:
            yield block
            block = []
    if block:
        yield block


def run_parse(args: argparse.Namespace) -> int:
    """Parse every document given; print one report (or JSON object) each; return the worst exit code."""
    from agent.mrz import MrzFormatError, parse_mrz
    from agent.mrz.describe import describe

    today = args.today or datetime.date.today()
    blocks = [args.lines] if args.lines else list(documents(sys.stdin))
    if not blocks:
        print("no MRZ lines given (as arguments or on stdin)", file=sys.stderr)
        return EXIT_NOT_MRZ
    worst = EXIT_VALID
    for n, block in enumerate(blocks, 1):
        try:
            result = parse_mrz(block, today=today)
        except MrzFormatError as exc:
            where = f"document {n}: " if len(blocks) > 1 else ""
            print(f"{where}not an MRZ: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"error": str(exc)}))
            else:
                print(f"NOT AN MRZ: {exc}\n")
            worst = EXIT_NOT_MRZ
            continue
        if args.json:
            print(json.dumps(result.to_dict()))
        else:
            print(describe(result, today))
        if not result.valid:
            worst = max(worst, EXIT_INVALID)
    sys.stdout.flush()
    return worst
