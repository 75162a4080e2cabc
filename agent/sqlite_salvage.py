"""Read the records a damaged SQLite file still holds, page by page, as SQLite's own ``.recover`` does.

    found = salvage_records(path)      # never raises for damage: what cannot be read is counted
    for rowid, values in found.records: ...
    found.damaged                      # pages and cells that could not be read

SQLite reaches a row through the b-tree from its root, so one damaged interior page (or a scribbled file
header) hides every row below it, and a full scan stops at the first bad page. Here every page is parsed on
its own: each page that is a table leaf (type 0x0D) gives its cells' rowids and records, following their
overflow chains. The file's header gives the page size (when it is gone: the ``-wal``'s, else 4096). The
committed frames of the ``-wal`` (salts and checksums verified; frames after the last commit ignored)
replace the main file's version of their pages, as SQLite would read them; pages on the freelist are
skipped, so rows deleted and checkpointed long ago do not come back (a deleted row's old page may still
be read when the freelist itself is damaged: a caller that resends must tolerate a duplicate).
Values are None, int, float, str (undecodable UTF-8 replaced) or bytes. File format:
https://www.sqlite.org/fileformat2.html.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"SQLite format 3\x00"
TABLE_LEAF = 0x0D
WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums in little-, big-endian words
DEFAULT_PAGE = 4096


class Damaged(Exception):
    """A page or cell does not parse (internal: counted, never raised to the caller)."""


@dataclass
class Salvaged:
    """What ``salvage_records`` read."""

    records: list[tuple[int, list[Any]]] = field(default_factory=list)  # (rowid, column values)
    damaged: int = 0  # table-leaf pages or cells that could not be read, and pages cut off the file's end
    page_size: int = DEFAULT_PAGE


def salvage_records(path: Path) -> Salvaged:
    """Every readable record of every table in the SQLite file at ``path`` (and its ``-wal``)."""
    path = Path(path)
    data = path.read_bytes() if path.exists() else b""
    wal = Path(f"{path}-wal")
    wal_data = wal.read_bytes() if wal.exists() else b""
    header_ok = data.startswith(MAGIC) and len(data) >= 100
    page_size = _page_size(data) if header_ok else 0
    wal_pages, wal_page_size = _wal_pages(wal_data)
    page_size = page_size or wal_page_size or DEFAULT_PAGE
    reserved = data[20] if header_ok else 0
    pages = _Pages(data, page_size, wal_pages)
    out = Salvaged(page_size=page_size)
    if header_ok and data[24:28] == data[92:96]:  # the header's page count is current: a shorter file was cut
        out.damaged += max(0, struct.unpack_from(">I", data, 28)[0] - len(data) // page_size)
    free = _freelist(pages, data, header_ok)
    usable = page_size - reserved
    for number in pages.numbers():
        if number in free:
            continue
        page = pages.get(number)
        start = 100 if number == 1 else 0
        if page is None or len(page) <= start or page[start] != TABLE_LEAF:
            continue
        try:
            cells = _cell_pointers(page, start)
        except Damaged:
            out.damaged += 1
            continue
        for pointer in cells:
            try:
                out.records.append(_cell(page, pointer, usable, pages))
            except (Damaged, IndexError, struct.error, UnicodeError):
                out.damaged += 1
    return out


class _Pages:
    """Pages by number (1-based): the newest committed ``-wal`` frame of a page, else the main file's."""

    def __init__(self, data: bytes, page_size: int, wal_pages: dict[int, bytes]) -> None:
        self.data, self.size, self.wal = data, page_size, wal_pages

    def numbers(self) -> Iterator[int]:
        yield from sorted(set(range(1, len(self.data) // self.size + 1)) | set(self.wal))

    def get(self, number: int) -> bytes | None:
        if number in self.wal:
            return self.wal[number]
        if number < 1 or number * self.size > len(self.data):
            return None
        return self.data[(number - 1) * self.size: number * self.size]


def _page_size(data: bytes) -> int:
    size = struct.unpack_from(">H", data, 16)[0]
    size = 65536 if size == 1 else size
    return size if 512 <= size <= 65536 and size & (size - 1) == 0 else 0


def _wal_pages(wal: bytes) -> tuple[dict[int, bytes], int]:
    """The pages of every committed transaction in ``wal`` (a later frame of a page wins), and its page size."""
    if len(wal) < 32:
        return {}, 0
    magic, _version, size, _ckpt, salt1, salt2 = struct.unpack_from(">6I", wal, 0)
    if magic not in WAL_MAGIC or not 512 <= size <= 65536 or size & (size - 1):
        return {}, 0
    order = ">" if magic & 1 else "<"
    sums = _checksum(wal[:24], order, 0, 0)
    if sums != struct.unpack_from(">2I", wal, 24):
        return {}, size
    committed: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    offset = 32
    while offset + 24 + size <= len(wal):
        number, commit, s1, s2, c1, c2 = struct.unpack_from(">6I", wal, offset)
        page = wal[offset + 24: offset + 24 + size]
        if (s1, s2) != (salt1, salt2):
            break
        sums = _checksum(page, order, *_checksum(wal[offset: offset + 8], order, *sums))
        if sums != (c1, c2):
            break  # a torn or stale frame: nothing after it was committed in this WAL generation
        pending[number] = page
        if commit:
            committed.update(pending)
            pending = {}
        offset += 24 + size
    return committed, size


def _checksum(data: bytes, order: str, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _freelist(pages: _Pages, data: bytes, header_ok: bool) -> set[int]:
    """Page numbers on the freelist (trunks and leaves), as far as the chain can be read."""
    if not header_ok:
        return set()
    first = pages.get(1)
    header = first if first is not None and first.startswith(MAGIC) else data
    trunk, count = struct.unpack_from(">II", header, 32)
    free: set[int] = set()
    while trunk and trunk not in free and len(free) <= count:
        page = pages.get(trunk)
        if page is None:
            break
        free.add(trunk)
        nxt, leaves = struct.unpack_from(">II", page, 0)
        if 8 + 4 * leaves > len(page):
            break
        free.update(struct.unpack_from(f">{leaves}I", page, 8))
        trunk = nxt
    return free


def _cell_pointers(page: bytes, start: int) -> tuple[int, ...]:
    if len(page) < start + 8:
        raise Damaged("short page")
    count = struct.unpack_from(">H", page, start + 3)[0]
    end = start + 8 + 2 * count
    if end > len(page):
        raise Damaged(f"{count} cells do not fit the page")
    pointers = struct.unpack_from(f">{count}H", page, start + 8)
    if any(not end <= p < len(page) for p in pointers):
        raise Damaged("cell pointer outside the cell area")
    return pointers


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for k in range(8):
        byte = buf[i + k]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + k + 1
    return (value << 8) | buf[i + 8], i + 9


def _cell(page: bytes, at: int, usable: int, pages: _Pages) -> tuple[int, list[Any]]:
    """(rowid, values) of the table-leaf cell at ``at``, its payload gathered from its overflow chain."""
    size, i = _varint(page, at)
    rowid, i = _varint(page, i)
    rowid = rowid - (1 << 64) if rowid >= 1 << 63 else rowid
    most = usable - 35
    if size <= most:
        local = size
    else:
        least = (usable - 12) * 32 // 255 - 23
        local = least + (size - least) % (usable - 4)
        local = local if local <= most else least
    payload = bytearray(page[i: i + local])
    if len(payload) != local:
        raise Damaged("cell runs past its page")
    if local < size:
        nxt, seen = struct.unpack_from(">I", page, i + local)[0], set()
        while len(payload) < size:
            overflow = pages.get(nxt)
            if overflow is None or nxt in seen:
                raise Damaged(f"overflow page {nxt} missing or looped")
            seen.add(nxt)
            payload += overflow[4: 4 + min(usable - 4, size - len(payload))]
            nxt = struct.unpack_from(">I", overflow, 0)[0]
    return rowid, _record(bytes(payload))


_INT_BYTES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _record(payload: bytes) -> list[Any]:
    header_size, i = _varint(payload, 0)
    if not 1 <= header_size <= len(payload):
        raise Damaged("record header size out of range")
    types = []
    while i < header_size:
        kind, i = _varint(payload, i)
        types.append(kind)
    values: list[Any] = []
    at = header_size
    for kind in types:
        if kind == 0:
            values.append(None)
        elif kind in _INT_BYTES:
            n = _INT_BYTES[kind]
            values.append(int.from_bytes(payload[at: at + n], "big", signed=True))
            at += n
        elif kind == 7:
            values.append(struct.unpack_from(">d", payload, at)[0])
            at += 8
        elif kind in (8, 9):
            values.append(kind - 8)
        elif kind >= 12:
            n = (kind - 12) // 2
            raw = payload[at: at + n]
            values.append(raw.decode("utf-8", "replace") if kind % 2 else raw)
            at += n
        else:
            raise Damaged(f"reserved serial type {kind}")
        if at > len(payload):
            raise Damaged("record runs past its payload")
    return values
