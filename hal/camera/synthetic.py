"""Synthetic frames of a passport data page (for ``sim://camera``): desk, page, photo box, MRZ.

The MRZ is drawn with a 5x7 bitmap font at a known place (``PageLayout.mrz_box``), so a
detector or OCR test has ground truth without shipping photographs of real documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPECIMEN_MRZ = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)

_FONT_ROWS = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "<": "00010 00100 01000 10000 01000 00100 00010",
}
GLYPHS = {
    ch: np.array([[bit == "1" for bit in row] for row in rows.split()], dtype=bool)
    for ch, rows in _FONT_ROWS.items()
}
CELL_W, CELL_H = 6, 9  # glyph 5x7 plus spacing


@dataclass(frozen=True)
class PageLayout:
    """Where the synthetic page, its photo and its MRZ band lie in the image, as pixel boxes."""
    page_box: tuple[int, int, int, int]  # x0, y0, x1, y1
    photo_box: tuple[int, int, int, int]
    mrz_box: tuple[int, int, int, int]


def render_text(lines: tuple[str, ...], scale: int) -> np.ndarray:
    """Boolean ink mask of ``lines`` in the 5x7 font, ``scale`` pixels per dot; unknown characters are blank."""
    width = max(len(line) for line in lines) * CELL_W * scale
    mask = np.zeros((len(lines) * CELL_H * scale, width), dtype=bool)
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            glyph = GLYPHS.get(ch)
            if glyph is None:
                continue
            y, x = row * CELL_H * scale, col * CELL_W * scale
            mask[y : y + 7 * scale, x : x + 5 * scale] = np.kron(glyph, np.ones((scale, scale), dtype=bool))
    return mask


def document_page(
    width: int, height: int, mrz: tuple[str, ...] = SPECIMEN_MRZ
) -> tuple[np.ndarray, PageLayout]:
    """A clean HxWx3 uint8 frame of a data page lying on a desk, and where its parts are."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    shade = np.linspace(70, 110, height, dtype=np.float32)[:, None]
    img[:] = np.stack([shade, shade, shade * 1.05], axis=2).clip(0, 255).astype(np.uint8)
    page_w = int(width * 0.8)
    page_h = min(int(page_w * 88 / 125), int(height * 0.9))
    x0, y0 = (width - page_w) // 2, (height - page_h) // 2
    img[y0 : y0 + page_h, x0 : x0 + page_w] = (236, 230, 214)
    margin = max(2, min(page_w, page_h) // 20)
    photo = (x0 + margin, y0 + margin, x0 + margin + page_w * 3 // 10, y0 + margin + page_h * 45 // 100)
    img[photo[1] : photo[3], photo[0] : photo[2]] = (150, 140, 132)
    for i in range(5):  # visual-zone text, as grey bars
        ty = y0 + margin + i * page_h // 12
        img[ty : ty + max(1, page_h // 40), photo[2] + margin : x0 + page_w - margin] = (110, 105, 100)
    ink = render_text(mrz, 1)  # then nearest-neighbour scaled to the page's MRZ width (OCR-B is ~2.5 mm/char)
    mw = max(1, min(page_w - 2 * margin, (page_h // 4) * ink.shape[1] // ink.shape[0]))
    mh = max(1, round(ink.shape[0] * mw / ink.shape[1]))
    ink = ink[(np.arange(mh) * ink.shape[0]) // mh][:, (np.arange(mw) * ink.shape[1]) // mw]
    mx, my = x0 + margin, y0 + page_h - margin - mh
    region = img[my : my + mh, mx : mx + mw]
    region[ink] = (20, 20, 24)
    return img, PageLayout((x0, y0, x0 + page_w, y0 + page_h), photo, (mx, my, mx + mw, my + mh))
