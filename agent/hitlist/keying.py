"""One traveller's slow person fingerprints on several threads, the caller never held up by a late helper
(docs/hitlist.md "Keying on every core").

    >>> keyer = PersonKeyer(threads=2)
    >>> keyer.fingerprints(fp_keys, ["MHMT|AHMT", ...], "750101")   # == [person_fingerprint(...) for each key]

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
from concurrent.futures import ThreadPoolExecutor

from agent.hitlist.fingerprint import FingerprintKeys, normalise_birth_date, person_fingerprint

__all__ = ["PersonKeyer"]


class _Traveller:
    """The keys of one lookup, shared out one at a time; ``out[i]`` is filled by whichever thread computes key i."""

    def __init__(self, fp_keys: FingerprintKeys, name_keys: list[str], birth_date: str) -> None:
        self.fp_keys, self.name_keys, self.birth_date = fp_keys, name_keys, birth_date
        self.out: list[int | None] = [None] * len(name_keys)
        # next() on a count is one step under the GIL: each index is taken by one thread
        self._next = itertools.count()
        self.all_done = threading.Event()

    def work(self) -> int:
        """Compute keys nobody has taken yet until none is left; returns how many this thread computed."""
        done, n = 0, len(self.name_keys)
        while (i := next(self._next)) < n:
            self.out[i] = self.key(i)
            done += 1
        if None not in self.out:
            self.all_done.set()
        return done

    def key(self, i: int) -> int:
        """The fingerprint of key ``i`` (the same value whichever thread computes it)."""
        return person_fingerprint(self.fp_keys, self.name_keys[i], self.birth_date)


class PersonKeyer:
    """Computes a traveller's person fingerprints on ``threads`` threads, the calling thread one of them;
    the helper threads are started at the first traveller with more than one key."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def fingerprints(self, fp_keys: FingerprintKeys, name_keys: list[str], birth_date: str) -> list[int]:
        """``person_fingerprint(fp_keys, key, birth_date)`` for each of ``name_keys``, in order.
        Raises BadDataError on a malformed birth date, before any thread starts."""
        normalise_birth_date(birth_date)
        job = _Traveller(fp_keys, name_keys, birth_date)
        helpers = min(self.threads, len(name_keys)) - 1
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
