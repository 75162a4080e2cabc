"""Vision test helpers: generated document pages (tools/vision/synth.py, the OCR-B font) and face photos
from scikit-image's sample data (public domain, copied small into tests/data/vision)."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

import numpy as np
import pytest

from agent.vision.image import read_image
from tools.vision.synth import DocumentSample, document_sample

DATA = Path(__file__).resolve().parents[1] / "data" / "vision"
TODAY = datetime.date(2026, 12, 1)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return read_image(DATA / "astronaut.jpg")


def page(seed: int, fmt: str = "TD3", angle: float = 0.0, face: np.ndarray | None = None,
         strength: float = 0.3, px_per_mm: float = 7.0, lines: tuple[str, ...] | None = None) -> DocumentSample:  # fmt: skip
    """A seeded page photograph: ``fmt`` MRZ (random, or ``lines``), turned ``angle`` degrees, light damage."""
    return document_sample(random.Random(seed), fmt, lines=lines, face=face, px_per_mm=px_per_mm, angle=angle,
                           damage_strength=strength)  # fmt: skip
