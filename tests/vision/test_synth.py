"""The training renderer (tools/vision/synth.py): crops that run on past the lines' ends, and earlier training
sets that still render as they did (the cached sets of earlier stages are named by seed only)."""

from __future__ import annotations

import random

import numpy as np

from tools.vision.synth import _run_on, document_lines


def test_a_run_on_canvas_keeps_the_ink_and_widens_the_page_on_a_side():
    ink = np.zeros((20, 100), np.float32)
    ink[5:15, 10:90] = 1.0
    widened = [_run_on(random.Random(seed), ink, 1.0) for seed in range(20)]
    for wide, left, right in widened:
        assert wide.shape == (20, 100 + left + right) and left + right >= 5
        assert np.array_equal(wide[:, left : left + 100], ink) and wide.sum() == ink.sum()
    assert {bool(left) for _, left, _ in widened} == {True, False} and any(right for _, _, right in widened)


def test_without_run_on_nothing_more_is_drawn_so_earlier_training_sets_render_as_before():
    """``run_on`` 0 (the default) leaves the seeded generator untouched: the stages before it render the same
    lines (checked against the renderer before run-on, seeds 0-4, when it was added)."""
    rng = random.Random(5)
    state = rng.getstate()
    ink = np.ones((20, 100), np.float32)
    wide, left, right = _run_on(rng, ink, 0.0)
    assert wide is ink and (left, right) == (0, 0) and rng.getstate() == state


def test_run_on_crops_carry_the_same_texts_at_the_model_input_size():
    lines = [line for seed in range(6) for line in document_lines(random.Random(seed), run_on=1.0)]
    assert all(crop.shape == (32, 448) and crop.dtype == np.uint8 for crop, _ in lines)
    assert {len(text) for _, text in lines} <= {30, 36, 44}
