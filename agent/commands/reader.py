"""`sharaka-gate reader decode|capture`: the technician's tools for a misbehaving document reader.

``decode URL [--json]`` runs the real framer over a reader URL (usually ``replay://capture.hex``)
and prints one line per document or misread; ``capture URL --out FILE`` records what a live reader
sends, read by read, with timestamps, for ``decode`` or a bug report. See docs/readers.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sharaka-gate reader capture`` and ``reader decode`` to ``subparsers``."""
    parser = subparsers.add_parser("reader", help="decode or capture what a document reader sends")
    sub = parser.add_subparsers(dest="reader_command", required=True, metavar="ACTION")

    decode = sub.add_parser("decode", help="print the documents the framer finds in a reader URL")
    decode.add_argument("url", metavar="URL", help="reader URL, e.g. 'replay://capture.hex?framing=stx-etx'")
    decode.add_argument("--json", action="store_true", help='one JSON object per line: {"lines": [...]}')
    decode.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop a live reader after SECONDS (default: at the end of a replay, else Ctrl-C)")
    decode.set_defaults(func=decode_command)

    capture = sub.add_parser("capture", help="record a live reader's reads as a hex capture file")
    capture.add_argument("url", metavar="URL", help="reader URL, e.g. 'serial:///dev/serial/by-id/…?baud=9600'")
    capture.add_argument("--out", required=True, metavar="FILE",
                         help="new capture file to write ('-' for stdout); an existing file is refused, not emptied")
    capture.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop after SECONDS (default: Ctrl-C)"
    )
    capture.set_defaults(func=capture_command)


def _check_duration(duration: float | None) -> None:
    """``--duration``: none, or seconds (``agent.arguments.is_seconds``: ``nan`` or ``-1`` stopped at once, exit 0)."""
    from agent.arguments import SECONDS, is_seconds
    from agent.errors import UsageError

    if duration is not None and not is_seconds(duration):
        raise UsageError(f"--duration {duration:g}: expected {SECONDS} (none: until Ctrl-C)")


def decode_command(args: argparse.Namespace) -> int:
    """Print documents and misreads in order. Exit 0; 2 when the URL or capture is bad."""
    from hal import open_reader
    from hal.reader import Misread

    _check_duration(args.duration)
    reader = open_reader(args.url)  # a bad URL or capture: BadUrlError, exit 2 (agent.errors)
    end = None if args.duration is None else time.monotonic() + args.duration
    with reader:
        while True:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            item = reader.read(timeout=left)
            if item is None:
                if reader.fault:
                    print(f"sharaka-gate reader decode: {reader.fault}", file=sys.stderr)
                if end is None:
                    break  # end of input
                continue
            if isinstance(item, Misread):
                record: dict[str, object] = {"misread": item.reason}
                text = f"misread: {item.reason}"
            else:
                record = {"lines": list(item.lines)}
                text = "\n".join(item.lines) + "\n"
            print(json.dumps(record) if args.json else text, flush=True)
    return 0


def capture_command(args: argparse.Namespace) -> int:
    """Record reads until ``--duration`` passes or Ctrl-C. Exit 0; 2 when the URL is bad."""
    from hal import open_reader
    from hal.reader.capture import format_read

    _check_duration(args.duration)  # before --out is opened (and emptied)
    reader = open_reader(args.url)  # a bad URL or capture: BadUrlError, exit 2 (agent.errors)
    # a new file only: an earlier capture (evidence for a bug report) or any other file is never emptied
    out = sys.stdout if args.out == "-" else open(args.out, "x", encoding="utf-8")  # noqa: SIM115
    start = time.monotonic()
    end = None if args.duration is None else start + args.duration
    reads = 0
    try:
        out.write(f"# sharaka-gate reader capture {args.url}\n")
        out.write(f"# started {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; seconds since start\n")
        out.flush()
        with reader:
            fault = None
            while end is None or time.monotonic() < end:
                left = None if end is None else max(0.0, end - time.monotonic())
                data = reader.read_bytes(timeout=left if left is None else min(left, 0.5))
                if reader.fault != fault:
                    fault = reader.fault
                    out.write(f"# {time.monotonic() - start:.6f} {fault or 'reader open again'}\n")
                if data is None:
                    break
                if data:
                    reads += 1
                    out.write(format_read(time.monotonic() - start, data) + "\n")
                    out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        if out is not sys.stdout:
            out.flush()
            os.fsync(out.fileno())
            out.close()
    print(f"captured {reads} reads", file=sys.stderr)
    return 0
