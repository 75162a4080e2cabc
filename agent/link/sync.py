"""Hit-list sync over MQTT (docs/protocol.md "Hit-list sync", RELIABILITY 3, 7, 11, 12).

The centre publishes a retained, short-lived signed head per list. When the head names a newer version
than the one installed (or no list is installed), the gate asks for the file it needs on ``hitlist/req``
(``have`` = installed version; the centre picks the next delta, or the newest snapshot when too far
behind or when the gate asks for one) and the centre answers chunk by chunk on ``hitlist/chunk``. The
gate asks for each next chunk by offset, so a transfer resumes where it stopped after a disconnect.
Assembly is bounded by ``agent.hitlist.transfer.Transfer`` (declared size, chunk size, no-progress
timeout); the assembled file is verified and installed by ``HitListStore.install``. Runs on the link's
worker thread only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from agent.hitlist.errors import HitListRejected, TransferStalled
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.transfer import Transfer
from agent.hitlist.verify import Head, Identity

logger = logging.getLogger(__name__)


class SyncedStore(Protocol):
    """What sync (and the link's status) needs from ``agent.hitlist.store.HitListStore``."""

    @property
    def version(self) -> int:
        """Version installed (0: none)."""

    @property
    def identity(self) -> tuple[str, int, int, bytes] | None:
        """Identity of the list in force, or None."""

    def accept_head(self, blob: bytes, *, now: float) -> None:
        """Verify and keep a head; raises HitListRejected."""

    def read_head(self, blob: bytes, *, now: float) -> Head:
        """The head if its signature verifies, its times not yet judged; raises HitListRejected."""

    def install(self, blob: bytes, *, now: float) -> Identity:
        """Verify and install a list file; raises HitListRejected with the list unchanged."""

    def status(self, now: float) -> dict[str, Any]:
        """The store's status at ``now``."""


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
        self.rejected: dict[str, int] = {}
        self._req_at = 0.0
        self._target = 0
        self._early_head: bytes | None = None  # a head that came before any list: accepted after the install

    # ------------------------------------------------------------------ inputs
    def on_head(self, list_id: str, blob: bytes) -> None:
        """A retained head arrived: accept it; fetch when it names a newer list than the one installed."""
        if self.list_id is not None and list_id != self.list_id:
            return
        now = self._learn_time(blob)
        try:
            self.store.accept_head(blob, now=now)
        except HitListRejected as exc:
            if self.store.identity is not None and not exc.resync:
                self._reject(f"head_{exc.reason}", str(exc))
                return
            # nothing installed yet (the list key comes with the first snapshot): fetch from the beginning;
            # what arrives is verified against the pinned root like anything else
            self.list_id = list_id
            self._early_head = blob
            if self.state != "fetching":
                self.fetch(0)
            return
        self.list_id = list_id
        head = self.store.status(now).get("head") or {}
        version = int(head.get("version", 0))
        if version > self.store.version and self.state != "fetching":
            self.fetch(version)

    def on_chunk(self, body: dict[str, Any]) -> None:
        """A verified ``hitlist_chunk`` body from the centre."""
        if self.state != "fetching":
            return
        now = self._clock()
        if body.get("error"):
            self._finish("failed", f"centre: {body['error']}")
            return
        if self.name and body["name"] != self.name:
            return  # an answer to an older request
        if self.transfer is None:
            try:
                self.transfer = Transfer(body["total"], now=now, limits=self.limits)
            except HitListRejected as exc:
                self._reject(exc.reason, str(exc))
                self._finish("failed", str(exc))
                return
            self.name = body["name"]
        if body["offset"] != self.transfer.received:
            return  # duplicate or stale chunk
        try:
            self.transfer.feed(body["data"], now=now)
        except (HitListRejected, TransferStalled) as exc:
            self._reject(getattr(exc, "reason", "stalled"), str(exc))
            self._finish("abandoned", str(exc))
            return
        if not self.transfer.complete:
            self._request()
            return
        blob = self.transfer.result()
        self.transfer, self.name = None, ""
        try:
            identity = self.store.install(blob, now=now)
        except HitListRejected as exc:
            self._reject(exc.reason, str(exc))
            if exc.resync and not self.want_snapshot:
                self.want_snapshot = True  # RELIABILITY 3: chain broken, ask for a snapshot
                self._request()
                return
            self._finish("failed", str(exc))
            return
        self.installs += 1
        self.want_snapshot = False
        early, self._early_head = self._early_head, None
        if early is not None:  # without it the first list would be stale until the centre's next head
            try:
                self.store.accept_head(early, now=self._learn_time(early))
            except HitListRejected as exc:
                logger.info("gate %s: head received before the first list not accepted: %s", self.gate_id, exc)
        logger.info("gate %s: hit-list v%d installed over MQTT", self.gate_id, identity.version)
        if self.store.version < self._target:
            self._request()
        else:
            self._finish("idle", f"v{self.store.version} installed")

    def on_connected(self) -> None:
        """Resume an interrupted transfer at the offset reached."""
        if self.state == "fetching":
            self._request()

    def tick(self) -> None:
        """Abandon a transfer without progress for ``limits.stall_seconds`` (RELIABILITY 12)."""
        if self.state != "fetching":
            return
        now = self._clock()
        last = self.transfer.last_progress if self.transfer is not None else self._req_at
        if now - last > self.limits.stall_seconds:
            got = self.transfer.received if self.transfer is not None else 0
            self.transfer = None
            self._finish("abandoned", f"no progress for {now - last:.0f} s after {got} bytes of {self.name!r}")
            logger.warning("gate %s: hit-list transfer abandoned: %s", self.gate_id, self.detail)

    def status(self) -> dict[str, Any]:
        """State of the sync for the gate's status: idle, fetching, abandoned or failed, and why."""
        out: dict[str, Any] = {"state": self.state, "detail": self.detail, "installs": self.installs,
                               "rejected": dict(self.rejected)}
        if self.transfer is not None:
            out.update(name=self.name, received=self.transfer.received, total=self.transfer.declared_size)
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
        """Start fetching towards version ``target`` (0: one step: the next delta, or a snapshot)."""
        self._target = target
        self.state, self.detail, self.name, self.transfer = "fetching", f"towards v{target}", "", None
        self._request()

    def _request(self) -> None:
        self._req_at = self._clock()
        self._publish({
            "id": uuid.uuid4().hex, "ts": self._req_at, "gate": self.gate_id, "list_id": self.list_id or "",
            "have": int(self.store.version), "offset": self.transfer.received if self.transfer else 0,
            "name": self.name, "want": "snapshot" if self.want_snapshot else "auto",
        })

    def _finish(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.transfer, self.name = None, ""

    def _reject(self, reason: str, detail: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        logger.warning("gate %s: hit-list sync: %s", self.gate_id, detail)
