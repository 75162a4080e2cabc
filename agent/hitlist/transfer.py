"""Receiving a list file in chunks with bounds and a progress watchdog (RELIABILITY 11, 12).

The link feeds chunks as they arrive; nothing here trusts the sender: the declared size is
bounded before anything is kept, a chunk beyond it is refused, and a transfer that makes no
progress for ``limits.stall_seconds`` is abandoned. The assembled bytes still go through
HitListStore.install, which verifies them; until then the list in force keeps screening.
"""

from __future__ import annotations

import logging

from agent.hitlist.errors import HitListRejected, TransferStalled
from agent.hitlist.limits import DEFAULT_LIMITS, Limits

logger = logging.getLogger(__name__)


class Transfer:
    """One incoming file of ``declared_size`` bytes, started at ``now``."""

    def __init__(self, declared_size: int, *, now: float, limits: Limits = DEFAULT_LIMITS) -> None:
        if not isinstance(declared_size, int) or not 0 < declared_size <= limits.max_blob_bytes:
            raise HitListRejected(
                "oversized", f"declared size {declared_size!r}: expected 1..{limits.max_blob_bytes} bytes"
            )
        self.declared_size, self.limits = declared_size, limits
        self._parts: list[bytes] = []
        self.received = 0
        self.last_progress = now
        self.failed: str | None = None

    @property
    def complete(self) -> bool:
        """True once every declared byte has arrived."""
        return self.received == self.declared_size

    def feed(self, chunk: bytes, *, now: float) -> None:
        """Add the next chunk. Raises HitListRejected (oversized) or TransferStalled (already abandoned)."""
        self.check(now)
        if len(chunk) > self.limits.max_chunk_bytes:
            self._fail("oversized", f"chunk of {len(chunk)} bytes, limit {self.limits.max_chunk_bytes}")
        if self.received + len(chunk) > self.declared_size:
            self._fail(
                "oversized", f"{self.received + len(chunk)} bytes received, {self.declared_size} declared"
            )
        if chunk:
            self._parts.append(bytes(chunk))
            self.received += len(chunk)
            self.last_progress = now

    def check(self, now: float) -> None:
        """Raise TransferStalled when no byte arrived for ``stall_seconds`` (the transfer is then dropped)."""
        if self.failed:
            raise TransferStalled(f"transfer abandoned: {self.failed}")
        idle = now - self.last_progress
        if idle > self.limits.stall_seconds:
            self._parts.clear()
            self.failed = f"no progress for {idle:.0f} s at {self.received}/{self.declared_size} bytes"
            logger.warning("hit-list transfer abandoned", extra={"fields": {"detail": str(self.failed)}})
            raise TransferStalled(f"transfer abandoned: {self.failed}")

    def result(self) -> bytes:
        """The assembled file. Raises HitListRejected('truncated') before every byte arrived."""
        if not self.complete:
            raise HitListRejected("truncated", f"{self.received} of {self.declared_size} bytes received")
        return b"".join(self._parts)

    def _fail(self, reason: str, detail: str) -> None:
        self._parts.clear()
        self.failed = detail
        raise HitListRejected(reason, detail)
