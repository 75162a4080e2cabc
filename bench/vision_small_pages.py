"""MRZ from small, damaged page photographs: documents right, REFER and WRONG, with the models `SHARAKA_MODELS` names.

    SHARAKA_MODELS=DIR .venv/bin/python bench/vision_small_pages.py [--first 0] [--count 400]

A second page family beside ``vision_bench.py``'s evaluation set, judging a new first line model on pages no
reader change was made for: for each seed, one page of each layout at 4, 5 or 7 pixels a millimetre (the seed
modulo 3), turned -4 to 4 degrees (the seed modulo 5), damage strength 0.6 (``tests/vision/conftest.py: page``
with those arguments). Every page not read right is listed, so two runs (two model folders) can be compared page
by page (docs/vision.md "Figures", session of 2026-12-07 20:30).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.vision.mrz_read import read_image_mrz  # noqa: E402
from agent.vision.runtime import MODELS_DIR  # noqa: E402
from bench.vision_bench import FORMATS, TODAY, outcome  # noqa: E402
from tools.vision.synth import DocumentSample, document_sample  # noqa: E402


def small_pages(first: int, count: int) -> Iterator[tuple[str, DocumentSample]]:
    """(name, page) for seeds ``first`` .. ``first + count - 1``, each layout in turn."""
    for seed in range(first, first + count):
        px_per_mm, angle = (4.0, 5.0, 7.0)[seed % 3], 2.0 * (seed % 5) - 4.0
        for fmt in FORMATS:
            page = document_sample(random.Random(seed), fmt, px_per_mm=px_per_mm, angle=angle, damage_strength=0.6)
            yield f"page({seed}, {fmt!r}, {angle}, px_per_mm={px_per_mm}, strength=0.6)", page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--count", type=int, default=400, help="seeds, five pages each (default 400)")
    args = ap.parse_args(argv)
    counts = {"right": 0, "REFER": 0, "WRONG": 0}
    for name, page in small_pages(args.first, args.count):
        reading = read_image_mrz(page.image, today=TODAY)
        kind = outcome(reading, page.lines)
        counts[kind] += 1
        if kind != "right":
            print(f"{kind} {name} confidence {reading.confidence:.3f}", flush=True)
    print(f"models {MODELS_DIR}: {sum(counts.values())} pages, right {counts['right']}, REFER {counts['REFER']}, "
          f"WRONG {counts['WRONG']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
