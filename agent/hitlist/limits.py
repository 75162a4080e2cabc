"""Every size and count bound of the hit-list in one place (RELIABILITY 11, docs/hitlist.md "Limits")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any allocation that depends on input; exceeding one is a refusal."""

    max_blob_bytes: int = 4 << 30  # a whole snapshot of 10^8 entries with 16-byte refs fits
    max_envelope_bytes: int = 64 << 10  # msgpack envelope: signed metadata + signatures + keyring
    max_signed_bytes: int = 16 << 10  # the signed metadata itself
    max_head_bytes: int = 4 << 10
    max_entries: int = 200_000_000
    max_delta_changes: int = 5_000_000
    max_overlay_entries: int = 2_000_000  # above this the store compacts the overlay into the base
    max_reasons: int = 64
    max_reason_chars: int = 32
    max_ref_bytes: int = 32
    max_list_id_chars: int = 64
    max_keys: int = 32  # keys in a keyring (root and list/command keys each)
    max_signatures: int = 16
    max_chunk_bytes: int = 1 << 20  # one transfer chunk
    stall_seconds: float = 60.0  # a transfer without progress this long is abandoned (RELIABILITY 12)
    request_retry_seconds: float = 5.0  # a list or keyring request unanswered this long is sent again
    clock_skew_seconds: float = 300.0  # a head issued further in the future than this is refused
    max_number: int = 2**63 - 1  # versions and epochs: what the link's message schemas and SQLite take


DEFAULT_LIMITS = Limits()
