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


def line_input(crops: np.ndarray) -> np.ndarray:
    """``crops`` (uint8 grey ``[N x] LINE_H x LINE_W``) as the model's float32 input, each crop stretched so
    its 2nd percentile is 0 and its 98th is 1 (at least 8 grey levels apart)."""
    flat = crops.reshape(-1, crops.shape[-2] * crops.shape[-1])
    k = flat.shape[1]
    lo_at, hi_at = round(0.02 * (k - 1)), round(0.98 * (k - 1))
    part = np.partition(flat, (lo_at, hi_at), axis=1)
    lo = part[:, lo_at].astype(np.float32)
    span = np.maximum(part[:, hi_at].astype(np.float32) - lo, np.float32(8.0))
    x = (flat.astype(np.float32) - lo[:, None]) * (np.float32(1.0) / span)[:, None]
    return np.clip(x, 0.0, 1.0, out=x).reshape(crops.shape)
