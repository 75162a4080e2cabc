"""Find the MRZ on a page image with classical processing in numpy: ink, skew, band, lines.

1. Dark-on-light strokes: a black-hat (grey closing minus image) at a working scale, thresholded (Otsu); and
   the darkest of them alone (Otsu again above that), whose bands compete too: a security print's waves.
2. Skew: the angle in +-20 degrees whose rotation makes the ink's row profile peakiest.
3. Band: after a horizontal closing an OCR-B line becomes one long run of ink (30-44 evenly spaced
   characters, ``<`` fillers included); the MRZ is the group of 2-3 such runs, alike in length and
   evenly stacked, with the longest runs on the page whose ink has characters' upright strokes (a
   guilloche's waves line up in evenly stacked runs too, but cross each column thinly).
4. Lines: each run's box, mapped back to the full-resolution image and cut out deskewed, then cut down to
   its characters' rows when the box was much taller (``fitted``).

Upside-down pages are not decided here: :mod:`agent.vision.mrz_read` reads the band both ways round.

    >>> band = locate(grey_image)        # None when no MRZ-like band is found
    >>> [crop.shape for crop in band.lines]
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from agent.vision.image import in_halves, meanwhile

WORK_SIDE = 1024  # pixels on the working image's longer side
ANGLES = np.arange(-20.0, 20.5, 2.0)
GAPS = (7, 11, 17, 25, 37)  # horizontal closing widths tried (working pixels)
CANDIDATES = 6  # MRZ-like bands handed to the reader, most MRZ-like first (half as many at a second angle)
TALL, TEXT_LIKE = 0.6, 0.5  # see strokes()
# A group ranks by its lines' width times its least text-like line's strokes() cubed: as is, three lines of waves
# (0.77) outranked a two-line MRZ (1.0) by their width (evaluation page 777000+92, whose MRZ was read third)
STROKES_POWER = 3
# The plain mask's best band less text-like than this, the strict mask's bands are read before its own: page
# 777000+158's plain mask found a page edge (0.55) and two short runs of print, its strict mask the MRZ (0.95)
WEAK_STROKES = 0.7
LINE_FLOOR = 0.45  # a text line is at least this share of the longest run of ink (after closing)
PIECE_FLOOR = 0.15  # runs this long may be pieces of one line, joined (_joined; 0.2 until 2026-12-04 05:15)
SHORTEST_RUN = 20  # working pixels: a run of ink shorter than this is neither a line nor a piece of one
END_TOGETHER = 0.02  # two lines' ends this close (a share of their width) end together...
LOST = 0.1  # ...and the one shorter by more than this at its other end lost characters there (_cut)
JOIN_GAP = 0.2  # the longest stretch between two pieces of one line, as a share of the joined line
GRAINY = 0.15  # an ink mask covering more of the page than this may be grain: taken again, smoothed
GRAIN_GONE = 0.5  # ...and the smoothed mask kept when smoothing took away this much of it
MIN_STROKE = 12.0  # black-hat levels: a stroke shallower than this is never ink, whatever the threshold
# local_ink_mask: a stroke held to the strongest within this many working pixels of it (a few characters' heights),
# at least this share of it, where the strongest there stands this far above the paper (black-hat levels)
NEAR, NEAR_SHARE, NEAR_CONTRAST = 31, 0.45, 24
GAUSS = (1, 14, 61, 101, 61, 14, 1)  # the smoothing: a Gaussian of radius 1, in 253ths (smoothed)
SECOND_SKEW = 0.9  # a second page angle (a local maximum) is tried when its rows line up this nearly as well as the best
LINE_MARGIN = 0.3  # rows cut above and below a line, as a share of its height (the training crops: 0-0.55)
ROW_FLOOR = 0.3  # fitted: a row of the characters holds at least this share of the inkiest row's ink
FIT_GAIN = 0.8  # fitted: a crop is cut down to its characters' rows only when that leaves at most this share
BOW = 0.2  # unbowed: a line's characters' centre bending from its chord by more than this share of the crop's height
SMOOTH = 4.0  # ...and by this many times its slices' scatter about the curve (a bend, not a print's waves)
MAX_BOW = 2.0  # ...but strays from the crop's middle by at most this many crop heights
FOOT_SPAN, FOOT_INK = 2, 2.0  # foot_up: ink this many band heights below a band, this many times as dense as above


@dataclass(frozen=True)
class Band:
    """A located MRZ: its lines cut out upright (when first asked for), the page angle, the line boxes."""

    angle: float  # degrees the page is turned (counter-clockwise)
    boxes: list[tuple[float, float, float, float]]  # line boxes in the deskewed working image
    edges: list[tuple[float, float]]  # each crop's left and right edge, x in the deskewed working image
    inside: list[tuple[float, float]]  # the part of each crop's middle row lying in the frame, x as ``edges``
    cuts: list[tuple[tuple[int, int], tuple[float, ...]]]  # each crop's size and affine map into ``page``
    page: Image.Image = field(repr=False)  # the full-resolution grey page
    text_like: float  # its least text-like line's strokes()
    foot_up: bool = False  # its page's ink lies below it, not above (``foot_up``): a page lying upside down

    @functools.cached_property
    def lines(self) -> list[np.ndarray]:
        """Each line cut out of the full-resolution grey page, deskewed, fitted to its characters' rows, uint8
        (cut once, on first use: most candidate bands are never read)."""
        return [_line(self.page, size, coeffs) for size, coeffs in self.cuts]

    def corners(self) -> tuple[tuple[float, float], ...]:
        """The band's top left, top right, bottom left and bottom right corners in pixels of the page (as it lies
        there: an upside-down page's MRZ is not turned round here)."""
        (first_size, first), (last_size, last) = self.cuts[0], self.cuts[-1]

        def page_xy(coeffs: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
            a, b, c, d, e, f = coeffs[:6]
            return a * x + b * y + c, d * x + e * y + f

        return (page_xy(first, 0, 0), page_xy(first, first_size[0], 0),
                page_xy(last, 0, last_size[1]), page_xy(last, *last_size))  # fmt: skip

    def on(self, g: np.ndarray) -> Band:
        """The same band on another frame ``g`` (grey, the same size): a document lying still under the camera
        is located once and its lines cut out of the next frames where they were (agent/vision/camera_reader.py)."""
        if g.shape != (self.page.height, self.page.width):
            raise ValueError(f"a frame of {g.shape[1]}x{g.shape[0]} px, not {self.page.width}x{self.page.height}")
        return replace(self, page=Image.fromarray(g))


def _cut_line(page: Image.Image, size: tuple[int, int], coeffs: tuple[float, ...], extra: int = 0) -> np.ndarray:
    """The crop ``size`` of ``page`` under the affine map ``coeffs`` (grey uint8), ``extra`` rows more above and
    below."""
    a, b, c, d, e, f = coeffs[:6]
    return np.asarray(page.transform((size[0], size[1] + 2 * extra), Image.Transform.AFFINE,
                                     (a, b, c - b * extra, d, e, f - e * extra), Image.Resampling.BILINEAR))  # fmt: skip


def line_ink(crop: np.ndarray, height: int | None = None) -> np.ndarray:
    """The ink mask of a line crop at its characters' scale: strokes narrower than a third of ``height`` (the
    line's crop height; the crop's own unless it was cut taller), wider than a stroke, narrower than a character."""
    size = max(3, ((height or crop.shape[0]) // 3) | 1)
    return ink_mask(crop, size, size)


def centre_line(ink: np.ndarray, height: int, near: np.ndarray | None = None) -> tuple[np.ndarray, float] | None:
    """The row of the characters' centre in each column of a line crop's ``line_ink`` (the line ``height`` rows
    high), a quadratic fitted to the ink's centre in slices about as wide as that (an MRZ's characters are all
    of one height: no descenders); and how far the slices' centres scatter about it (root mean square, rows).
    ``near`` (a first estimate, per column) counts only the ink within half the height of it: a crop cut taller
    reaches the next line. None when too few slices hold ink."""
    rows, w = ink.shape
    if near is not None:
        ink = ink * (np.abs(np.arange(rows, dtype=np.float32)[:, None] - near[None, :]) <= height / 2)
    edges = np.linspace(0, w, max(1, round(w / max(height, 1))) + 1).astype(int)[:-1]
    counts = np.add.reduceat(ink.sum(0, dtype=np.int64), edges).astype(np.float64)
    centres = np.add.reduceat(np.arange(rows) @ ink, edges) / np.maximum(counts, 1)
    keep = (counts > 0) & (counts >= 0.3 * counts.mean())  # slices of ink, not of a few specks
    if keep.sum() < 4:
        return None
    u = (edges[keep] + np.append(edges[1:], w)[keep]) / (2 * w)  # slice middles, 0..1 of the width
    basis = np.stack([u * u, u, np.ones_like(u)])
    weighted = basis * counts[keep]
    fit = np.linalg.solve(weighted @ basis.T, weighted @ centres[keep])  # weighted least squares, a quadratic
    scatter = math.sqrt(float(counts[keep] @ (fit @ basis - centres[keep]) ** 2 / counts[keep].sum()))
    x = np.arange(w) / w
    return (fit[0] * x * x + fit[1] * x + fit[2]).astype(np.float32), scatter


def unbowed(page: Image.Image, size: tuple[int, int], coeffs: tuple[float, ...], ink: np.ndarray) -> np.ndarray | None:
    """The line cut out of ``page`` (``size`` under the affine map ``coeffs``; ``ink``: that crop's ``line_ink``)
    cut again with its characters' centre line made level, when that line bends away from its chord by more
    than BOW of the crop's height (and SMOOTH times its scatter: a bend, not a print's waves); else None. A
    passport's data page curls towards the spine and a phone's lens bends lines near the frame's edges: a bowed
    line's ends then leave a crop cut to the rows where it runs long, and the line model reads characters cut in
    half (real specimens with their rows displaced by 2 % and 4 % of the page's height at its middle: 27 and 20
    of 33 read, 32 and 27 now; `test_a_curled_page_s_bowed_mrz_is_read_level`). The line is cut again taller by
    the bow, its centre line measured there (near the first), and each column shifted so that it runs level
    through the crop's middle. A line that only leans is left as it is: on 5,200 evaluation pages lines leaning
    in the views straightened for perspective, levelled so, read one page surely wrong. Nor is one whose centre
    line strays more than MAX_BOW crop heights from the middle: a curve fitted to a few specks, not a line."""
    h = size[1]
    measured = centre_line(ink, h)
    if measured is None:
        return None
    first, scatter = measured
    bend = float(np.abs(first - np.linspace(first[0], first[-1], len(first))).max())
    if bend <= BOW * h or bend <= SMOOTH * scatter:
        return None
    extra = math.ceil(float(np.abs(first - h / 2).max()))
    if extra > MAX_BOW * h:
        return None
    tall = _cut_line(page, size, coeffs, extra)
    again = centre_line(line_ink(tall, h), h, first + extra)
    if again is None:
        return None
    source = np.arange(h, dtype=np.float32)[:, None] + (again[0] - h / 2)[None, :]  # each row's row in ``tall``
    top = np.clip(np.floor(source), 0, tall.shape[0] - 2).astype(np.intp)
    frac = np.clip(source - top, 0.0, 1.0)
    cols = np.arange(size[0])[None, :]
    level = tall[top, cols] * (1 - frac) + tall[top + 1, cols] * frac
    return np.clip(level + 0.5, 0, 255).astype(np.uint8)


def _line(page: Image.Image, size: tuple[int, int], coeffs: tuple[float, ...]) -> np.ndarray:
    """One of ``Band.lines``: cut out, made level when bowed (``unbowed``), fitted to its characters' rows."""
    crop = _cut_line(page, size, coeffs)
    ink = line_ink(crop)
    level = unbowed(page, size, coeffs, ink)
    return fitted(crop, ink) if level is None else fitted(level)


def fitted(crop: np.ndarray, ink: np.ndarray | None = None) -> np.ndarray:
    """A line crop (grey uint8) cut down to its characters' rows plus LINE_MARGIN of their height above and
    below, when its box was much taller than that (FIT_GAIN). The box is measured in the working image's
    ink mask, where blur and the black-hat spread a small line's ink by a pixel or two: at full resolution
    that is up to half a line's height again, more margin than the line model was trained on
    (tools/vision/synth.py: _crop_quad), and it reads such a line less surely (evaluation page
    1717000+28: ``S`` doubted against ``8``, sure once cut to its rows). The characters' rows are the run
    of rows around the inkiest one (the ink mask at the line's scale) holding at least ROW_FLOOR of its ink;
    a run under a third of the crop (a stroke, a lone speck) leaves the crop as it was."""
    h = crop.shape[0]
    if h < 12:
        return crop
    rows_ink = (line_ink(crop) if ink is None else ink).mean(1)
    top = bottom = int(rows_ink.argmax())
    floor = ROW_FLOOR * rows_ink[top]
    if floor <= 0:
        return crop
    while top > 0 and rows_ink[top - 1] >= floor:
        top -= 1
    while bottom < h - 1 and rows_ink[bottom + 1] >= floor:
        bottom += 1
    rows = bottom + 1 - top
    y0, y1 = max(0, round(top - LINE_MARGIN * rows)), min(h, round(bottom + 1 + LINE_MARGIN * rows))
    return crop[y0:y1] if y1 - y0 < FIT_GAIN * h and rows >= h / 3 else crop


def _running(a: np.ndarray, size: int, axis: int, op: np.ufunc) -> np.ndarray:
    """Centred running max/min of width ``size`` along ``axis`` (doubling steps, edges replicated)."""
    if size <= 1:
        return a
    pad = [(0, 0)] * a.ndim
    pad[axis] = (size // 2, size - 1 - size // 2)
    out = np.pad(a, pad, mode="edge")
    span = 1
    while span < size:
        step = min(span, size - span)
        hi = out.shape[axis] - step
        lo_part = out[:, :hi] if axis == 1 else out[:hi]
        hi_part = out[:, step : step + hi] if axis == 1 else out[step : step + hi]
        out = op(lo_part, hi_part)
        span += step
    return out


def dilate(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Grey dilation (running max) with a ``w`` x ``h`` rectangle."""
    return _running(_running(a, w, 1, np.maximum), h, 0, np.maximum)


def erode(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Grey erosion (running min) with a ``w`` x ``h`` rectangle."""
    return _running(_running(a, w, 1, np.minimum), h, 0, np.minimum)


WORD = 64  # mask columns per machine word in ``closing``
ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def _shift(p: np.ndarray, k: int) -> np.ndarray:
    """Packed mask rows (``closing``) moved so that each bit column x takes column x + k (0 < |k| < 64), zeros
    coming in. The rows are shifted as one stream: what crosses from one row into the next lands in their
    padding words, which every window op reaches less than a word into."""
    flat = p.reshape(-1)
    out = np.empty_like(flat)
    if k > 0:
        np.right_shift(flat, np.uint64(k), out=out)
        out[:-1] |= flat[1:] << np.uint64(WORD - k)
    else:
        np.left_shift(flat, np.uint64(-k), out=out)
        out[1:] |= flat[:-1] >> np.uint64(WORD + k)
    return out.reshape(p.shape)


def _running_bits(p: np.ndarray, size: int, op: np.ufunc) -> np.ndarray:
    """``_running`` along the bit columns of packed rows: ``op`` (OR, AND) over columns x - size//2 ..
    x + size - 1 - size//2 (doubling steps)."""
    span, out = 1, p
    while span < size:
        step = min(span, size - span)
        out = op(out, _shift(out, step))
        span += step
    return _shift(out, -(size // 2)) if size // 2 else out


def _edges(p: np.ndarray, width: int) -> np.ndarray:
    """The padding of packed rows (the word before column 0, every column from ``width`` on) set to the
    first and last column's bit: what ``_running``'s replicated edges are for the window ops."""
    p[:, 0] = np.where(p[:, 1] & np.uint64(1), ONES, np.uint64(0))
    at, bit = divmod(WORD + width - 1, WORD)
    fill = np.where((p[:, at] >> np.uint64(bit)) & np.uint64(1), ONES, np.uint64(0))
    keep = np.uint64((1 << (bit + 1)) - 1)  # the bits up to the last column
    p[:, at] = (p[:, at] & keep) | (fill & ~keep)
    p[:, at + 1 :] = fill[:, None]
    return p


def pack(mask: np.ndarray) -> np.ndarray:
    """A 0/1 uint8 mask packed 64 columns to a word (little-endian bits): a word of padding before column 0,
    at least one after the last column, the padding set as ``_edges`` gives it."""
    rows, cols = mask.shape
    words = (cols + WORD - 1) // WORD + 2
    packed = np.zeros((rows, words * 8), np.uint8)
    packed[:, 8 : 8 + (cols + 7) // 8] = np.packbits(mask, axis=1, bitorder="little")
    return _edges(packed.view("<u8"), cols)


def _closing_packed(p: np.ndarray, cols: int, w: int, h: int) -> np.ndarray:
    """``closing`` of a packed mask (``pack``) of ``cols`` columns, packed (0 < w < WORD); its padding is not
    cleared."""
    p = _edges(_running(_running_bits(p, w, np.bitwise_or), h, 0, np.bitwise_or), cols)
    return _running(_running_bits(p, w, np.bitwise_and), h, 0, np.bitwise_and)


def closing(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """``erode(dilate(mask, w, h), w, h)`` of a 0/1 uint8 mask, bit for bit (the edges replicated the same
    way), computed on 64 columns per machine word: 2-3 times faster at the locator's line gaps (w < 64)."""
    if not 0 < w < WORD or h < 1:
        return erode(dilate(mask, w, h), w, h)
    cols = mask.shape[1]
    p = np.ascontiguousarray(_closing_packed(pack(mask), cols, w, h))
    return np.unpackbits(p.view(np.uint8), axis=1, count=WORD + cols, bitorder="little")[:, WORD:]


def _packed_runs(p: np.ndarray, cols: int, least: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_row_runs`` of a packed mask of ``cols`` columns, without unpacking it: the padding cleared, the
    columns where a row's bit changes from its left neighbour's are the runs' starts and (exclusive) ends,
    alternately; only the few words holding a change are unpacked. ``least`` (under WORD): only the runs at least
    that long, found in the mask eroded to the columns that many set bits start at (each run ``least`` - 1 shorter,
    the shorter ones gone): a dense page's closing at the narrowest gap has 17,000 runs, of which the lines' are a
    few hundred (evaluation page 777000+117: 2.9 -> 1.6 ms over its five gaps)."""
    p = np.array(p)  # contiguous, and the caller's padding left alone
    p[:, 0] = 0
    at, bit = divmod(WORD + cols - 1, WORD)
    p[:, at] &= np.uint64((1 << (bit + 1)) - 1)
    p[:, at + 1 :] = 0
    span = 1
    while span < least:  # each column: set where the ``span`` columns from it are (doubling steps)
        step = min(span, least - span)
        p &= _shift(p, step)
        span += step
    changes = p ^ _shift(p, -1)  # every row starts and ends in cleared padding: no run crosses rows
    flat = changes.reshape(-1)
    nonzero = np.flatnonzero(flat)
    bits = np.flatnonzero(np.unpackbits(flat[nonzero].view(np.uint8), bitorder="little").view(bool))
    pos = nonzero[bits // WORD] * WORD + bits % WORD
    row_bits = p.shape[1] * WORD
    rows = pos // row_bits
    x = pos - rows * row_bits - WORD
    starts, ends = x[0::2], x[1::2] + (least - 1)
    return rows[0::2], starts, ends, ends - starts


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold of ``values`` (0..255)."""
    return _otsu_hist(np.bincount(np.clip(values, 0, 255).astype(np.uint8).ravel(), minlength=256))


def _otsu_hist(hist: np.ndarray) -> float:
    """Otsu's threshold of a 256-level histogram."""
    hist = hist.astype(np.float64)
    total = hist.sum()
    levels = np.arange(256)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * levels)
    w1 = total - w0
    between = (m0[-1] * w0 / total - m0) ** 2 / np.maximum(w0 * w1, 1e-9) * total
    return float(np.argmax(between[:-1]))


def ink_mask(g: np.ndarray, w: int = 15, h: int = 7, strict: bool = False, bh: np.ndarray | None = None) -> np.ndarray:
    """Dark strokes thinner than ``w`` x ``h`` of the grey image ``g`` (uint8 0..255): uint8 0/1. The black-hat
    is stretched to 0..255 for Otsu's threshold by mapping its 256-level histogram (float32, truncated, as
    stretching each pixel gives), not the image. ``strict``: Otsu's threshold again over the strokes above the
    first, the darker of them alone: a security print's waves are thin and dark to the black-hat too, but
    lighter than the MRZ's ink (`test_an_mrz_in_a_dense_guilloche_is_located_in_its_darkest_strokes`). ``bh``: ``g``'s
    black-hat by ``w`` x ``h``, when made before (a frame's masks share it: 7 ms at the working size)."""
    bh = black_hat(g, w, h) if bh is None else bh
    top = max(1.0, float(bh.max()))
    stretched = np.clip(np.arange(256, dtype=np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    hist = np.bincount(stretched, weights=Image.fromarray(bh).histogram(), minlength=256)  # Pillow's: no int64 copy
    t = _otsu_hist(hist)
    if strict and hist[int(t) + 1 :].any():  # a blank frame has no strokes above it
        hist[: int(t) + 1] = 0
        t = _otsu_hist(hist)
    return (bh > np.float32(max(t * top / 255.0, MIN_STROKE))).astype(np.uint8)


def black_hat(g: np.ndarray, w: int = 15, h: int = 7) -> np.ndarray:
    """How much darker each pixel of ``g`` is than its closing by ``w`` x ``h``: dark strokes thinner than that."""
    return erode(dilate(g, w, h), w, h) - g  # closing >= image: no wrap-around


def local_ink_mask(g: np.ndarray, bh: np.ndarray | None = None) -> np.ndarray:
    """Dark strokes (as ``ink_mask``: uint8 0/1) each held to the strongest stroke near it (NEAR), not to one
    threshold for the page: an MRZ printed fainter than black print beside it, whose strokes the page's threshold
    leaves out (a photocopy beside typed text; DocsaidLab's figures showing an MRZ strip below black diagrams,
    no MRZ before; `test_a_faint_mrz_beside_black_print_is_located_in_its_local_ink`). ``bh`` as ``ink_mask``'s."""
    bh = black_hat(g) if bh is None else bh
    near = dilate(bh, NEAR, NEAR)
    return ((bh > np.maximum(np.float32(MIN_STROKE), np.float32(NEAR_SHARE) * near)) & (near > NEAR_CONTRAST)).astype(np.uint8)


def skews(mask: np.ndarray) -> list[float]:
    """The page angle (degrees) that makes the ink's rows line up best: the row profile of the ink pixels
    turned by each angle (coarse every 2 degrees, then every 0.25), the peakiest wins. A second angle at
    least 3 degrees away follows when it lines up nearly as well (SECOND_SKEW): a security print's waves
    can line up better than the MRZ's rows."""
    half = np.ascontiguousarray(mask[::2, ::2])  # every other row and column: plenty to judge rows by
    ys, xs = np.divmod(np.flatnonzero(half.view(bool)), half.shape[1])  # np.nonzero's order, several times faster
    if len(ys) < 2:
        return [0.0]
    if len(ys) > 60_000:  # enough ink to judge rows by: a regular subsample
        step = len(ys) // 60_000 + 1
        ys, xs = ys[::step], xs[::step]
    ys, xs = ys.astype(np.float32), xs.astype(np.float32)

    def sharpness(angle: float) -> float:
        a = math.radians(angle)
        turned = ys * np.float32(math.cos(a))
        turned -= xs * np.float32(math.sin(a))
        rows = np.rint(turned, out=turned).astype(np.int32)  # rows of the turned ink
        counts = np.bincount(rows - rows.min())
        return float(np.dot(counts, counts))  # exact: at most 60,000 squared

    def refine(coarse: float) -> float:
        return float(max(np.arange(coarse - 1.75, coarse + 1.8, 0.25), key=sharpness))

    coarse = {float(a): sharpness(float(a)) for a in ANGLES}
    best = max(coarse, key=lambda a: coarse[a])
    out = [refine(best)]
    values = list(coarse.values())
    peaks = [a for i, a in enumerate(coarse) if values[i] >= max(values[max(0, i - 1) : i + 2])]  # local maxima
    others = [a for a in peaks if abs(a - out[0]) >= 3.0 and coarse[a] >= SECOND_SKEW * coarse[best]]
    if others:
        out.append(refine(max(others, key=lambda a: coarse[a])))
    return out


def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every horizontal run of ones: (row, start, end, length) arrays."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded.ravel())
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    rows = starts // (w + 2)
    return rows, starts - rows * (w + 2), ends - rows * (w + 2), ends - starts


def text_lines(mask: np.ndarray, gap: int, packed: np.ndarray | None = None, join: bool = False
               ) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:  # fmt: skip
    """Boxes (x0, y0, x1, y1) of long ink runs after closing gaps of ``gap`` px, stacked rows merged; and the
    same lines with pieces of one line joined across a lost stretch (``_joined``, when ``join``; the first list
    when nothing joins). ``packed``: ``pack(mask)``, when the caller closes the same mask at several gaps."""
    tall = max(1, gap // 4)  # a little vertical smear so that every character has ink on the middle rows
    if 0 < gap < WORD:
        cols = mask.shape[1]
        p = pack(mask) if packed is None else packed
        rows, x0s, x1s, lengths = _packed_runs(_closing_packed(p, cols, gap, tall), cols, SHORTEST_RUN)
    else:
        rows, x0s, x1s, lengths = _row_runs(closing(mask, gap, tall))
    if not len(lengths):
        return [], []
    floor = max(SHORTEST_RUN, int(lengths.max() * LINE_FLOOR))
    full = lengths >= floor
    lines = _stacked(rows[full], x0s[full], x1s[full])
    if not join:
        return lines, lines
    short = ~full & (lengths >= max(SHORTEST_RUN, int(lengths.max() * PIECE_FLOOR)))
    # not a line's own fringe rows (mostly within its columns and its rows): a piece taller than the rows where a
    # line broken twice still runs long is the rest of that line (development page 8205000+52)
    pieces = [p for p in _stacked(rows[short], x0s[short], x1s[short])
              if not any(min(p[2], b[2]) - max(p[0], b[0]) > (p[2] - p[0]) / 2
                         and min(p[3], b[3]) - max(p[1], b[1]) > (p[3] - p[1]) / 2 for b in lines)]  # fmt: skip
    joined = [box for box in _joined(lines + pieces) if box[2] - box[0] >= floor]
    return lines, joined if sorted(joined) != sorted(lines) else lines


def _stacked(rows: np.ndarray, x0s: np.ndarray, x1s: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of runs stacked row on row (touching the previous row and overlapping it
    horizontally), at least 3 rows high. Each run is matched against the boxes still open (reaching the row
    above) only, and a box grows by comparisons, not ``min``/``max`` calls: against every box made so far, this
    took 9 ms of a large frame's 30 ms locating (evaluation pages 777000+92, +117, +158), 1.2 so; the same boxes
    (the locator's fingerprint on 300 pages)."""
    boxes: list[list[int]] = []
    open_: list[list[int]] = []  # the boxes reaching the previous row, in the order made: the rest are done
    last = -1
    for r, a, b in sorted(zip(rows.tolist(), x0s.tolist(), x1s.tolist(), strict=True)):
        if r != last:
            open_ = [box for box in open_ if box[3] >= r - 1]
            last = r
        for box in open_:  # same line: touching the previous row and overlapping horizontally
            if a < box[2] and b > box[0]:
                if a < box[0]:
                    box[0] = a
                if b > box[2]:
                    box[2] = b
                box[3] = r
                break
        else:
            boxes.append([a, r, b, r])
            open_.append(boxes[-1])
    return [(a, y0, b, y1 + 1) for a, y0, b, y1 in boxes if y1 + 1 - y0 >= 3]


def _joined(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Pieces of one line joined, left to right: a box starting right of a line's start, on the same rows (their
    heights overlapping by most of the lower one), overlapping its end or with a stretch between them of at most
    JOIN_GAP of the joined width (a piece's box can reach a few pixels into the next one's: a taller row of ink
    where a character's stroke leans, evaluation page 2468000+34); and a box touching a line's rows across most
    of its width (a line broken twice runs long only in the rows its breaks spare, its pieces fill the rest of
    its height). An MRZ line whose ink is lost for a few characters (glare, a light patch of the page's print
    lifting the ink mask's threshold, a finger) is still one line
    (`test_an_mrz_line_broken_by_a_lost_stretch_is_located_whole`,
    `test_an_mrz_line_broken_twice_above_its_lowest_rows_is_located_whole`)."""
    out: list[list[int]] = []  # a few dozen lines: plain Python (numpy per box took 2.5 ms of page 777000+117's 71)
    for box in sorted(boxes):
        x0, y0, x1, y1 = (int(v) for v in box)
        for line in out:
            overlap = min(line[3], y1) - max(line[1], y0)
            piece = (x0 > line[0] and overlap >= 0.6 * min(line[3] - line[1], y1 - y0)
                     and x0 - line[2] <= JOIN_GAP * (x1 - line[0]))  # fmt: skip
            stacked = overlap >= 0 and min(line[2], x1) - max(line[0], x0) > 0.5 * min(line[2] - line[0], x1 - x0)
            if piece or stacked:  # the first line it fits
                line[1:] = min(line[1], y0), max(line[2], x1), max(line[3], y1)
                break
        else:
            out.append([x0, y0, x1, y1])
    return [(a, b, c, d) for a, b, c, d in out]


def mrz_groups(boxes: list[tuple[int, int, int, int]]) -> list[tuple[float, list[tuple[int, int, int, int]]]]:
    """Every run of 2-3 line boxes that looks like an MRZ (alike, evenly stacked, long), with its score
    (the lines' total width). A run is of the boxes below one another: text beside the MRZ (a label, a
    caption, a stamp) between its lines' heights is not in it (a real Canadian specimen's "Machine Readable
    Zone" caption: `test_a_caption_beside_the_mrz_between_its_lines_heights_is_not_in_its_run`)."""
    boxes = sorted(boxes, key=lambda b: b[1])
    out = []
    for count in (3, 2):
        for i, top in enumerate(boxes):
            group = [top, *itertools.islice((b for b in boxes[i + 1 :] if _below(top, b)), count - 1)]
            if len(group) < count:
                continue
            widths = [b[2] - b[0] for b in group]
            heights = [b[3] - b[1] for b in group]
            if not _aligned(group, widths) or max(heights) > 2.2 * min(heights):
                continue
            centres = [(b[1] + b[3]) / 2 for b in group]
            gaps = [centres[k + 1] - centres[k] for k in range(len(group) - 1)]  # of 2-3 numbers: not numpy's
            h = float(statistics.median(heights))
            if any(g < 1.2 * h or g > 3.2 * h for g in gaps) or (len(gaps) > 1 and max(gaps) > 1.25 * min(gaps)):
                continue
            if min(widths) < 12 * h or h < 4:
                continue
            out.append((float(sum(widths)), group))
    return out


def _aligned(group: list[tuple[int, int, int, int]], widths: list[int]) -> bool:
    """The lines of ``group`` start together (within LOST of the widest) and are alike (at least 0.85 of it): an
    MRZ's lines are. Two lines that end together (within END_TOGETHER) may differ more at their start, down to
    0.75: one lost its first characters to a dark patch of the page's print (development pages 7777000+42 and
    1919000+77; ``_cut`` gives them back); and so may two that start together, at their end: a page lying
    upside down loses its first characters there (development page 2864000+79, its MRZ in light ink with the
    first line's first eight characters faint, found no MRZ at all)."""
    widest = max(widths)
    if min(widths) >= 0.85 * widest and abs(group[0][0] - group[-1][0]) <= LOST * widest:
        return True
    return (_lost_its_start(group, widest) or _lost_its_end(group, widest)) and min(widths) >= 0.75 * widest


def _lost_its_start(group: list[tuple[int, int, int, int]], widest: int) -> bool:
    """Two lines ending together (within END_TOGETHER of ``widest``) and starting more than LOST of it apart: one
    lost its first characters (``_aligned`` groups them, ``_cut`` gives them back)."""
    starts, ends = sorted(b[0] for b in group), sorted(b[2] for b in group)
    return len(group) == 2 and ends[-1] - ends[0] <= END_TOGETHER * widest and starts[-1] - starts[0] > LOST * widest


def _lost_its_end(group: list[tuple[int, int, int, int]], widest: int) -> bool:
    """``_lost_its_start``'s mirror: two lines starting together, one ending more than LOST of ``widest`` early."""
    return _lost_its_start([(-x1, y0, -x0, y1) for x0, y0, x1, y1 in group], widest)


def _below(top: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> bool:
    """``box`` overlaps ``top`` horizontally by more than half the narrower one's width."""
    return min(top[2], box[2]) - max(top[0], box[0]) > 0.5 * min(top[2] - top[0], box[2] - box[0])


def strokes(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """How much the ink of ``box`` looks like characters rather than a security print's lines, 0..1: the
    share of its inked columns whose ink spans at least TALL of the box's height (letters and digits have
    upright strokes, ``<`` two arms; a guilloche wave running along the box crosses each column once,
    thinly), reaching 1 at TEXT_LIKE."""
    x0, y0, x1, y1 = box
    sub = mask[y0:y1, x0:x1].view(bool)  # 0/1
    h = y1 - y0
    inked = sub.any(0)
    if h < 2 or not inked.any():
        return 0.0
    top = sub.argmax(0)[inked]  # each inked column's first and last inked row
    bottom = h - 1 - sub[::-1].argmax(0)[inked]
    tall = float(((bottom - top + 1) >= TALL * h).mean())
    return min(1.0, tall / TEXT_LIKE)


def _same(a: list[tuple[int, int, int, int]], b: list[tuple[int, int, int, int]]) -> bool:
    """Two groups of the same lines (found at different closing gaps)."""
    return len(a) == len(b) and all(abs(p[1] - q[1]) <= 3 and abs(p[3] - q[3]) <= 3 for p, q in zip(a, b, strict=True))


def locate(g: np.ndarray) -> Band | None:
    """The MRZ band of the grey image ``g`` (HxW uint8) most like one, its lines cut out; None if not found."""
    return next(iter_candidates(g, 1), None)  # the later masks are not made once a band is found


def candidates(g: np.ndarray, limit: int = CANDIDATES) -> list[Band]:
    """Up to ``limit`` MRZ-like bands of the grey image ``g``, the most MRZ-like (longest lines) first:
    guilloche waves or text lines can look like one, so the reader judges them by what it reads."""
    return list(iter_candidates(g, limit))


def iter_candidates(g: np.ndarray, limit: int = CANDIDATES, work_side: int = WORK_SIDE) -> Iterator[Band]:
    """``candidates`` one mask at a time, each mask made when the bands before it have been taken: the reader
    stops at the first band it reads surely, and on most pages that is one of the first mask's, so the strict
    mask is not made at all. A mask covering more than GRAINY of the page is smoothed (on ``image.meanwhile``'s
    helper thread while its first band is found), and the smoothed mask's bands come instead when smoothing took
    away GRAIN_GONE of it: grain. When the plain mask's best band is hardly text-like (WEAK_STROKES), the strict
    mask's bands come first. Last, when none of those was read surely, the bands of ``local_ink_mask``. ``work_side``:
    the working image's longer side at most (a larger one finds an MRZ that is small in a large frame, at several
    times the cost)."""
    h, w = g.shape
    scale = min(1.0, work_side / max(h, w))
    full = Image.fromarray(g if g.dtype == np.uint8 else np.clip(g, 0, 255).astype(np.uint8))
    grey_work = _working_image(full, scale)
    work_size = (grey_work.shape[1], grey_work.shape[0])
    bh = black_hat(grey_work)  # the plain, the strict and the local mask's
    mask = ink_mask(grey_work, bh=bh)
    grainy = mask.mean() > GRAINY  # a grainy photo (a small sensor in poor light)? Its grain is ink to the black-hat
    smoothing = meanwhile(lambda: _smoothed_mask(grey_work)) if grainy else None  # beside the plain mask's first band
    plain = _bands(mask, full, work_size, scale, limit)
    first = next(plain, None)
    smooth = None if smoothing is None else smoothing.result()
    if smooth is not None and smooth.mean() < GRAIN_GONE * mask.mean():  # grain: the plain mask's band is not read
        yield from _bands(smooth, full, work_size, scale, limit)
        return
    read: list[Band] = []
    makes = [lambda: itertools.chain([] if first is None else [first], plain),
             lambda: _bands(ink_mask(grey_work, strict=True, bh=bh), full, work_size, scale, limit)]  # fmt: skip
    if first is not None and first.text_like < WEAK_STROKES:  # waves or a page's edge at best: the darkest strokes first
        makes.reverse()
    for make in makes:  # a print's darkest strokes compete too
        for band in make():
            read.append(band)
            yield band
    if not read:  # nothing MRZ-like: faint ink on a blotchy page stands out smoothed
        for band in _bands(_smoothed_mask(grey_work) if smooth is None else smooth, full, work_size, scale, limit):
            read.append(band)
            yield band
    for band in _bands(local_ink_mask(grey_work, bh), full, work_size, scale, limit):  # none read surely: faint ink
        if not any(_overlapping(band, other) for other in read):  # a band found before is not read again
            yield band


def _working_image(full: Image.Image, scale: float) -> np.ndarray:
    """The grey page ``full`` at ``scale`` (at most 1), bilinear, in two halves at once (``image.in_halves``: 4.3 ms
    for a 1,447 x 1,009 frame in one go, 2.4 so): each half resampled from the rows of the page it covers and
    those beside it, as in one go (its box's edges computed apart differ in the last bits: a pixel may come out
    one grey level off)."""
    if scale >= 1:
        return np.asarray(full, np.uint8)
    w, h = full.size
    width, height = max(1, round(w * scale)), max(1, round(h * scale))

    def rows(y0: int, y1: int) -> np.ndarray:
        box = (0.0, y0 * h / height, float(w), y1 * h / height)
        return np.asarray(full.resize((width, y1 - y0), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0))

    return in_halves(height, rows)


def _overlapping(band: Band, other: Band) -> bool:
    """Whether most of ``band``'s box on the page (the box round its corners) lies in ``other``'s."""
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = (_box(b) for b in (band, other))
    inside = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    return inside > 0.5 * (ax1 - ax0) * (ay1 - ay0)


def _box(band: Band) -> tuple[float, float, float, float]:
    xs, ys = zip(*band.corners(), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def _smoothed_mask(grey_work: np.ndarray) -> np.ndarray:
    """The ink mask of the working image smoothed by a Gaussian of radius 1: grain and soft blotches' edges fade."""
    return ink_mask(smoothed(grey_work))


def smoothed(g: np.ndarray) -> np.ndarray:
    """``g`` (grey uint8) smoothed by a Gaussian of radius 1: the sampled kernel GAUSS (exp(-x^2 / 2), |x| <= 3,
    in 253ths) along the rows, rounded, then along the columns, edges replicated. The sums fit uint16 (at most
    253 * 255): 1.5 ms on a 1024 x 714 working image where Pillow's GaussianBlur(1) took 4-5 ms, on the grainy and
    densely printed pages whose locating is the camera gate's slowest."""
    out = np.pad(g, 3, mode="edge").astype(np.uint16)
    for axis in (1, 0):
        n = out.shape[axis] - 6
        total = np.zeros_like(out[:, :n] if axis else out[:n])
        for k, weight in enumerate(GAUSS):
            total += weight * (out[:, k : k + n] if axis else out[k : k + n])
        out = (total + 126) // 253
    return out.astype(np.uint8)


def _bands(mask: np.ndarray, full: Image.Image, work_size: tuple[int, int], scale: float, limit: int) -> Iterator[Band]:
    """The MRZ-like bands of one ink mask of the working image, at its page angle (``limit``) and a second one
    (half as many), most MRZ-like first at each angle; the first band at every angle comes before the others:
    where a security print's waves line up better than the MRZ's rows, the MRZ is the second angle's first band
    and is read second, not after every wave band of the first angle (seed 777000, page 47: seventh). A second
    angle's bands are made only when the reader asks for a band past the first angle's first: on two of the camera
    gate's slowest pages (777000+92, +117) the first is read surely, and the second angle cost 8 ms of 27."""
    made: list[list[Band]] = []
    for k, angle in enumerate(skews(mask)):
        made.append(_bands_at(mask, full, work_size, scale, angle, limit if k == 0 else limit // 2))
        if made[-1]:
            yield made[-1][0]
    for bands in made:
        yield from bands[1:]


def _bands_at(mask: np.ndarray, full: Image.Image, work_size: tuple[int, int], scale: float, angle: float,
              limit: int) -> list[Band]:  # fmt: skip
    """Up to ``limit`` MRZ-like bands of the ink ``mask`` turned by ``angle``, most MRZ-like first."""
    turned = np.asarray(Image.fromarray(mask).rotate(angle, Image.Resampling.NEAREST, expand=True))  # 0/1
    packed = pack(turned)  # packed once, closed at every gap
    found: list[tuple[float, float, list[tuple[int, int, int, int]]]] = []  # rank, text-likeness, lines
    strokes_of: dict[tuple[int, int, int, int], float] = {}  # a line is in several groups, and found at several gaps
    for gap in GAPS:  # character spacing is not known: groups at every closing gap compete
        lines, joined = text_lines(turned, gap, packed, join=gap == GAPS[-1])
        for boxes in (lines, joined) if joined is not lines else (lines,):  # joined lines compete too
            for score, group in mrz_groups(boxes):
                for box in group:
                    if box not in strokes_of:
                        strokes_of[box] = strokes(turned, box)
                text_like = min(strokes_of[box] for box in group)
                found.append((score * text_like**STROKES_POWER, text_like, group))
    groups: list[tuple[float, list[tuple[int, int, int, int]]]] = []
    for _, text_like, group in sorted(found, key=lambda f: -f[0]):
        if not any(_same(group, kept) for _, kept in groups):
            groups.append((text_like, group))
    return [_cut(full, work_size, turned, angle, scale, group, text_like) for text_like, group in groups[:limit]]


def foot_up(turned: np.ndarray, group: list[tuple[int, int, int, int]]) -> bool:
    """Whether the ink of the deskewed mask ``turned`` lies below the band of ``group`` rather than above it: more
    than FOOT_INK times as dense in the FOOT_SPAN band heights below as above, across the band. An MRZ is printed at
    the foot of its page, below the portrait and the printed data, so its page most likely lies upside down, and its
    lines are read turned first (``mrz_read.scored_columns``): on the camera gate's 300 frames 56 of the 60 pages lying
    upside down so, none of the 240 the right way up."""
    x0, x1 = min(b[0] for b in group), max(b[2] for b in group)
    y0, y1 = min(b[1] for b in group), max(b[3] for b in group)
    span = FOOT_SPAN * (y1 - y0)
    above, below = turned[max(0, y0 - span) : y0, x0:x1], turned[y1 : y1 + span, x0:x1]
    return below.size > 0 and float(below.mean()) > FOOT_INK * (float(above.mean()) if above.size else 0.0)


def _cut(full: Image.Image, work_size: tuple[int, int], turned: np.ndarray, angle: float, scale: float,
         group: list[tuple[int, int, int, int]], text_like: float) -> Band:  # fmt: skip
    """The band of ``group`` (boxes in ``turned``, the deskewed working image's mask), its lines cut out of ``full``
    upright."""
    ww, wh = work_size
    tw, th = turned.shape[1], turned.shape[0]
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    cuts, edges, inside = [], [], []
    starts, ends = sorted(b[0] for b in group), sorted(b[2] for b in group)
    width = max(b[2] - b[0] for b in group)  # the widest line: the measure _aligned groups them by
    lost_start = _lost_its_start(group, width)  # two lines ending together, one starting well after the other
    lost_end = _lost_its_end(group, width)  # or the mirror
    for x0, y0, x1, y1 in group:
        if len(group) == 3:  # the lines of a TD1 start and end together: one that lost its ends gets them back
            x0, x1 = min(x0, starts[1]), max(x1, ends[1])
        elif lost_start:
            x0 = starts[0]  # the one that lost its start gets the other's
        elif lost_end:
            x1 = ends[-1]  # the one that lost its end gets the other's
        lh = y1 - y0
        mx, my = 0.02 * (x1 - x0), LINE_MARGIN * lh
        bx0, by0, bx1, by1 = x0 - mx, y0 - my, x1 + mx, y1 + my
        out_w, out_h = max(1, round((bx1 - bx0) / scale)), max(1, round((by1 - by0) / scale))
        # crop pixel (u, v) -> deskewed working point q = (bx0, by0) + (u, v) * scale -> working point
        # R (q - c_turned) + c_work (R undoes PIL's rotate) -> full-resolution point / scale
        rot = np.array([[cos, -sin], [sin, cos]])
        off = (rot @ np.array([bx0 - tw / 2, by0 - th / 2]) + np.array([ww / 2, wh / 2])) / scale
        coeffs = (rot[0, 0], rot[0, 1], off[0], rot[1, 0], rot[1, 1], off[1])
        cuts.append(((out_w, out_h), tuple(float(c) for c in coeffs)))
        edges.append((bx0, bx1))
        u0, u1 = _in_frame(coeffs, (out_w, out_h), full.size)
        inside.append((bx0 + u0 / out_w * (bx1 - bx0), bx0 + u1 / out_w * (bx1 - bx0)))
    boxes = [(float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in group]
    return Band(angle, boxes, edges, inside, cuts, full, text_like, foot_up(turned, group))


def _in_frame(coeffs: tuple[float, ...], size: tuple[int, int], frame: tuple[int, int]) -> tuple[float, float]:
    """The columns ``u0``-``u1`` of a crop ``size`` (cut under the affine map ``coeffs``) whose middle row lies in
    a ``frame`` (width, height): a line running out of the frame is cut out with black beyond its edge
    (mrz_read: ``Scored.unseen``). An empty span (u0 >= u1) when none does."""
    a, b, c, d, e, f = coeffs[:6]
    v = size[1] / 2
    u0, u1 = 0.0, float(size[0])
    for slope, at, end in ((a, b * v + c, frame[0]), (d, e * v + f, frame[1])):  # x = slope * u + at, in 0..end
        if abs(slope) < 1e-9:
            if not 0 <= at <= end:
                return u1, u1
            continue
        lo, hi = sorted(((0 - at) / slope, (end - at) / slope))
        u0, u1 = max(u0, lo), min(u1, hi)
    return u0, max(u0, u1)

