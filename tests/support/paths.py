"""Where the repository's files are, for tests that read shipped files or run its programs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
IMAGES = REPO / "images"
DOCS = REPO / "docs"
