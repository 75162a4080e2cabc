"""Listed records as files hold them: the one reader of the JSON Lines (and CSV) records that
``sharaka-hitlist build --from``, the in-memory list of a lab gate and the centre's online-query
records all read (docs/hitlist.md "Records").

    >>> reader = RecordsReader.open("listed.jsonl")
    >>> with reader.located():               # BadDataError raised inside names 'listed.jsonl:7'
    ...     for record in reader: use(record)

JSON Lines: one object per line; blank lines and lines starting with ``#`` are skipped. CSV: a
header row naming ``kind`` and only ``CSV_FIELDS``, comma-separated, empty cells left out. A UTF-8 byte
order mark (a spreadsheet's export) is skipped. A line that is not a JSON object, a CSV header with
another column or a row with more cells than the header raises ``BadDataError`` naming the file and
line (a shifted row would sign a record other than the one meant); so does any ``BadDataError`` a
consumer raises about the record while ``located()`` is active.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from agent.errors import BadDataError

CSV_FIELDS = (
    "kind",
    "issuing_state",
    "document_number",
    "surname",
    "given_names",
    "birth_date",
    "vin",
    "plate",
    "country",
    "reason",
    "ref",
    "list",  # an early warning's listings (docs/protocol.md "Early warnings"); a list file ignores both
    "version",
)


class RecordsReader:
    """Iterates the records of ``stream`` (``fmt``: ``auto``, ``jsonl`` or ``csv``); ``where`` is the
    ``name:line`` of the record last returned."""

    def __init__(self, stream: IO[str], fmt: str = "auto", name: str = "records") -> None:
        if fmt not in ("auto", "jsonl", "csv"):
            raise BadDataError(f"records format {fmt!r}: expected 'auto', 'jsonl' or 'csv'")
        self._stream, self._fmt, self.name = stream, fmt, name
        self.line = 0

    @classmethod
    def open(cls, path: str | Path, fmt: str = "auto") -> RecordsReader:
        """A reader of the file at ``path`` (closed when iteration ends). Raises OSError when unreadable."""
        return cls(Path(path).open(encoding="utf-8-sig"), fmt, str(path))

    @property
    def where(self) -> str:
        """``file:line`` of the record being read, for error messages."""
        return f"{self.name}:{self.line}"

    @contextlib.contextmanager
    def located(self) -> Iterator[None]:
        """Prefix ``where`` to a BadDataError raised inside (unless it already names it)."""
        try:
            yield
        except BadDataError as exc:
            if str(exc).startswith(f"{self.name}:"):
                raise
            raise BadDataError(f"{self.where}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise BadDataError(f"{self.name}: not UTF-8 text ({exc.reason} near line {self.line + 1})") from None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            first = self._stream.readline()
            fmt = self._fmt
            if fmt == "auto":
                fmt = "jsonl" if first.lstrip().startswith(("{", "#")) or not first.strip() else "csv"
            yield from self._csv(first) if fmt == "csv" else self._jsonl(first)
        finally:
            self._stream.close()

    def _jsonl(self, first: str) -> Iterator[dict[str, Any]]:
        lines = iter(self._stream)
        line: str | None = first
        while line is not None:
            self.line += 1
            text = line.strip()
            line = next(lines, None)
            if not text or text.startswith("#"):
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BadDataError(f"{self.where}: not a JSON record ({exc.msg}): {text[:60]!r}") from None
            if not isinstance(record, dict):
                raise BadDataError(f"{self.where}: expected a JSON object, got {text[:60]!r}")
            yield record

    def _csv(self, first: str) -> Iterator[dict[str, Any]]:
        rows = csv.DictReader(io.StringIO(first + self._stream.read()))
        header = list(rows.fieldnames or ())  # the first line, read once by the reader of every row
        unknown = [name for name in header if name not in CSV_FIELDS]
        self.line = 1
        if unknown or "kind" not in header:
            problem = f"unknown column(s) {', '.join(repr(n[:60]) for n in unknown)}" if unknown else "no 'kind' column"
            raise BadDataError(f"{self.where}: CSV header: {problem}; expected comma-separated column names, "
                               f"'kind' and any of {', '.join(CSV_FIELDS[1:])}")
        try:
            for row in rows:
                self.line = rows.line_num
                if None in row:  # DictReader's key for the cells beyond the header's
                    raise BadDataError(f"{self.where}: {len(header) + len(row[None])} cells, the header names "
                                       f"{len(header)} (a comma inside a value needs \"quotes\")")
                yield {k: v for k, v in row.items() if v not in (None, "")}
        except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB limit
            self.line += 1
            raise BadDataError(f"{self.where}: not CSV: {exc}") from None
