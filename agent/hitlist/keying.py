"""Which person keys one traveller costs, and their slow fingerprints on several threads, the caller never held
up by a late helper (docs/hitlist.md "Keying on every core", docs/names.md "Transposed birth dates" and "Partly
unknown birth dates").

    >>> keys = person_lookup_keys("MOHAMMED", "AHMAD", "850703")   # the name keys x the date, a few swapped, masked
    >>> PersonKeyer(threads=2).fingerprints(fp_keys, keys)        # == [person_fingerprint(...) for each key]

``person_lookup_keys`` is the one list of lookups a traveller makes, for every list that holds persons (the
signed store, the in-memory list and the centre's online lists through it, an early warning's listings): each
name key of ``agent.hitlist.names.query_name_keys`` with the birth date as read, then, when day and month
swapped make another date (``fingerprint.transposed_birth_date``), the first ``MAX_TRANSPOSED_KEYS`` exact name
keys with that date, weak: a listed person whose date a clerk wrote the other way round is REFERred, never
HIT (NAMES.md rule 5). Then, when the date was read in full, the first ``MAX_PARTIAL_KEYS`` exact name keys
with the date as a source that knows only part of it lists it (``fingerprint.partial_birth_dates``: ``8805<<``,
then ``88<<<<``), weak: a person listed with only the year, or the year and month, of their birth is REFERred,
never HIT (a year is weak evidence), where only a document printing the date so found them.

PBKDF2 releases the GIL, so the keys of one traveller are shared out among the calling thread and
``threads - 1`` helper threads one key at a time, in whatever order each thread comes for the next. The
caller takes keys from the start; a helper that starts late (its wake-up waits for the scheduler, a core is
busy with other work) takes only what is left, or nothing. When no key is left, the caller waits for the
keys the helpers are still computing at most about as long as one key takes it, and computes any still
missing itself: a helper that was preempted costs the traveller at most that wait plus those few keys, never
the helper's whole share (which a fixed split into one run per thread made the caller wait for).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from agent.hitlist import names
from agent.hitlist.api import Hit
from agent.hitlist.fingerprint import (
    FingerprintKeys,
    normalise_birth_date,
    partial_birth_dates,
    person_fingerprint,
    transposed_birth_date,
)

__all__ = ["MAX_PARTIAL_KEYS", "MAX_TRANSPOSED_KEYS", "PARTIAL", "TRANSPOSED", "PersonKey", "PersonKeyer",
           "person_lookup_keys", "strongest_person_hit"]

# Exact name keys also looked up with day and month swapped: the first ones (the full name of every spelling
# first) find 84 % of the spellings that hit on evaluation set 8, and the listed spelling itself through the first;
# all of them (21 on average, up to 63) would double the p99 traveller's keying (docs/names.md).
MAX_TRANSPOSED_KEYS = 4
TRANSPOSED = "birth_date_transposed"  # a hit's ``basis`` and the decision's reason (docs/config.md "Reasons")
# Exact name keys also looked up with the date read in full masked as YYMM<< and YY<<<< (two dates each): unlike
# the swap, every traveller has them, so each key here costs every traveller two PBKDF2s. On evaluation set 8
# the first exact key finds the listed spelling itself (160 of 160), the first 2 find 83.1 % of the 810 spellings
# that hit exactly and 4 only 84.4 %, at twice the cost (+8 keys a traveller; set 7: 73.3 % and 79.3 %);
# docs/names.md "Partly unknown birth dates".
MAX_PARTIAL_KEYS = 2
PARTIAL = "birth_date_partial"  # a hit's ``basis``: the person is listed with only part of the birth date


class PersonKey(NamedTuple):
    """One lookup of a traveller: a name key with a birth date, and what a match through it may decide."""

    name_key: str
    birth_date: str
    strength: str  # names.EXACT may HIT, names.WEAK may only REFER
    basis: str = ""  # TRANSPOSED: the date read, day and month swapped; PARTIAL: only its year (and month) known


def person_lookup_keys(
    surname: str, given_names: str, birth_date: str, *, truncated: bool = False, issuing_state: str = ""
) -> list[PersonKey]:
    """The lookups of one traveller (module docstring), in the order their hits rank: at most
    names.MAX_QUERY_KEYS + MAX_TRANSPOSED_KEYS + 2 * MAX_PARTIAL_KEYS.
    Raises BadDataError for a malformed birth date, NameKeyError for a field that is not a name."""
    swapped, partial = transposed_birth_date(birth_date), partial_birth_dates(birth_date)
    queries = names.query_name_keys(surname, given_names, truncated=truncated, issuing_state=issuing_state)
    keys = [PersonKey(key, birth_date, strength) for key, strength in queries]
    exact = [key for key, strength in queries if strength == names.EXACT]
    if swapped is not None:
        keys += [PersonKey(key, swapped, names.WEAK, TRANSPOSED) for key in exact[:MAX_TRANSPOSED_KEYS]]
    # the year and month before the year alone: the officer is told the most the listing knows
    keys += [PersonKey(key, date, names.WEAK, PARTIAL) for date in partial for key in exact[:MAX_PARTIAL_KEYS]]
    return keys


def strongest_person_hit(keys: Sequence[PersonKey], found: Iterable[tuple[str, str] | None]) -> Hit | None:
    """The hit of the first of ``keys`` listed as exact (``found``: the (reason, ref) listed for each key, or None),
    else of the first listed weak one, with its ``basis`` (the officer is told of a transposed or partial date),
    else None."""
    weak = None
    for key, entry in zip(keys, found, strict=True):
        if entry is None:
            continue
        if key.strength == names.EXACT:
            return Hit("person", entry[0], entry[1])
        weak = weak or Hit("person", entry[0], entry[1], names.WEAK, key.basis)
    return weak


class _Traveller:
    """The keys of one lookup, shared out one at a time; ``out[i]`` is filled by whichever thread computes key i."""

    def __init__(self, fp_keys: FingerprintKeys, keys: Sequence[PersonKey]) -> None:
        self.fp_keys, self.keys = fp_keys, keys
        self.out: list[int | None] = [None] * len(keys)
        # next() on a count is one step under the GIL: each index is taken by one thread
        self._next = itertools.count()
        self.all_done = threading.Event()

    def work(self) -> int:
        """Compute keys nobody has taken yet until none is left; returns how many this thread computed."""
        done, n = 0, len(self.keys)
        while (i := next(self._next)) < n:
            self.out[i] = self.key(i)
            done += 1
        if None not in self.out:
            self.all_done.set()
        return done

    def key(self, i: int) -> int:
        """The fingerprint of key ``i`` (the same value whichever thread computes it)."""
        return person_fingerprint(self.fp_keys, self.keys[i].name_key, self.keys[i].birth_date)


class PersonKeyer:
    """Computes a traveller's person fingerprints on ``threads`` threads, the calling thread one of them;
    the helper threads are started at the first traveller with more than one key."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def fingerprints(self, fp_keys: FingerprintKeys, keys: Sequence[PersonKey]) -> list[int]:
        """``person_fingerprint(fp_keys, key.name_key, key.birth_date)`` for each of ``keys``, in order.
        Raises BadDataError on a malformed birth date, before any thread starts."""
        for birth_date in {key.birth_date for key in keys}:
            normalise_birth_date(birth_date)
        job = _Traveller(fp_keys, keys)
        helpers = min(self.threads, len(keys)) - 1
        if helpers > 0:
            pool = self._helpers()
            for _ in range(helpers):
                pool.submit(job.work)
        started = time.perf_counter()
        mine = job.work()
        if helpers > 0 and not job.all_done.is_set():
            # The helpers' keys in flight end within about one key's time unless a helper lost its core.
            job.all_done.wait((time.perf_counter() - started) / max(mine, 1))
        return [fp if fp is not None else job.key(i) for i, fp in enumerate(job.out)]

    def _helpers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="hitlist-person")
            return self._pool
