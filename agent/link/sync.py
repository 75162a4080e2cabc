"""Hit-list sync over MQTT (docs/protocol.md "Hit-list sync", RELIABILITY 3, 7, 11, 12).

The centre publishes a retained, short-lived signed head per list. When the head names a newer version
than the one installed (or no list is installed), the gate asks for the file it needs on ``hitlist/req``
(``have`` = installed version; the centre picks the next delta, or the newest snapshot when too far
behind or when the gate asks for one) and the centre answers chunk by chunk on ``hitlist/chunk``. The
gate asks for each next chunk by offset, so a transfer resumes where it stopped after a disconnect.
Assembly is bounded by ``agent.hitlist.transfer.Transfer`` (declared size, chunk size, no-progress
timeout); the assembled file is verified and installed by ``HitListStore.install``. Runs on the link's
worker thread only.

Keyrings (docs/hitlist.md "Keyring delivery", RELIABILITY 41): the same request, with ``want: "keyring"``
and ``have`` = the keyring version in force, fetches the next root-signed keyring; the gate installs it
(verified as the successor of what it trusts) and asks again until the centre has nothing newer. It
does so after every connect, when a head names a newer keyring than the gate's, and when a head or a
list cannot be verified yet (``NEEDS_KEYRING``: signed by a key the gate does not know, ...); then it
replays the head that started it. Each head blob starts at most one such fetch, so a head nobody can
verify is counted as rejected (``head_unknown_key``) and reported, never retried in a loop.

Pacing (``agent.link.config.FetchPacing``): a head reaches a whole fleet at once, so a gate that has a
list starts the fetch it announces at a random moment within ``spread_s``; an unanswered request is
sent again after a full-jitter backoff from ``limits.request_retry_seconds``; a transfer abandoned for
want of progress, or answered with an error, is tried again after a backoff between ``retry_min_s`` and
``retry_max_s`` without waiting for the next head (which the whole fleet would get at the same moment).
"""

from __future__ import annotations

import logging
import math
import mmap
import random
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from agent.hitlist.errors import HitListRejected, TransferStalled
from agent.hitlist.format import HEADER
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.transfer import Transfer
from agent.hitlist.trust import Keyring
from agent.hitlist.verify import Head, Identity
from agent.link.config import FetchPacing
from agent.link.connection import backoff

logger = logging.getLogger(__name__)

# Refusals that a newer keyring may cure: fetch the keyring chain, then try the head or list again.
NEEDS_KEYRING = frozenset({"unknown_key", "expired_key", "keyring_gap", "epoch"})


class SyncedStore(Protocol):
    """What sync (and the link's status) needs from ``agent.hitlist.store.HitListStore``."""

    @property
    def version(self) -> int:
        """Version installed (0: none)."""

    @property
    def identity(self) -> tuple[str, int, int, bytes] | None:
        """Identity of the list in force, or None."""

    @property
    def keyring_version(self) -> int:
        """Version of the keyring in force (0: only the pinned root)."""

    @property
    def keyring(self) -> Keyring:
        """The keyring in force: its ``command`` keys are the ones the gate's commands are checked against."""

    def accept_head(self, blob: bytes, *, now: float) -> Any:
        """Verify and keep a head and return it (``.version``, ``.keyring_version``); raises HitListRejected."""

    def read_head(self, blob: bytes, *, now: float) -> Head:
        """The head if its signature verifies, its times not yet judged; raises HitListRejected."""

    def install(self, blob: bytes | mmap.mmap, *, now: float) -> Identity:
        """Verify and install a list or keyring file; raises HitListRejected with the list unchanged."""

    def status(self, now: float) -> dict[str, Any]:
        """The store's status at ``now``."""

    def spool_path(self) -> Path:
        """Where an incoming file is streamed (in the store's directory)."""

    def signed_size(self, prefix: bytes, *, now: float) -> int | None:
        """The file size the list key signed, from a list file's first bytes (None: need more bytes)."""


class HitListSync:
    """Drives one gate's hit-list towards the newest head. ``publish(msg_type, body)`` sends a request."""

    def __init__(
        self,
        store: SyncedStore,
        gate_id: str,
        publish: Callable[[dict[str, Any]], None],
        clock: Callable[[], float],
        *,
        list_id: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        observe: Callable[[float, str], object] | None = None,
        pacing: FetchPacing | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.gate_id = gate_id
        self._publish = publish
        self._clock = clock
        self.limits = limits
        self._observe = observe  # TrustedClock.observe: a verified head's ``issued`` raises trusted time
        self.list_id = list_id
        self.state = "idle"  # idle | fetching | abandoned | failed
        self.detail = ""
        self.name = ""  # file being fetched, as named by the centre
        self.transfer: Transfer | None = None
        self.want_snapshot = False
        self.installs = 0
        self.installing = False  # a list install is under way: a long step by design (GateLink.alive)
        self.keyrings = 0  # keyrings installed over MQTT
        self.mode = "list"  # what the transfer in progress fetches: list | keyring
        self.rejected: Counter[str] = Counter()
        self._req_at = 0.0
        self._started = 0.0  # when the fetch in progress started (its progress clock before the first chunk)
        self._req_id = ""  # the request whose answer is awaited
        self._target = 0
        self._early_head: bytes | None = None  # a head that came before any list: accepted after the install
        self._last_head: tuple[str, bytes] | None = None
        # the last head refused as issued in the future (list id, blob, issued): judged again by ``tick`` once
        # the time reached it (a held time leap confirmed, docs/protocol.md "Trusted time"), not at the next head
        self._future_head: tuple[str, bytes, float] | None = None
        self._pending_head: tuple[str, bytes] | None = None  # replayed once the keyring fetch ends
        self._keyring_tried: bytes | str | None = None  # the head blob or file that last started a keyring fetch
        self._size_signed = False  # the transfer's declared size matched the size its list key signed
        self.pacing = pacing or FetchPacing()
        self._rng = rng or random.Random()
        self._due: float | None = None  # when a deferred fetch (spread after a head, or a retry) starts
        self._due_target = 0
        self._failures = 0  # fetches abandoned or failed in a row: the retry backoff's exponent
        self._unanswered = 0  # requests of this fetch sent again for want of an answer
        self._answer_wait = self.limits.request_retry_seconds  # how long the request in flight is given

    # ------------------------------------------------------------------ inputs
    def on_head(self, list_id: str, blob: bytes) -> None:
        """A retained head arrived: accept it; fetch when it names a newer list than the one installed."""
        if self.list_id is not None and list_id != self.list_id:
            return
        self._last_head, self._future_head = (list_id, blob), None
        if self.state == "fetching" and self.mode == "keyring":
            self._pending_head = (list_id, blob)  # judged with the keyring being fetched
            return
        now = self._learn_time(blob)
        try:
            head = self.store.accept_head(blob, now=now)
        except HitListRejected as exc:
            if exc.reason in NEEDS_KEYRING and self._keyring_tried != blob:
                self._keyring_tried, self._pending_head = blob, (list_id, blob)
                self.fetch_keyring(f"head refused ({exc.reason})")
                return
            if self.store.identity is not None and not exc.resync:
                self._reject(f"head_{exc.reason}", str(exc))
                if exc.reason == "not_yet_valid":
                    self._future_head = (list_id, blob, self.store.read_head(blob, now=now).issued)
                return
            # nothing installed yet (the list key comes with the first snapshot): fetch from the beginning;
            # what arrives is verified against the pinned root like anything else
            self.list_id = list_id
            self._early_head = blob
            if self.state != "fetching":
                self.fetch(0)
            return
        self.list_id = list_id
        if head.keyring_version > self.store.keyring_version and self._keyring_tried != blob:
            self._keyring_tried, self._pending_head = blob, (list_id, blob)
            self.fetch_keyring(f"head names keyring v{head.keyring_version}")
            return
        if head.version > self.store.version and self.state != "fetching":
            delay = self._rng.uniform(0.0, self.pacing.spread_s)
            self._fetch_later(head.version, delay, f"v{head.version} announced; fetch in {delay:.1f} s")

    def on_chunk(self, body: dict[str, Any]) -> None:
        """A verified ``hitlist_chunk`` body from the centre."""
        if self.state != "fetching" or body["req"] != self._req_id:
            return  # an answer to an older request (a duplicate, or one sent before a reconnect)
        now = self._clock()
        if body.get("error"):
            if self.mode == "keyring":  # the centre has nothing newer: the chain is complete
                self._keyring_done(f"keyring v{self.store.keyring_version} is the newest")
                return
            self._finish("failed", f"centre: {body['error']}")
            self._retry_later()
            return
        if self.name and body["name"] != self.name:
            return  # an answer to an older request
        if self.transfer is None:
            try:
                most = HEADER.size + self.limits.max_envelope_bytes  # a keyring is a frame without a body
                if self.mode == "keyring" and body["total"] > most:
                    raise HitListRejected("oversized", f"keyring of {body['total']} bytes, limit {most}")
                self.transfer = Transfer(self.store.spool_path(), body["total"], now=now, limits=self.limits,
                                         name=str(body["name"]))
                self._size_signed = False
            except HitListRejected as exc:
                self._reject(exc.reason, str(exc))
                self._finish("failed", str(exc))
                return
            self.name = body["name"]
        if body["offset"] != self.transfer.received:
            if body["offset"] == 0 and self.transfer.received:
                self._request()  # resumed from the bytes a restart left on disk: ask for the rest
            return  # duplicate or stale chunk
        try:
            self.transfer.feed(body["data"], now=now)
        except (HitListRejected, TransferStalled) as exc:
            self._reject(getattr(exc, "reason", "stalled"), str(exc))
            self._finish("abandoned", str(exc))
            return
        self._unanswered = 0
        file_id = f"{self.name}:{self.transfer.declared_size}"
        if self.mode == "list" and not self._size_signed:
            try:
                self._check_signed_size(self.transfer, now)
            except HitListRejected as exc:
                self._list_refused(exc, file_id)
                return
        if not self.transfer.complete:
            self._request()
            return
        blob = self.transfer.result()  # memory-mapped: the file is never read into one bytes object
        self.transfer, self.name = None, ""
        if self.mode == "keyring":
            self._install_keyring(bytes(blob), now)
            return
        self.installing = True  # a snapshot of 10^8 entries takes about a minute (docs/hitlist.md)
        try:
            identity = self.store.install(blob, now=now)
        except HitListRejected as exc:
            self._list_refused(exc, file_id)
            return
        finally:
            self.installing = False
        self.installs += 1
        self._failures = 0
        self.want_snapshot = False
        early, self._early_head = self._early_head, None
        if early is not None:  # without it the first list would be stale until the centre's next head
            try:
                self.store.accept_head(early, now=self._learn_time(early))
            except HitListRejected as exc:
                logger.info("head received before the first list not accepted", extra={"fields": {
                    "gate": self.gate_id, "error": str(exc)}})
        logger.info("hit-list installed over MQTT", extra={"fields": {
            "gate": self.gate_id, "version": identity.version}})
        if self.store.version < self._target:
            self._request()
        else:
            self._finish("idle", f"v{self.store.version} installed")

    def _check_signed_size(self, transfer: Transfer, now: float) -> None:
        """Bound the transfer by the size the list key signed (docs/hitlist.md "Transfer"), once the
        file's header and envelope arrived: a declaration only the node key vouches for is not enough."""
        signed = self.store.signed_size(transfer.head(HEADER.size + self.limits.max_envelope_bytes), now=now)
        if signed is None:
            return
        declared = transfer.declared_size
        if signed != declared:
            raise HitListRejected("oversized" if declared > signed else "truncated",
                                  f"transfer declares {declared} bytes, the list key signed {signed}")
        self._size_signed = True

    def _list_refused(self, exc: HitListRejected, file_id: str) -> None:
        """A list file (or its signed header) was refused: fetch a keyring, ask for a snapshot, or give up."""
        self._reject(exc.reason, str(exc))
        if exc.reason in NEEDS_KEYRING and self._last_head is not None and self._keyring_tried != file_id:
            self._keyring_tried, self._pending_head = file_id, self._last_head
            self.fetch_keyring(f"list refused ({exc.reason})")
            return
        if exc.resync and not self.want_snapshot:
            self._drop_transfer()
            self.want_snapshot = True  # RELIABILITY 3: chain broken, ask for a snapshot
            self._request()
            return
        self._finish("failed", str(exc))

    def _drop_transfer(self) -> None:
        if self.transfer is not None:
            self.transfer.discard()
        self.transfer, self.name = None, ""

    def on_connected(self) -> None:
        """Resume an interrupted transfer at the offset reached; otherwise check for a newer keyring
        (a revocation published while the gate was away reaches it on its first connect)."""
        if self.state == "fetching":
            self._request()
        else:
            self.fetch_keyring("connected")

    def idle_for(self) -> float:
        """Seconds ``tick`` has nothing to do: 0 while fetching (it watches the transfer's progress and the request),
        the time left to a deferred fetch, else infinity."""
        if self.state == "fetching":
            return 0.0
        return math.inf if self._due is None else max(0.0, self._due - self._clock())

    def tick(self) -> None:
        """Judge again the head last refused as issued in the future once the time reached it; start a
        deferred fetch when it is due; abandon a transfer without progress for
        ``limits.stall_seconds`` (RELIABILITY 12) and try it again later; ask again when a request went
        unanswered for ``limits.request_retry_seconds`` (a request or answer lost, e.g. sent before the
        centre subscribed), then after ever longer jittered waits."""
        now = self._clock()
        future = self._future_head
        if future is not None and future[2] <= now + self.limits.clock_skew_seconds:
            self.on_head(future[0], future[1])  # the time reached the head refused as future: judge it again
        if self.state != "fetching":
            if self._due is not None and now >= self._due:
                target, self._due = self._due_target, None
                if target == 0 or target > self.store.version:
                    self.fetch(target)
            return
        last = self.transfer.last_progress if self.transfer is not None else self._started
        if now - last > self.limits.stall_seconds:
            got = self.transfer.received if self.transfer is not None else 0
            detail = f"no progress for {now - last:.0f} s after {got} bytes of {self.name!r}"
            logger.warning("hit-list transfer abandoned", extra={"fields": {"gate": self.gate_id, "detail": detail}})
            if self.mode == "keyring":
                self._keyring_done(detail, state="abandoned")
            else:
                self._finish("abandoned", detail)
                self._retry_later()
        elif now - self._req_at > self._answer_wait:
            self._unanswered += 1
            self._request()

    def status(self) -> dict[str, Any]:
        """State of the sync for the gate's status: idle, fetching, abandoned or failed, and why."""
        out: dict[str, Any] = {"state": self.state, "mode": self.mode, "detail": self.detail,
                               "installs": self.installs, "keyrings": self.keyrings,
                               "keyring_version": self.store.keyring_version, "rejected": dict(self.rejected)}
        if self.transfer is not None:
            out.update(name=self.name, received=self.transfer.received, total=self.transfer.declared_size)
        if self._due is not None:
            out["next_fetch_in_s"] = round(max(0.0, self._due - self._clock()), 1)
        return out

    def resync(self, args: dict[str, Any]) -> str:
        """The ``hitlist_resync`` command: fetch one step now (``snapshot``: a whole list, not a delta)."""
        self.want_snapshot = bool(args.get("snapshot", False))
        self.fetch(0)
        return "hit-list resync started"

    # ------------------------------------------------------------------ internals
    def _learn_time(self, blob: bytes) -> float:
        """Trusted time after a head's signed ``issued`` (signature checked first) raised it: the head is
        then judged on that time, so a gate whose time lags (switched off for a week) still accepts it."""
        now = self._clock()
        if self._observe is None or self.store.identity is None:
            return now
        try:
            self._observe(self.store.read_head(blob, now=now).issued, "head")
        except HitListRejected:
            return now  # judged (and counted) by accept_head
        return self._clock()

    def fetch(self, target: int = 0) -> None:
        """Start fetching towards version ``target`` (0: one step: the next delta, or a snapshot) now."""
        self._target, self.mode, self._started = target, "list", self._clock()
        self._due, self._due_target, self._unanswered = None, 0, 0
        self._drop_transfer()
        self.state, self.detail = "fetching", f"towards v{target}"
        self._request()

    def _fetch_later(self, target: int, delay: float, detail: str) -> None:
        """Fetch towards ``target`` in ``delay`` seconds (at once when 0); a fetch already due keeps its time."""
        if delay <= 0:
            self.fetch(target)
            return
        self._due_target = max(self._due_target, target)
        if self._due is None:
            self._due, self.detail = self._clock() + delay, detail

    def _retry_later(self) -> None:
        """After a fetch was abandoned or failed: try it again after a jittered, growing backoff."""
        self._failures += 1
        delay = backoff(self._failures, self.pacing.retry_min_s, self.pacing.retry_max_s, self._rng)
        self._fetch_later(self._target, delay, f"{self.detail}; again in {delay:.0f} s")

    def fetch_keyring(self, why: str) -> None:
        """Walk the centre's keyring chain from the version in force (a list transfer in progress is
        dropped; the head replayed afterwards starts it again)."""
        self.mode, self._started = "keyring", self._clock()
        self._drop_transfer()
        self.state = "fetching"
        self.detail = f"keyring after v{self.store.keyring_version}: {why}"
        logger.info("hit-list sync: fetching keyrings", extra={"fields": {
            "gate": self.gate_id, "after_version": self.store.keyring_version, "why": why}})
        self._request()

    def _install_keyring(self, blob: bytes, now: float) -> None:
        try:
            self.store.install(blob, now=now)
        except HitListRejected as exc:
            self._reject(f"keyring_{exc.reason}", str(exc))
            self._keyring_done(f"keyring refused: {exc}", state="failed")
            return
        self.keyrings += 1
        self._started = now
        logger.info("keyring installed over MQTT", extra={"fields": {
            "gate": self.gate_id, "version": self.store.keyring_version}})
        self._request()  # the next one, until the centre has nothing newer

    def _keyring_done(self, detail: str, state: str = "idle") -> None:
        self.mode = "list"
        self._finish(state, detail)
        pending, self._pending_head = self._pending_head, None
        if pending is not None:
            self.on_head(*pending)

    def _request(self) -> None:
        self._req_at = self._clock()
        self._answer_wait = backoff(self._unanswered, self.limits.request_retry_seconds,
                                    max(self.limits.request_retry_seconds, self.pacing.retry_max_s), self._rng)
        self._req_id = uuid.uuid4().hex
        keyring = self.mode == "keyring"
        self._publish({
            "id": self._req_id, "ts": self._req_at, "gate": self.gate_id, "list_id": self.list_id or "",
            "have": int(self.store.keyring_version if keyring else self.store.version),
            "offset": self.transfer.received if self.transfer else 0, "name": self.name,
            "want": "keyring" if keyring else "snapshot" if self.want_snapshot else "auto",
        })

    def _finish(self, state: str, detail: str) -> None:
        self._drop_transfer()  # first: a state read from another thread (status) never shows a spool it dropped
        self.state, self.detail = state, detail

    def _reject(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        logger.warning("hit-list sync refused a file", extra={"fields": {
            "gate": self.gate_id, "detail": str(detail)}})
