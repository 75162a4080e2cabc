"""Receiving a list file in chunks, streamed to disk, with bounds and a progress watchdog
(RELIABILITY 11, 12; docs/hitlist.md "Transfer").

The link feeds chunks as they arrive; nothing here trusts the sender: the declared size is bounded
before anything is kept, a chunk beyond it is refused, and a transfer that makes no progress for
``limits.stall_seconds`` is abandoned. Bytes go straight to a file in the gate's state directory
(``incoming.part``, named with its size in ``incoming.json``): memory holds one chunk, never the file,
and a gate restarted mid-transfer goes on from the bytes it has when the centre offers the same file. The sync bounds the declared size by the
size the list key signed as soon as the file's header and envelope arrived (``verify.signed_file_size``).
The finished file is handed to ``HitListStore.install`` memory-mapped; until then the list in force
keeps screening.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
from pathlib import Path

from agent.durable import durable_replace, write_all
from agent.hitlist.errors import HitListRejected, TransferStalled
from agent.hitlist.limits import DEFAULT_LIMITS, Limits

logger = logging.getLogger(__name__)


class Transfer:
    """One incoming file of ``declared_size`` bytes, written to ``path``, started at ``now``."""

    def __init__(
        self, path: Path, declared_size: int, *, now: float, limits: Limits = DEFAULT_LIMITS, name: str = ""
    ) -> None:
        if not isinstance(declared_size, int) or not 0 < declared_size <= limits.max_blob_bytes:
            raise HitListRejected(
                "oversized", f"declared size {declared_size!r}: expected 1..{limits.max_blob_bytes} bytes"
            )
        self.declared_size, self.limits, self.path = declared_size, limits, Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        marker = self.path.with_suffix(".json")
        # the same file as the one an earlier run (a restart) left half-received: go on where it stopped
        same = name and marker.exists() and marker.read_text() == json.dumps([name, declared_size])
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | (0 if same else os.O_TRUNC), 0o600)
        self.received = min(os.fstat(self._fd).st_size, declared_size - 1) if same else 0
        os.ftruncate(self._fd, self.received)
        os.lseek(self._fd, self.received, os.SEEK_SET)
        if not same:
            marker.write_text(json.dumps([name, declared_size]))
        self.last_progress = now
        self.failed: str | None = None

    @property
    def complete(self) -> bool:
        """True once every declared byte arrived."""
        return self.received == self.declared_size

    def feed(self, chunk: bytes, *, now: float) -> None:
        """Append the next chunk to the file. Raises HitListRejected (oversized) or TransferStalled."""
        self.check(now)
        if len(chunk) > self.limits.max_chunk_bytes:
            self._fail("oversized", f"chunk of {len(chunk)} bytes, limit {self.limits.max_chunk_bytes}")
        if self.received + len(chunk) > self.declared_size:
            self._fail(
                "oversized", f"{self.received + len(chunk)} bytes received, {self.declared_size} declared"
            )
        if chunk and self._fd is not None:
            write_all(self._fd, chunk)
            self.received += len(chunk)
            self.last_progress = now

    def head(self, n: int) -> bytes:
        """The file's first ``n`` bytes received so far (at most ``n``: the header and envelope)."""
        if self._fd is None:
            return b""
        return os.pread(self._fd, min(n, self.received), 0)

    def check(self, now: float) -> None:
        """Raise TransferStalled when no byte arrived for ``stall_seconds`` (the transfer is then dropped)."""
        if self.failed:
            raise TransferStalled(f"transfer abandoned: {self.failed}")
        idle = now - self.last_progress
        if idle > self.limits.stall_seconds:
            self.failed = f"no progress for {idle:.0f} s at {self.received}/{self.declared_size} bytes"
            self.discard()
            logger.warning("hit-list transfer abandoned", extra={"fields": {"detail": self.failed}})
            raise TransferStalled(f"transfer abandoned: {self.failed}")

    def result(self) -> mmap.mmap:
        """The finished file, memory-mapped read-only (the file itself is removed; the map stays valid).
        Raises HitListRejected('truncated') before every byte arrived."""
        if not self.complete or self._fd is None:
            raise HitListRejected("truncated", f"{self.received} of {self.declared_size} bytes received")
        mapped = mmap.mmap(self._fd, self.declared_size, access=mmap.ACCESS_READ)
        self.discard()
        return mapped

    def keep(self, dst: Path) -> Path:
        """The finished file, fsynced and renamed to ``dst`` (an update bundle is kept as a file, not mapped).
        Raises HitListRejected('truncated') before every byte arrived."""
        if not self.complete or self._fd is None:
            raise HitListRejected("truncated", f"{self.received} of {self.declared_size} bytes received")
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        durable_replace(self.path, Path(dst))
        self.path.with_suffix(".json").unlink(missing_ok=True)
        return Path(dst)

    def close(self) -> None:
        """Close the file and keep its bytes, for a later ``Transfer`` of the same file to resume (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and remove the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".json").unlink(missing_ok=True)

    def _fail(self, reason: str, detail: str) -> None:
        self.failed = detail
        self.discard()
        raise HitListRejected(reason, detail)
