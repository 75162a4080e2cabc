"""Errors of the hit-list, by what the caller does about them (docs/hitlist.md, "Refusals")."""

from __future__ import annotations

from agent.errors import RefusedError, TransportError


class HitListRejected(RefusedError):
    """A snapshot, delta, head or keyring was refused; the installed list is unchanged.

    ``reason`` is a short stable code (``bad_signature``, ``rollback``, ``base_mismatch``, ...);
    ``resync`` is true when the gate should ask for missing deltas or a snapshot (RELIABILITY 3).
    """

    def __init__(self, reason: str, detail: str, *, resync: bool = False) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.resync = resync
        if resync:
            self.remedy = "the installed list is unchanged; resync needed: install the missing deltas or a snapshot"


class TransferStalled(TransportError):
    """A list transfer made no progress for longer than allowed; screening keeps the old list."""
