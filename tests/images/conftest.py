"""Shared paths for the appliance image recipe tests (images/, docs/image.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parents[2] / "images"


@pytest.fixture
def images_dir() -> Path:
    return IMAGES
