"""The centre's answers to online queries (FIND; docs/protocol.md "Online query"): its *current* lists.

    online = OnlineLists(Path("lists"), published=server.newest)
    online.scan()                        # (re)load every changed records file; a bad one keeps the last good
    found = online.lookup({"document": ["UTO", "L898902C3"], "person": [...], "vehicle": "..."})

Layout, next to the signed files that ``HitListServer`` ships (``LISTS/{list_id}/``):

- ``records.jsonl``: the list's records as the operators keep them (the ``sharaka-hitlist build --from``
  format). The centre answers from this file as it is now, so an entry added a minute ago is found online
  before the next snapshot or delta is built and published;
- ``online-only`` (an empty marker file): the list is answered online and never shipped: ``HitListServer``
  serves no file and no head of it (too large or too sensitive for gates).

``--records FILE`` of ``sharaka-central run`` adds one more list, ``records``. The version reported for a
list is the newest version published to gates (0 for an online-only list): the centre's answer covers that
version and every entry added since. Lookups use the same normalisers as the gates' lists
(``agent.hitlist.memory.MemoryHitList``), so a person matches online exactly when they would match locally.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import BadDataError
from agent.hitlist.api import Hit
from agent.hitlist.memory import MemoryHitList
from agent.mrz.checkdigit import lookalike_numbers
from agent.protocol import topics
from agent.screening.sources import lookalike_hit

logger = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
ONLINE_ONLY = "online-only"


def is_online_only(list_dir: Path) -> bool:
    """Whether the list in ``list_dir`` is answered online only and never shipped to gates."""
    return (list_dir / ONLINE_ONLY).exists()


@dataclass(frozen=True)
class OnlineHit:
    """A hit found online: the entry, the list it is on, and every (list id, version) consulted."""

    hit: Hit | None
    list_id: str
    lists: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class _Loaded:
    hitlist: MemoryHitList
    stamp: tuple[int, int]  # (mtime_ns, size) of the file loaded


class OnlineLists:
    """Every list's current records, reloaded when their file changes; thread-safe lookups."""

    def __init__(self, root: Path | None = None, *, extra: Mapping[str, Path] | None = None,
                 published: Callable[[str], int] = lambda _list_id: 0) -> None:
        self.root = Path(root) if root is not None else None
        self._extra = dict(extra or {})
        self._published = published
        self._lists: dict[str, _Loaded] = {}
        self._lock = threading.Lock()
        self.scan()

    def _files(self) -> dict[str, Path]:
        files = dict(self._extra)
        if self.root is not None and self.root.is_dir():
            for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
                try:
                    topics.check_id(d.name, "list id")
                except ValueError:
                    continue
                if (d / RECORDS_FILE).is_file():
                    files[d.name] = d / RECORDS_FILE
        return files

    def scan(self) -> None:
        """Load the records files that are new or changed. A file that does not load is reported and the
        list keeps its last good records (never an empty list because of a typo)."""
        loaded = dict(self._lists)
        files = self._files()
        for list_id in [k for k in loaded if k not in files]:
            del loaded[list_id]
        for list_id, path in files.items():
            try:
                st = path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
                if list_id in loaded and loaded[list_id].stamp == stamp:
                    continue
                loaded[list_id] = _Loaded(MemoryHitList.from_file(path, list_id=list_id), stamp)
            except (OSError, BadDataError) as exc:
                logger.error("online list %s not reloaded, the last good records stay: %s", list_id, exc)
        with self._lock:
            self._lists = loaded

    @property
    def list_ids(self) -> list[str]:
        """The lists answered online."""
        return sorted(self._lists)

    def lookup(self, fields: Mapping[str, Any]) -> OnlineHit:
        """The best hit (exact before weak) on any list for the ``document`` [state, number], ``person``
        [surname, given names, birth date, truncated] and ``vehicle`` VIN given; the person's name is also read in
        the orthography of the document's issuing state, as the gate's own list reads it (docs/names.md, "Version
        6"). A malformed field finds nothing (the gate's own list judges it); raises nothing on query content."""
        with self._lock:
            lists = dict(self._lists)
        consulted = tuple((list_id, self._published(list_id)) for list_id in sorted(lists))
        weak: tuple[Hit, str] | None = None
        for list_id in sorted(lists):
            for hit in _hits(lists[list_id].hitlist, fields):
                if hit.strength == "exact":
                    return OnlineHit(hit, list_id, consulted)
                weak = weak or (hit, list_id)
        if weak is not None:
            return OnlineHit(weak[0], weak[1], consulted)
        return OnlineHit(None, "", consulted)


def _hits(hitlist: MemoryHitList, fields: Mapping[str, Any]) -> list[Hit]:
    lookups: list[Callable[[], Hit | None]] = []
    document, person, vehicle = fields.get("document"), fields.get("person"), fields.get("vehicle")
    state = ""  # the issuing state of the document the person was read from; none for a name entered by hand
    if isinstance(document, list) and len(document) == 2:
        state = str(document[0])
        lookups.append(lambda: hitlist.lookup_document(str(document[0]), str(document[1])))
        lookups.append(lambda: lookalike_hit(hitlist, state, lookalike_numbers(str(document[1]))))
    if isinstance(person, list) and len(person) == 4:
        lookups.append(lambda: hitlist.lookup_person(str(person[0]), str(person[1]), str(person[2]),
                                                     truncated=bool(person[3]), issuing_state=state))
    if isinstance(vehicle, str):
        lookups.append(lambda: hitlist.lookup_vehicle(vehicle))
    found = []
    for lookup in lookups:
        try:
            hit = lookup()
        except (BadDataError, ValueError, TypeError):
            continue
        if hit is not None:
            found.append(hit)
    return found
