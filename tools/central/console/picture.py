"""The regional intelligence picture: searches and hits per crossing point, per day and hour, per list and
reason, per issuing state; trends; crossing points with unusual hit rates; CSV.

    >>> picture = Picture(store)
    >>> picture.rollup()                          # new events -> picture_facts (run by the console every few s)
    >>> picture.summary(days=7, now=now)          # what the page draws, as plain lists and dicts
    >>> picture.csv(days=7, now=now)              # one row per crossing point, day, hour, list, reason, state

Facts: the rollup decodes each stored event once and keeps the fields the picture counts (crossing point =
the site the gate reports, UTC day and hour of the decision, hit or not, list, reason, issuing state) in
``picture_facts``, keyed like events by (gate, message id), so a rescan never counts an event twice. It scans
by ``events.rowid`` from the mark it reached ``LAG_S`` seconds earlier: an event committed by a slow worker
with a lower rowid than one already seen is still picked up if it commits within that time. Counting is then
SQL ``GROUP BY`` over the facts, the same statements on SQLite and PostgreSQL (``CentralStore.query``).

Unusual hit rate (stated on the page): a crossing point is flagged when, over the period, it made at least
``MIN_SEARCHES`` searches and its hit rate is at least ``FACTOR`` times the higher of its own baseline (its rate
over the ``BASELINE_DAYS`` days before the period) and the regional rate over the period, and at least
``MIN_HITS`` hits. Both comparisons are needed: a point busy with hits every day is not news, and a point
above its own quiet baseline but still below the region is not either.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import Any

import msgpack

from agent.screening.events import decode_event
from agent.web.i18n import shown
from tools.central.console.records import submap
from tools.central.store import CentralStore, event_day

BATCH = 5000  # events decoded per rollup query
LAG_S = 30.0
FACTOR = 3.0
MIN_SEARCHES = 20
MIN_HITS = 3
BASELINE_DAYS = 28
CSV_COLUMNS = ("site", "day", "hour", "list_id", "reason", "issuing_state", "searches", "hits")


def facts_of(row: dict[str, Any]) -> tuple[Any, ...] | None:
    """The picture's fields of one stored event, or None when it is not a search (an officer action, an alert
    receipt, an unreadable body)."""
    try:
        event = decode_event(bytes(row["body"]))
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if event.get("type") != "decision":
        return None
    wall = event.get("wall")
    if not isinstance(wall, (int, float)):
        wall = row["created"] or row["received"]
    hit = submap(event, "hit")
    matches = [m for m in event.get("matches") or [] if isinstance(m, dict)]
    mrz = submap(event, "mrz")
    entry = submap(event, "entry")
    is_hit = bool(row["is_hit"]) or event.get("decision") == "HIT"
    return (row["gate_id"], row["msg_id"], event_day(wall), time.gmtime(wall).tm_hour,
            str(event.get("site", ""))[:64], int(is_hit), str(matches[0].get("list", ""))[:64] if matches else "",
            str(hit.get("reason", ""))[:64] if is_hit else "",
            str(mrz.get("issuing_state") or entry.get("issuing_state") or "")[:3])


class Picture:
    """Rollup and queries of the regional picture; see the module docstring."""

    def __init__(self, store: CentralStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._marks: list[tuple[float, int]] = []  # (when, highest rowid seen then), oldest first

    def rollup(self) -> int:
        """Add the facts of events stored since the last rollup (see the module docstring); returns how many."""
        now = self._clock()
        while len(self._marks) > 1 and self._marks[1][0] <= now - LAG_S:
            self._marks.pop(0)  # keep the newest mark at least LAG_S old, and every newer one
        high = self._marks[0][1] if self._marks else 0
        added = 0
        while True:
            rows = self.store.query(
                "SELECT e.rowid AS r, e.gate_id, e.msg_id, e.is_hit, e.kind, e.created, e.received, e.body"
                " FROM events e WHERE e.rowid > ? AND NOT EXISTS (SELECT 1 FROM picture_facts f"
                " WHERE f.gate_id = e.gate_id AND f.msg_id = e.msg_id) ORDER BY e.rowid LIMIT ?", (high, BATCH))
            facts = [f for f in map(facts_of, rows) if f is not None]
            with self.store.transaction():
                for f in facts:
                    added += self.store.execute(
                        "INSERT INTO picture_facts (gate_id, msg_id, day, hour, site, is_hit, list_id, reason,"
                        " issuing_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", f)
            if rows:
                high = max(high, max(int(r["r"]) for r in rows))
            if len(rows) < BATCH:
                break
        self._marks.append((now, max(high, self._marks[-1][1] if self._marks else 0)))
        return added

    def _where(self, days: int, now: float) -> tuple[str, tuple[Any, ...]]:
        return " WHERE day >= ? AND day <= ?", (event_day(now - (days - 1) * 86400), event_day(now))

    def _group(self, columns: str, days: int, now: float, order: str | None = None) -> list[dict[str, Any]]:
        where, args = self._where(days, now)
        rows = self.store.query(f"SELECT {columns}, COUNT(*) AS searches, SUM(is_hit) AS hits FROM picture_facts"
                                f"{where} GROUP BY {columns} ORDER BY {order or columns}", args)
        for r in rows:
            r["hits"] = int(r["hits"] or 0)
            if "day" in r:
                r["day"] = str(r["day"])
        return rows

    def summary(self, days: int = 7, now: float | None = None) -> dict[str, Any]:
        """Everything the picture page draws for the last ``days`` days (UTC), as JSON-ready lists."""
        now = self._clock() if now is None else now
        where, args = self._where(days, now)
        hits_where = where + " AND is_hit = 1"
        return {
            "days": days,
            "per_site": self._group("site", days, now),
            "per_day": self._group("day", days, now),
            "per_hour": self._group("hour", days, now),
            "per_list_reason": [
                {**r, "hits": int(r["hits"])} for r in self.store.query(
                    "SELECT list_id, reason, COUNT(*) AS hits FROM picture_facts" + hits_where
                    + " GROUP BY list_id, reason ORDER BY hits DESC, list_id, reason", args)],
            "per_state": self._group("issuing_state", days, now, "searches DESC, issuing_state"),
            "unusual": self.unusual(days, now),
            "rule": {"factor": FACTOR, "min_searches": MIN_SEARCHES, "min_hits": MIN_HITS,
                     "baseline_days": BASELINE_DAYS},
        }

    def unusual(self, days: int, now: float) -> list[dict[str, Any]]:
        """Crossing points whose hit rate over the period is unusual (the rule of the module docstring)."""
        period = self._group("site", days, now)
        searches = sum(r["searches"] for r in period)
        regional = sum(r["hits"] for r in period) / searches if searches else 0.0
        base_from, base_to = now - (days + BASELINE_DAYS - 1) * 86400, now - days * 86400
        baseline = {r["site"]: r for r in self.store.query(
            "SELECT site, COUNT(*) AS searches, SUM(is_hit) AS hits FROM picture_facts WHERE day >= ? AND day <= ?"
            " GROUP BY site", (event_day(base_from), event_day(base_to)))}
        out = []
        for r in period:
            rate = r["hits"] / r["searches"]
            base = baseline.get(r["site"])
            own = int(base["hits"] or 0) / base["searches"] if base else 0.0
            if r["searches"] >= MIN_SEARCHES and r["hits"] >= MIN_HITS and rate >= FACTOR * max(own, regional):
                out.append({"site": r["site"], "searches": r["searches"], "hits": r["hits"], "rate": rate,
                            "baseline_rate": own, "regional_rate": regional})
        return out

    def csv(self, days: int = 7, now: float | None = None) -> str:
        """The period's counts per crossing point, day, hour, list, reason and issuing state, as CSV text."""
        now = self._clock() if now is None else now
        rows = self._group("site, day, hour, list_id, reason, issuing_state", days, now)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([_cell(r[c]) for c in CSV_COLUMNS])
        return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP "CSV injection") and whose bidirectional
    controls show as U+FFFD, as on the pages (``i18n.shown``): a gate's reason or crossing point cannot reorder a
    spreadsheet's row."""
    value = shown(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
