"""Pure, incremental framers: the bytes a document reader sends in, documents and misreads out.

A framer does no I/O and keeps no clock: ``feed(data, now)`` takes one read (split anywhere, even
inside a marker or between CR and LF) and returns what became complete; ``idle(now)`` is called when
the line has been quiet (or the input ended) and gives up a partial block; ``reset()`` forgets a
partial block (device unplugged). Memory is bounded whatever arrives.

Rules (docs/readers.md, ../shared/READERS.md): only rows of ``A-Z 0-9 <`` make a document; ``?``,
``_``, spaces inside a row, GS candidate groups and bytes >= 0x80 make the read a misread; rows are
paired only when their shape fits (first letter of row 1, digits at the date positions, few digits in
the name row), because a false document is worse than a lost read.

    >>> spec = parse_framing({"framing": "stx-etx", "bcc": "xor"})
    >>> framer = spec.framer()
    >>> framer.feed(spec.encode(rows), now=0.0)      # [ReaderDocument(lines=rows, ...)]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Any, ClassVar

from hal.errors import BadUrlError
from hal.reader.types import Misread, ReaderDocument
from hal.url import choice_value

logger = logging.getLogger(__name__)

Output = ReaderDocument | Misread

# (row length, row count, allowed first letters of row 1, index of the name row, index of the
#  date row, date positions in it): ICAO 9303 TD3/MRV-A, TD2/MRV-B, TD1.
FORMATS: tuple[tuple[int, int, str, int, int, tuple[range, range]], ...] = (
    (44, 2, "PV", 0, 1, (range(13, 19), range(21, 27))),
    (36, 2, "ACIPV", 0, 1, (range(13, 19), range(21, 27))),
    (30, 3, "ACI", 2, 1, (range(0, 6), range(8, 14))),
)
MAX_ROW = 44
MIN_DATE_DIGITS = 8  # of the 12 date characters; OCR may confuse a few (O/0, I/1, S/5)
MAX_NAME_ROW_DIGITS = 4  # a name row holds letters and fillers; a date row holds a dozen digits
MAX_ECHO = 32  # row characters (a command echo) that may be glued before row 1 in line mode
WIDTHS = frozenset(length for length, *_ in FORMATS)
MAX_FRAME = 3 * (MAX_ROW + 2) + 16  # any frame larger than the largest MRZ plus separators is garbage
MAX_OTHER_TLV = 256  # Elyctis version/status messages are short; larger lengths mean lost sync

CR, LF, GS, SOH, STX, ETX, SO, RS = 0x0D, 0x0A, 0x1D, 0x01, 0x02, 0x03, 0x0E, 0x1E

# Byte classes of the line framer.
ROW, LOWER, SPACE, BAD, NOISE, SEP_CR, SEP_LF = range(7)


def _classes() -> tuple[int, ...]:
    table = []
    for b in range(256):
        c = chr(b)
        if c.isascii() and (c.isupper() or c.isdigit() or c == "<"):
            table.append(ROW)
        elif "a" <= c <= "z":
            table.append(LOWER)
        elif b == 0x20:
            table.append(SPACE)
        elif b == CR:
            table.append(SEP_CR)
        elif b == LF:
            table.append(SEP_LF)
        elif b >= 0x80 or b == GS or c in "?_":
            table.append(BAD)
        else:
            table.append(NOISE)  # other control characters and punctuation never occur in a row
    return tuple(table)


CLASS = _classes()
_ROW_SPLIT = re.compile(rb"\r\n|\r|\n")
_ROW_RUN = re.compile(rb"[A-Z0-9<]+")
_ROW_TEXT = re.compile(rb"[A-Za-z0-9<]*")


def bad_byte_reason(b: int) -> str:
    """Why byte ``b`` inside a row makes the read a misread (no MRZ content, safe to log)."""
    if b >= 0x80:
        return f"byte 0x{b:02x} >= 0x80 in a row (a 7E1 line read as 8N1?)"
    if b == GS:
        return "GS candidate group in a row (uncertain characters)"
    if b == 0x20:
        return "space inside a row"
    if CLASS[b] == NOISE or b in (CR, LF):
        return f"control or punctuation byte 0x{b:02x} in a row"
    return f"unreadable character {chr(b)!r} in a row"


def check_row(raw: bytes) -> tuple[str, str | None]:
    """One row as sent -> (row, None) or ("", reason). Outer blanks go, lower case goes up."""
    raw = raw.strip(b" ")
    if not _ROW_TEXT.fullmatch(raw):  # before the length: a 7E1 read has its CRs at 0x8d, so one long row
        for b in raw:
            cls = CLASS[b]
            if cls != ROW and cls != LOWER:
                return "", bad_byte_reason(b)
    if len(raw) > MAX_ROW:
        return "", f"oversize row ({len(raw)} > {MAX_ROW} characters)"
    return raw.decode("ascii").upper(), None


def shape_error(rows: Sequence[str]) -> str | None:
    """None when ``rows`` are exactly one MRZ whose shape fits, else why not (no MRZ content)."""
    for length, count, first, name_i, date_i, dates in FORMATS:
        if len(rows) != count or any(len(r) != length for r in rows):
            continue
        if rows[0][0] not in first:
            return f"row 1 of a {count}x{length} MRZ starts with {rows[0][0]!r}, expected one of {first}"
        digits = sum(rows[date_i][i].isdigit() for span in dates for i in span)
        if digits < MIN_DATE_DIGITS:
            return f"date positions of row {date_i + 1} hold {digits}/12 digits"
        if sum(c.isdigit() for c in rows[name_i]) > MAX_NAME_ROW_DIGITS:
            return f"name row {name_i + 1} holds digits"
        return None
    shape = ", ".join(str(len(r)) for r in rows) or "none"
    return f"{len(rows)} row(s) of length {shape} do not form a 2x44, 2x36 or 3x30 MRZ"


def document_from_payload(payload: bytes, now: float) -> Output:
    """A framed block (rows separated by CR, LF or CR LF; blank rows ignored) -> document or misread."""
    rows = []
    for raw in _ROW_SPLIT.split(payload):
        if not raw.strip(b" "):
            continue
        row, reason = check_row(raw)
        if reason is not None:
            return Misread(reason, now)
        rows.append(row)
    reason = shape_error(rows)
    if reason is not None:
        return Misread(reason, now)
    return ReaderDocument(tuple(rows), now)


class Framer:
    """Interface of the framers: bytes in, documents and misreads out, no I/O.

    A framer class is one framing mode of the reader URL (``FRAMERS``): ``MODE`` is its
    ``framing=`` value, ``OPTIONS`` its URL options with their values (the grammar quoted in
    errors), ``option()`` turns one option's text into a constructor argument (``options()`` all
    of those given, the defaults being the constructor's), and ``encode()`` is the other side, what
    a reader in this mode sends (the simulator's and the tests').
    """

    MODE: ClassVar[str]
    OPTIONS: ClassVar[dict[str, str]] = {}

    @classmethod
    def options(cls, query: Mapping[str, str]) -> dict[str, Any]:
        """Constructor arguments from the URL options given (keys of ``OPTIONS``); BadUrlError naming a bad one."""
        return dict(cls.option(key, value) for key, value in query.items())

    @classmethod
    def option(cls, key: str, value: str) -> tuple[str, Any]:
        """One URL option -> (constructor argument, value); BadUrlError quoting the expected form."""
        raise NotImplementedError

    def encode(self, rows: Sequence[str]) -> bytes:
        """One document as a reader in this mode sends it."""
        raise NotImplementedError

    def feed(self, data: bytes, now: float) -> list[Output]:
        """Take one read; return what became complete, in order."""
        self._buf += data
        out: list[Output] = []
        self._parse(now, out)
        return out

    def _parse(self, now: float, out: list[Output]) -> None:
        """Move what the buffered bytes complete to ``out``, keeping a partial frame (the framers' hook)."""
        raise NotImplementedError

    def idle(self, now: float) -> list[Output]:
        """The line went quiet (or the input ended): finish or give up the partial block."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget a partial block without emitting it (the device went away)."""
        raise NotImplementedError

    @property
    def pending(self) -> bool:
        """True while a partial block is held (the caller then watches for the line going idle)."""
        raise NotImplementedError

    max_buffered = MAX_FRAME + 8  # the most ``buffered`` can be after any feed

    @property
    def buffered(self) -> int:
        """Bytes held for a partial frame or row: at most ``max_buffered``, whatever arrives."""
        return len(self._buf)

    _buf: bytearray


class LinesFramer(Framer):
    """Rows ending in CR, LF or CR LF; a block ends at an empty line or as soon as its rows form an MRZ.

    Rows are kept in a window of at most three; a document is the tail of the window when its shape
    fits, so a lone row followed by the next document is a misread plus that document. A row with up
    to ``MAX_ECHO`` characters glued before it (a reader's command echo without a separator) is
    *glued*: when it is longer than the rows after it, its tail of their width is tried as row 1.
    """

    MODE = "lines"
    OPTIONS: ClassVar[dict[str, str]] = {"prefix": "TEXT"}

    def __init__(self, prefix: bytes = b"") -> None:
        self._prefix = prefix
        self.reset()

    @classmethod
    def option(cls, key: str, value: str) -> tuple[str, Any]:
        """``prefix=TEXT``: a code-identifier prefix stripped from each row."""
        if not value or not value.isascii() or any(c in value for c in "\r\n"):
            raise BadUrlError(f"reader option prefix={value!r}: expected printable ASCII, e.g. prefix=]o1")
        return "prefix", value.encode("ascii")

    def encode(self, rows: Sequence[str]) -> bytes:
        """Rows each ending in CR LF, then an empty line."""
        return self._prefix + b"".join(r.encode("ascii") + b"\r\n" for r in rows)

    def reset(self) -> None:
        """Forget the partial row and block."""
        if getattr(self, "_rows", None) or getattr(self, "_buf", None):
            logger.info("partial block discarded")
        self._buf = bytearray()  # the partial row, at most MAX_ROW + 1 bytes
        self._spaces = 0  # blanks seen after the last row character (stripped if the row ends)
        self._bad: str | None = None  # why the partial row is a misread
        self._after_cr = False
        self._matched = 0  # bytes of the prefix matched at the start of this row
        self._prefixed = False  # this row's prefix was stripped: do not strip another
        self._echo = 0  # characters dropped from the head of this row (it stays the last MAX_ROW)
        self._rows: list[str] = []
        self._glued: list[bool] = []  # per row in the window: may carry an echo before row 1
        self._reported = False  # a misread was already reported for this block

    @property
    def pending(self) -> bool:
        """True while rows of an unfinished block are held."""
        return bool(self._rows or self._buf or self._bad or self._matched)

    max_buffered = 4 * MAX_ROW  # the partial row and a window of three rows

    @property
    def buffered(self) -> int:
        """Bytes of the partial row held."""
        return len(self._buf) + sum(map(len, self._rows))

    def feed(self, data: bytes, now: float) -> list[Output]:
        """Split the read into rows; emit a block at an empty line or when its rows form an MRZ."""
        out: list[Output] = []
        i, n = 0, len(data)
        while i < n:
            # Fast path: a run of plain row characters in a clean row (not where a prefix may start).
            if not self._bad and not self._spaces and (self._buf or self._prefixed or not self._prefix):
                run = _ROW_RUN.match(data, i)
                if run is not None and run.end() - i <= MAX_ROW - len(self._buf):
                    self._buf += run.group()
                    self._after_cr = False
                    i = run.end()
                    continue
            self._byte(data[i], now, out)
            i += 1
        return out

    def _byte(self, b: int, now: float, out: list[Output]) -> None:
        prefix = self._prefix
        if prefix and not self._prefixed and not self._buf and not self._bad and not self._spaces:
            if b == prefix[self._matched]:
                self._matched += 1
                if self._matched == len(prefix):
                    self._matched = 0
                    self._prefixed = True
                self._after_cr = False
                return
            if self._matched:
                replay, self._matched = prefix[: self._matched], 0
                for p in replay:
                    self._plain(p, now, out)
                if self._buf or self._bad or self._spaces:
                    self._plain(b, now, out)
                else:
                    self._byte(b, now, out)
                return
        self._plain(b, now, out)

    def _plain(self, b: int, now: float, out: list[Output]) -> None:
        cls = CLASS[b]
        if cls == SEP_CR:
            self._end_row(now, out)
            self._after_cr = True
            return
        if cls == SEP_LF:
            if self._after_cr:
                self._after_cr = False
            else:
                self._end_row(now, out)
            return
        self._after_cr = False
        if cls == NOISE:
            if self._buf or self._bad:
                logger.debug("control or punctuation byte ends a partial row as noise", extra={"fields": {
                    "byte": b}})
            self._buf.clear()
            self._echo = 0
            self._spaces = 0
            self._bad = None
            self._prefixed = False
            return
        if cls == SPACE:
            if self._buf or self._bad:
                self._spaces += 1
            return
        if self._bad:
            return
        if self._spaces:
            self._bad = bad_byte_reason(0x20)
        elif cls == BAD:
            self._bad = bad_byte_reason(b)
        elif len(self._buf) >= MAX_ROW and self._echo < MAX_ECHO:
            del self._buf[0]  # perhaps a command echo glued to row 1: keep the row's last MAX_ROW
            self._echo += 1
            self._buf.append(b - 32 if cls == LOWER else b)
        elif len(self._buf) >= MAX_ROW:
            self._bad = f"oversize row (> {MAX_ROW + MAX_ECHO} characters)"
            logger.info("dropped an oversize row", extra={"fields": {"limit": MAX_ROW + MAX_ECHO}})
        else:
            self._buf.append(b - 32 if cls == LOWER else b)

    def _end_row(self, now: float, out: list[Output]) -> None:
        bad, row, glued = self._bad, self._buf.decode("ascii"), self._echo > 0 or len(self._buf) not in WIDTHS
        self._buf.clear()
        self._echo = 0
        self._spaces = 0
        self._bad = None
        self._matched = 0
        self._prefixed = False
        if bad:
            self._rows.clear()
            self._glued.clear()
            self._misread(bad, now, out)
        elif row:
            self._add_row(row, glued, now, out)
        else:
            self._end_block(now, out)  # an empty line

    def _add_row(self, row: str, glued: bool, now: float, out: list[Output]) -> None:
        rows, marks = self._rows, self._glued
        rows.append(row)
        marks.append(glued)
        if len(rows) > 3:
            rows.pop(0)
            marks.pop(0)
            self._misread("unpaired row dropped", now, out)
        for length, count, *_ in FORMATS:
            if len(rows) < count:
                continue
            block = rows[-count:]
            if marks[-count] and len(block[0]) > length:  # an echo glued to row 1: its tail is the row
                block = [block[0][-length:], *block[1:]]
            if shape_error(block) is None:
                if len(rows) > count:
                    self._misread("unpaired row dropped", now, out)
                if block[0] != rows[-count]:
                    logger.info("cut characters glued before row 1 (a command echo?)", extra={"fields": {
                        "count": len(rows[-count]) - length}})
                out.append(ReaderDocument(tuple(block), now))
                rows.clear()
                marks.clear()
                self._reported = False
                return

    def _misread(self, reason: str, now: float, out: list[Output]) -> None:
        if not self._reported:
            logger.info("misread", extra={"fields": {"reason": str(reason)}})
            out.append(Misread(reason, now))
            self._reported = True

    def _end_block(self, now: float, out: list[Output]) -> None:
        if self._rows:
            self._misread(shape_error(self._rows) or "incomplete block", now, out)
        self._rows.clear()
        self._glued.clear()
        self._reported = False

    def idle(self, now: float) -> list[Output]:
        """The line went quiet: emit the rows held as a block, or a misread when they are no MRZ."""
        out: list[Output] = []
        if self._matched:
            self._matched = 0
        if self._buf or self._bad:
            self._end_row(now, out)  # a last row without a separator
        self._end_block(now, out)
        self._after_cr = False
        return out


class StxEtxFramer(Framer):
    """``start`` rows ``end`` [BCC]: Access-IS (FS STX … ETX GS), DESKO CUTE, generic STX/ETX readers.

    Bytes outside frames are ignored. A frame whose start marker follows SO or RS is an Access-IS
    magnetic-stripe or barcode frame and is skipped. A new start marker inside a frame means the
    frame was truncated. With ``bcc=True`` one byte after the end marker is the XOR of every byte
    after the start marker through the end marker; a mismatch drops the frame. A marker (and the SO
    or RS before it) is also recognised with bit 7 set, as a 7E1 reader read as 8N1 sends it, so that
    such a read is reported as a misread (its rows hold bytes >= 0x80) instead of passing unseen.
    """

    MODE = "stx-etx"
    OPTIONS: ClassVar[dict[str, str]] = {"start": "HEX", "end": "HEX", "bcc": "none|xor"}

    def __init__(self, start: bytes = b"\x02", end: bytes = b"\x03", bcc: bool = False) -> None:
        self._start, self._end, self._bcc = start, end, bcc
        self._keep = max(len(start), len(end)) - 1  # bytes that may be the head of a split marker
        self._start_at, self._end_at = _marker_search(start), _marker_search(end)
        self._in_frame = self._foreign = False
        self.reset()

    @classmethod
    def option(cls, key: str, value: str) -> tuple[str, Any]:
        """``start=HEX``, ``end=HEX`` markers and ``bcc=none|xor``."""
        if key == "bcc":
            return key, choice_value("reader", {key: value}, key, ("none", "xor")) == "xor"
        return key, _hex(key, value)

    @classmethod
    def options(cls, query: Mapping[str, str]) -> dict[str, Any]:
        """The options given, and the markers (given or default) must differ."""
        args = super().options(query)
        if args.get("start", b"\x02") == args.get("end", b"\x03"):
            raise BadUrlError("reader options start and end must differ")
        return args

    def encode(self, rows: Sequence[str]) -> bytes:
        """The rows between the markers, with the BCC when configured."""
        body = b"\r".join(r.encode("ascii") for r in rows) + b"\r" + self._end
        return self._start + body + (bytes([reduce(xor, body, 0)]) if self._bcc else b"")

    def reset(self) -> None:
        """Forget a partial frame."""
        if self._in_frame and not self._foreign:
            logger.info("partial frame discarded")
        self._buf = bytearray()
        self._in_frame = False
        self._foreign = False  # a magnetic-stripe or barcode frame, skipped
        self._oversize = False
        self._last_outside = -1
        self._scan = 0  # bytes of buf searched already (less a marker's head): searched again by no one

    @property
    def pending(self) -> bool:
        """True while a frame has started and not ended."""
        return self._in_frame

    def idle(self, now: float) -> list[Output]:
        """The line went quiet inside a frame: a misread (truncated frame)."""
        out: list[Output] = []
        if self._in_frame and not self._foreign and not self._oversize:
            out.append(Misread("truncated frame (no end marker before the line went idle)", now))
            logger.info("misread: truncated frame")
        self.reset()
        return out

    def _parse(self, now: float, out: list[Output]) -> None:
        """Find frames between the markers, check the BCC; bytes outside frames are ignored.

        Linear in the bytes fed, however they are split: a search starts where the last one left off
        (``_scan``, less a marker's head) and, inside a frame, reaches no further than a frame may (a start
        or end marker within ``MAX_FRAME`` bytes), so one large read, or a stream of start markers, is not
        searched again for every frame in it."""
        buf, start, end = self._buf, self._start, self._end
        while buf:
            if not self._in_frame:
                i = self._start_at(buf, self._scan, len(buf))
                if i < 0:
                    cut = len(buf) - len(start) + 1
                    if cut > 0:
                        self._last_outside = buf[cut - 1]
                        del buf[:cut]
                    self._scan = 0
                    break
                prev = buf[i - 1] if i else self._last_outside
                self._foreign = prev & 0x7F in (SO, RS)  # bit 7 may be a parity bit (7E1 read as 8N1)
                self._oversize = False
                self._in_frame = True
                del buf[: i + len(start)]
                self._scan = 0
                continue
            # In a frame (buf holds what followed its start marker). Until it is oversize, a marker that
            # matters starts within MAX_FRAME bytes; past that the frame is garbage to skip to the next marker.
            reach = len(buf) if self._oversize else min(len(buf), MAX_FRAME + self._keep + 1)
            k = self._start_at(buf, self._scan, reach)
            j = self._end_at(buf, self._scan, k + len(end) if k >= 0 else reach)  # j <= k: the end marker wins
            if k >= 0 and j < 0:
                if not self._foreign and not self._oversize:
                    logger.info("misread: truncated frame")
                    out.append(
                        Misread("truncated frame (a new start marker came before the end marker)", now)
                    )
                self._in_frame = False
                del buf[:k]
                self._scan = 0
                continue
            if j < 0:
                if len(buf) > MAX_FRAME + self._keep:
                    if not self._oversize:
                        if not self._foreign:
                            logger.info("dropped an oversize frame without an end marker", extra={"fields": {
                                "limit": MAX_FRAME}})
                            out.append(Misread(f"oversize frame (> {MAX_FRAME} bytes)", now))
                        self._oversize = True
                        self._scan = reach - self._keep  # searched up to there: go on over the rest
                        continue
                    del buf[: len(buf) - self._keep]
                self._scan = max(0, len(buf) - self._keep)  # a marker's head may end the buffer
                break
            if j > MAX_FRAME:  # the same rule as a frame still open, whether its end came in this read or not
                if not self._foreign and not self._oversize:
                    logger.info("dropped an oversize frame", extra={"fields": {"limit": MAX_FRAME}})
                    out.append(Misread(f"oversize frame (> {MAX_FRAME} bytes)", now))
                self._oversize = True
                del buf[:j]  # bounded memory while its BCC byte is awaited
                j = 0
            has_bcc = self._bcc and not self._foreign
            need = j + len(end) + (1 if has_bcc else 0)
            if len(buf) < need:
                self._scan = j
                break
            frame = bytes(buf[:need])
            del buf[:need]
            self._scan = 0
            self._in_frame = False
            self._last_outside = frame[-1]
            if self._foreign or self._oversize:
                continue
            payload = frame[:j]
            if has_bcc and reduce(xor, frame[:-1], 0) != frame[-1]:
                logger.info("misread: BCC mismatch, frame dropped")
                out.append(Misread("BCC mismatch: frame dropped", now))
                continue
            out.append(document_from_payload(payload, now))


def _marker_search(marker: bytes) -> Callable[[bytearray, int, int], int]:
    """``find`` of ``marker`` in a buffer (-1 when absent) that also matches it with bit 7 set on its bytes:
    an ASCII reader set to 7E1 (some Access-IS units) and read as 8N1 sets bit 7 on every byte of odd weight,
    STX (0x02) arriving as 0x82. Its frames are still found, and their rows (holding such bytes too) make
    the read a misread naming 7E1, never a document and never silence (../shared/READERS.md)."""
    pattern = re.compile(b"".join(b"[" + re.escape(bytes([b])) + re.escape(bytes([b | 0x80])) + b"]" for b in marker))

    def find(buf: bytearray, start: int, end: int) -> int:
        """Like ``buf.find(marker, start, end)``."""
        found = pattern.search(buf, start, end)
        return -1 if found is None else found.start()

    return find


class _LengthFramer(Framer):
    """A framer of length-prefixed messages: the partial message is the whole state."""

    NAME = ""

    def reset(self) -> None:
        if getattr(self, "_buf", None):
            logger.info("partial message discarded", extra={"fields": {"framing": self.NAME}})
        self._buf = bytearray()

    @property
    def pending(self) -> bool:
        return bool(self._buf)


class RteFramer(_LengthFramer):
    """3M/Thales RTE native: ``SOH len_lo len_hi 'O' 'U' STX flag text ETX BCC``.

    ``text`` is three CR-terminated lines; the bottom MRZ row is always line 3, so a 2-row document
    starts with an empty line. Assumed (configurable, docs/readers.md): ``bcc="xor"`` is the XOR of
    every byte after SOH through ETX (``"ignore"``: present, unchecked; ``"none"``: absent);
    ``length="bcc"`` is a little-endian count of the bytes after the length word through the BCC
    (../shared/READERS.md; through ETX when there is no BCC), ``"etx"`` through ETX, ``"ignore"``
    unchecked. The flag byte is not interpreted.
    """

    NAME = "RTE"
    HEADER = 7  # SOH len_lo len_hi O U STX flag

    MODE = "rte"
    OPTIONS: ClassVar[dict[str, str]] = {"bcc": "xor|ignore|none", "length": "bcc|etx|ignore"}

    def __init__(self, bcc: str = "xor", length: str = "bcc") -> None:
        self._bcc, self._length = bcc, length
        self.reset()

    @classmethod
    def option(cls, key: str, value: str) -> tuple[str, Any]:
        """``bcc=xor|ignore|none`` and ``length=bcc|etx|ignore`` (what the length word counts)."""
        return key, choice_value("reader", {key: value}, key, tuple(cls.OPTIONS[key].split("|")))

    def encode(self, rows: Sequence[str]) -> bytes:
        """One document as an RTE message: header, length word, rows, BCC."""
        data = [r.encode("ascii") for r in rows]
        text = b"".join(r + b"\r" for r in ([b""] if len(data) == 2 else []) + data)
        tail = b"OU\x02" + b"0" + text + b"\x03"
        n = len(tail) + (1 if self._length == "bcc" and self._bcc != "none" else 0)
        body = bytes([n & 0xFF, n >> 8]) + tail
        return b"\x01" + body + (b"" if self._bcc == "none" else bytes([reduce(xor, body, 0)]))

    def idle(self, now: float) -> list[Output]:
        """The line went quiet inside a message: a misread (truncated message)."""
        out: list[Output] = []
        if len(self._buf) >= self.HEADER:
            logger.info("misread: truncated RTE message")
            out.append(Misread("truncated RTE message (no ETX before the line went idle)", now))
        self._buf.clear()
        return out

    def _parse(self, now: float, out: list[Output]) -> None:
        """Assemble RTE messages by their length word and check each BCC."""
        buf = self._buf
        while buf:
            i = buf.find(SOH)
            if i < 0:
                buf.clear()
                break
            del buf[:i]
            if len(buf) < self.HEADER:
                break
            if buf[3:6] != b"OU\x02":
                del buf[:1]  # an SOH in noise, not a message header: resynchronise
                continue
            j = buf.find(ETX, self.HEADER)
            if j < 0 or j > MAX_FRAME + self.HEADER:  # an ETX past the limit ends an oversize message too
                if len(buf) > MAX_FRAME + self.HEADER:
                    logger.info("dropped an oversize RTE message", extra={"fields": {"limit": MAX_FRAME}})
                    out.append(Misread(f"oversize RTE message (> {MAX_FRAME} bytes)", now))
                    del buf[:1]
                    continue
                break
            need = j + (0 if self._bcc == "none" else 1) + 1
            if len(buf) < need:
                break
            frame = bytes(buf[:need])
            del buf[:need]
            out.append(self._message(frame, j, now))

    def _message(self, frame: bytes, etx: int, now: float) -> Output:
        declared = frame[1] | frame[2] << 8
        if self._length != "ignore":
            actual = (etx + 1 if self._length == "etx" else len(frame)) - 3
            if declared != actual:
                logger.info("misread: RTE length word disagrees with the message", extra={"fields": {
                    "declared": declared, "counted": actual}})
                return Misread(f"RTE length word {declared} does not match {actual} bytes", now)
        if self._bcc == "xor" and reduce(xor, frame[1 : etx + 1], 0) != frame[-1]:
            logger.info("misread: RTE BCC mismatch, message dropped")
            return Misread("BCC mismatch: frame dropped", now)
        text = frame[self.HEADER : etx]
        lines = text.split(b"\r")
        if len(lines) != 4 or lines[3] != b"":
            return Misread(f"RTE text holds {len(lines) - 1} CR-terminated lines, expected 3", now)
        if lines[0] == b"":
            lines = lines[1:]
        return document_from_payload(b"\r".join(lines[:3]), now)


class TlvFramer(_LengthFramer):
    """Elyctis ID BOX: ``type(1) length(2, big-endian) data``; ``type`` (default ``I``) carries the MRZ.

    MRZ payload rows end in CR and the payload ends CR CR. Other types are skipped. There is no sync
    marker, so a length beyond any plausible message, or an MRZ message not ending CR CR, means lost
    sync: skip one byte and look again (also when the line goes idle with a partial message).
    """

    max_buffered = 3 + MAX_OTHER_TLV + 3 + MAX_FRAME  # another message, an MRZ header inside it

    NAME = "TLV"

    MODE = "tlv"
    OPTIONS: ClassVar[dict[str, str]] = {"type": "HEX"}

    def __init__(self, mrz_type: int = 0x49) -> None:
        self._type = mrz_type
        self.reset()

    @classmethod
    def option(cls, key: str, value: str) -> tuple[str, Any]:
        """``type=HEX``: the tag of the MRZ record (default 49)."""
        data = _hex(key, value)
        if len(data) != 1:
            raise BadUrlError(f"reader option type={value!r}: expected one byte in hex, e.g. type=49")
        return "mrz_type", data[0]

    def encode(self, rows: Sequence[str]) -> bytes:
        """One document as a type-length-value record."""
        payload = b"".join(r.encode("ascii") + b"\r" for r in rows) + b"\r"
        return bytes([self._type, len(payload) >> 8, len(payload) & 0xFF]) + payload

    def _parse(self, now: float, out: list[Output]) -> None:
        """Assemble TLV records by their length and emit the MRZ ones."""
        buf = self._buf
        while len(buf) >= 3:
            kind, length = buf[0], buf[1] << 8 | buf[2]
            if length > (MAX_FRAME if kind == self._type else MAX_OTHER_TLV):
                logger.debug("TLV record over the length limit: resynchronising", extra={"fields": {
                    "type": kind, "length": length}})
                del buf[:1]
                continue
            if kind != self._type:
                inner = self._mrz_inside(3 + length)
                if inner is None:
                    return  # an MRZ message may start inside this one: wait for its end
                if inner:
                    del buf[:inner]  # the "message" was noise that swallowed a real header
                    continue
            if len(buf) < 3 + length:
                return
            payload = bytes(buf[3 : 3 + length])
            if kind == self._type and not payload.endswith(b"\r\r"):
                del buf[:1]
                continue
            del buf[: 3 + length]
            if kind == self._type:
                out.append(document_from_payload(payload, now))

    def _mrz_inside(self, end: int) -> int | None:
        """Offset of a complete MRZ message starting inside ``buf[1:end]``; 0 if none, None if unsure."""
        buf = self._buf
        at = buf.find(self._type, 1, end)
        while at >= 0:
            if len(buf) < at + 3:
                return None
            length = buf[at + 1] << 8 | buf[at + 2]
            if length <= MAX_FRAME:
                if len(buf) < at + 3 + length:
                    return None
                if buf[at + 3 : at + 3 + length].endswith(b"\r\r"):
                    return at
            at = buf.find(self._type, at + 1, end)
        return 0

    def idle(self, now: float) -> list[Output]:
        """The line went quiet inside a record: a misread (truncated record)."""
        out: list[Output] = []
        while self._buf:  # bounded: the buffer never exceeds max_buffered bytes
            del self._buf[:1]
            self._parse(now, out)
        return out


#: The framing modes of a reader URL (``framing=MODE``), the one place that maps a mode to its framer.
FRAMERS: dict[str, type[Framer]] = {cls.MODE: cls for cls in (LinesFramer, StxEtxFramer, RteFramer, TlvFramer)}
#: Every framing option of the reader URL grammar, with its values.
FRAMING_OPTIONS: dict[str, str] = {"framing": "|".join(FRAMERS)} | {
    name: " or ".join(dict.fromkeys(cls.OPTIONS[name] for cls in FRAMERS.values() if name in cls.OPTIONS))
    for cls in FRAMERS.values()
    for name in cls.OPTIONS
}


@dataclass(frozen=True)
class FramingSpec:
    """A framing mode and its constructor arguments, parsed from a reader URL's query (docs/readers.md)."""

    mode: str = "lines"
    arguments: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in FRAMERS:
            raise BadUrlError(f"framing mode {self.mode!r} unknown; known: {', '.join(FRAMERS)}")

    def framer(self) -> Framer:
        """A fresh framer for this mode."""
        return FRAMERS[self.mode](**dict(self.arguments))

    def encode(self, rows: Sequence[str]) -> bytes:
        """One document as a reader in this mode sends it (the simulator's and the tests' side)."""
        return self.framer().encode(rows)


def _hex(key: str, value: str) -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError:
        data = b""
    if not data or len(data) > 4:
        raise BadUrlError(f"reader option {key}={value!r}: expected 1 to 4 bytes in hex, e.g. {key}=02")
    return data


def parse_framing(query: Mapping[str, str]) -> tuple[FramingSpec, dict[str, str]]:
    """Split a reader URL query into the framing spec and the remaining (backend) options.

    Raises BadUrlError naming the offending key or value and the expected form; an unknown mode
    lists the known modes with their options.
    """
    rest = dict(query)
    mode = rest.pop("framing", "lines")
    cls = FRAMERS.get(mode)
    if cls is None:
        known = ", ".join(f"{m} ({'&'.join(f'{k}={v}' for k, v in c.OPTIONS.items())})" for m, c in FRAMERS.items())
        raise BadUrlError(f"reader option framing={mode!r}: expected one of {known}")
    for key in [k for k in rest if k in FRAMING_OPTIONS]:
        if key not in cls.OPTIONS:
            raise BadUrlError(
                f"reader option {key}={rest[key]!r} does not apply to framing={mode}; "
                f"it takes: {', '.join(sorted(cls.OPTIONS)) or 'nothing'}"
            )
    mine = {key: rest.pop(key) for key in cls.OPTIONS if key in rest}
    return FramingSpec(mode, tuple(cls.options(mine).items())), rest
