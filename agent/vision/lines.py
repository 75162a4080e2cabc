"""The MRZ line recogniser's input and output alphabet (shared by the gate and the training tools).

A located MRZ line is cut out, resized to ``LINE_H x LINE_W`` grey pixels and contrast-stretched by
:func:`line_input`; the model answers, for each of ``STEPS`` columns, probabilities over ``CLASSES``
(index 0 is the CTC blank, then ``ALPHABET``).
"""

from __future__ import annotations

import numpy as np

ALPHABET = "<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CLASSES = len(ALPHABET) + 1  # + CTC blank at index 0
LINE_H, LINE_W = 32, 448
STEPS = LINE_W // 4  # the model halves the width twice


def line_input(crop: np.ndarray) -> np.ndarray:
    """``crop`` (uint8 grey LINE_H x LINE_W) as the model's float32 input: 2nd-98th percentile to 0..1."""
    x = crop.astype(np.float32)
    lo, hi = np.percentile(x, (2.0, 98.0))
    return np.clip((x - np.float32(lo)) / np.float32(max(float(hi - lo), 8.0)), 0.0, 1.0).astype(np.float32)
