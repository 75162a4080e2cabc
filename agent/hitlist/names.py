"""Local stand-in for the `names` helper's normaliser (same API); replaced by the real module on merge."""

from __future__ import annotations

import re

NORMALISER_VERSION = 0


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^A-Z]+", text.upper().replace("<", " ")) if w]


def record_name_keys(surname: str, given_names: str) -> list[str]:
    """Keys a list builder stores for one listed person: surname with every prefix of the given names."""
    sur, given = " ".join(_words(surname)), _words(given_names)
    return [f"{sur}/{' '.join(given[:i])}" for i in range(len(given), 0, -1)] or [f"{sur}/"]


def query_name_keys(surname: str, given_names: str, *, truncated: bool = False) -> list[tuple[str, str]]:
    """(key, strength) pairs a gate looks up for one traveller."""
    sur, given = " ".join(_words(surname)), _words(given_names)
    if truncated and given:
        given = given[:-1]
    keys = [(f"{sur}/{' '.join(given[:i])}", "exact") for i in range(len(given), 0, -1)]
    return keys or [(f"{sur}/", "exact")]
