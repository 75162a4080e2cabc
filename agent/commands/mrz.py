"""`sharaka-gate mrz parse [--json] [LINE ...]`: parse and check MRZ text (ARCHITECTURE.md, "Command line").

Lines come from the arguments (one document), or from stdin: one line each, a blank line or end of input
ends a document, so several documents can be piped in. Stdin is a stream: a document's answer is
written as soon as its blank line arrives and the input would block (and at once on a terminal);
thousands of piped documents are answered in large writes (docs/mrz.md "Command line"). Exit 0 when every document parsed with all check
digits valid, 1 when one parsed but a check failed, 2 when one is not an MRZ.
With ``--json`` each document gives one JSON object on its own line with exactly the ARCHITECTURE.md keys;
a text that is not an MRZ gives ``{"error": "..."}`` in its place (and the reason on stderr).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import select
import sys
from collections.abc import Callable, Iterable, Iterator

EXIT_VALID, EXIT_INVALID, EXIT_NOT_MRZ = 0, 1, 2
READ_SIZE = 1 << 16
FLUSH_BYTES = 1 << 16  # pending output written once this much is waiting
UTF8_BOM = b"\xef\xbb\xbf"


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
    read = sub.add_parser(
        "read",
        help="read the MRZ from page images",
        description="Find and read the MRZ of JPEG/PNG page images with the on-device model. One result per "
        "image: the keys of 'mrz parse' plus confidence (0-1) and timings_ms. Exit 0: every image read with "
        "all checks valid and confident; 1: a reading failed a check or is unsure (the gate REFERs it); "
        "2: no MRZ found or an image cannot be read.",
    )
    read.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG, PPM/PGM or .npy page images")
    read.add_argument("--json", action="store_true", help="one JSON object per image")
    read.add_argument("--frames", action="store_true",
                      help="the images are frames of one document: combine them into one reading")  # fmt: skip
    read.add_argument(
        "--today", type=datetime.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
        help="reference date for the century of dates and for expiry (default: system date)",
    )  # fmt: skip
    read.set_defaults(func=run_read)


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


def stdin_lines(fd: int, idle: Callable[[], None]) -> Iterator[str]:
    """Lines of ``fd`` as they arrive (UTF-8, CR, LF or CR LF); ``idle()`` is called whenever the
    input would block, so output is flushed while an interactive user or a slow producer waits.
    A UTF-8 byte-order mark at the start (a file saved by Windows Notepad) is not text: it goes."""
    pending = b""
    at_start = True
    while True:
        try:
            would_block = not select.select([fd], [], [], 0)[0]
        except (OSError, ValueError):  # not selectable: treat every read as possibly blocking
            would_block = True
        if would_block:
            idle()
        chunk = os.read(fd, READ_SIZE)
        if not chunk:
            break
        pending += chunk
        if at_start:
            if len(pending) < len(UTF8_BOM) and UTF8_BOM.startswith(pending):
                continue  # perhaps the start of a mark split across reads
            pending, at_start = pending.removeprefix(UTF8_BOM), False
        cut = pending.rfind(b"\n") + 1  # a CR LF is never split: the cut is after an LF
        if cut:
            yield from pending[:cut].decode("utf-8", "replace").splitlines()
            pending = pending[cut:]
    if pending:
        yield from pending.decode("utf-8", "replace").splitlines()


class Output:
    """stdout written in large pieces: flushed at the end, when the input would block, when
    ``FLUSH_BYTES`` are pending, and after every document when stdout is a terminal."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._tty = sys.stdout.isatty()

    def document(self, text: str) -> None:
        """One document's report (or JSON line)."""
        self._parts.append(text)
        self._size += len(text)
        if self._tty or self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what is pending."""
        if self._parts:
            sys.stdout.write("".join(self._parts))
            self._parts.clear()
            self._size = 0
        sys.stdout.flush()


def run_parse(args: argparse.Namespace) -> int:
    """Parse every document given; print one report (or JSON object) each; return the worst exit code.

    Stdin is read as a stream: each document is reported once its blank line (or the end of input)
    arrives, so a user typing documents sees each answer at once, while a pipe of thousands of
    documents is answered in large writes.
    """
    from agent.mrz import MrzFormatError, parse_mrz
    from agent.mrz.describe import describe

    today = args.today or datetime.date.today()
    out = Output()
    if args.lines:
        blocks: Iterable[list[str]] = [args.lines]
    else:
        blocks = [] if sys.stdin is None else documents(stdin_lines(sys.stdin.fileno(), out.flush))  # <&-: none
    worst = EXIT_VALID
    n = 0
    dumps = json.dumps
    for n, block in enumerate(blocks, 1):
        try:
            result = parse_mrz(block, today=today)
        except MrzFormatError as exc:
            where = "" if args.lines else f"document {n}: "
            print(f"{where}not an MRZ: {exc}", file=sys.stderr)
            out.document(dumps({"error": str(exc)}) + "\n" if args.json else f"NOT AN MRZ: {exc}\n\n")
            worst = EXIT_NOT_MRZ
            continue
        out.document(dumps(result.to_dict()) + "\n" if args.json else describe(result, today) + "\n")
        if not result.valid:
            worst = max(worst, EXIT_INVALID)
    out.flush()
    if not n:
        print("no MRZ lines given (as arguments or on stdin)", file=sys.stderr)
        return EXIT_NOT_MRZ
    return worst


def run_read(args: argparse.Namespace) -> int:
    """Read every image (or, with ``--frames``, all of them as one document); return the worst exit code."""
    from agent.errors import report
    from agent.mrz.describe import describe
    from agent.vision.image import BadFrameError, read_image
    from agent.vision.mrz_read import read_frames
    from agent.vision.runtime import VisionUnavailableError

    today = args.today or datetime.date.today()
    groups = [args.images] if args.frames else [[path] for path in args.images]
    worst = EXIT_VALID
    for paths in groups:
        try:
            reading = read_frames([read_image(p) for p in paths], today=today)
        except (BadFrameError, VisionUnavailableError) as exc:  # one bad image: say so, go on with the rest
            report("sharaka-gate", "mrz read", exc)
            if args.json:
                print(json.dumps({"error": str(exc)}))
            worst = EXIT_NOT_MRZ
            continue
        name = " + ".join(paths)
        if reading.result is None:
            print(f"sharaka-gate mrz read: {name}: no MRZ found; check that the page and its MRZ are in view",
                  file=sys.stderr)
            worst = EXIT_NOT_MRZ
        elif not reading.trusted:
            worst = max(worst, EXIT_INVALID)
        if args.json:
            print(json.dumps(reading.as_json()))
        elif reading.result is not None:
            print(f"{name}: confidence {reading.confidence:.2f}" + ("" if reading.trusted else " (REFER)"))
            print(describe(reading.result, today))
    sys.stdout.flush()
    return worst
