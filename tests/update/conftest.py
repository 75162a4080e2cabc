"""Fixtures of the update tests: update keys (``sharaka-update keygen``) and a gate's slots under RAUC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rauc import RaucGate
from tools.update_bundle import main as update_tool


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The update CA and signing certificate the gate pins."""
    out = tmp_path_factory.mktemp("update-keys") / "keys"
    assert update_tool(["keygen", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another update CA: what an attacker's or another product's bundle is signed with."""
    out = tmp_path_factory.mktemp("other-keys") / "keys"
    assert update_tool(["keygen", "--out", str(out)]) == 0
    return out


@pytest.fixture
def gate(tmp_path: Path, keys: Path) -> Iterator[RaucGate]:
    """Slot A booted with system 1.0, slot B blank, ``keys`` pinned."""
    g = RaucGate(tmp_path / "gate")
    try:
        g.start("1.0")
        g.pin(keys / "update-ca.pem")
        yield g
    finally:
        g.stop()
