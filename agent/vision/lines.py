"""The MRZ line recogniser's input and output alphabet (shared by the gate and the training tools).

A located MRZ line is cut out, resized to ``LINE_H x LINE_W`` grey pixels and contrast-stretched by
:func:`line_input`; the model answers, for each of ``STEPS`` columns, probabilities over ``CLASSES``
(index 0 is the CTC blank, then ``ALPHABET``).
"""

from __future__ import annotations

import struct

import numpy as np

ALPHABET = "<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CLASSES = len(ALPHABET) + 1  # + CTC blank at index 0
LINE_H, LINE_W = 32, 448
STEPS = LINE_W // 4  # the model halves the width twice
TD1_CHARS = 30  # a TD1 line: the fewest characters a line model input holds (the widest character pitch)


def line_input(crops: np.ndarray) -> np.ndarray:
    """``crops`` (uint8 grey ``[N x] LINE_H x LINE_W``) as the line models' input, float32, each crop stretched so
    its 2nd percentile is 0 and its 98th is 1 (at least 8 grey levels apart); ``Model.run`` quantises it for the
    int8 models."""
    flat = crops.reshape(-1, crops.shape[-2] * crops.shape[-1])
    k = flat.shape[1]
    lo_at, hi_at = round(0.02 * (k - 1)), round(0.98 * (k - 1))
    part = np.partition(flat, (lo_at, hi_at), axis=1)
    lo = part[:, lo_at].astype(np.float32)
    span = np.maximum(part[:, hi_at].astype(np.float32) - lo, np.float32(8.0))
    x = (flat.astype(np.float32) - lo[:, None]) * (np.float32(1.0) / span)[:, None]
    return np.clip(x, 0.0, 1.0, out=x).reshape(crops.shape)


def widened_width(chars: int) -> int:
    """The input width (a multiple of 4) at which a line of ``chars`` characters has the character pitch a TD1
    line has at LINE_W: what a line read squeezed (44 or 36 characters in LINE_W) is read at again."""
    return round(LINE_W * chars / TD1_CHARS / 4) * 4


def widened(content: bytes, width: int) -> bytes:
    """The line model (``models/mrz_line.tflite``'s bytes) taking inputs ``width`` pixels wide. Its layers are
    convolutions and poolings, which take any width; only its reshapes carry the width as constants (the
    input's 1x32x448 to 32x448x1, the output's 112 columns, twice). Those int32 vectors are rewritten, each
    found where the model has it, else ValueError: another model is not patched blindly."""
    steps = width // 4
    for old, new, count in (((1, LINE_H, LINE_W, 1), (1, LINE_H, width, 1), 2),
                            ((1, CLASSES, STEPS), (1, CLASSES, steps), 2),
                            ((1, STEPS, 1), (1, steps, 1), 4)):  # fmt: skip
        a, b = struct.pack(f"<{len(old)}i", *old), struct.pack(f"<{len(new)}i", *new)
        if content.count(a) != count:
            raise ValueError(f"not the line model: the shape {old} occurs {content.count(a)} times, not {count}")
        content = content.replace(a, b)
    return content
