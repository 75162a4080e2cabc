"""Synthetic MRZ images in the real OCR-B font: damaged line crops (training) and whole pages (evaluation).

Everything is drawn from a seeded ``random.Random`` so a training run or an evaluation set is reproducible.
Needs numpy and Pillow and Debian's ``fonts-ocr-b`` (public domain); ``tools/dev`` installs the font.

    >>> rng = random.Random(1)
    >>> crop, text = line_sample(rng)              # a damaged line crop as the locator would cut it
    >>> page = document_sample(rng, "TD3")          # a page on a desk, with its MRZ lines and face box
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from agent.mrz.specimens import FORMATS, random_document
from agent.vision.lines import LINE_H, LINE_W

OCRB_PATHS = ("/usr/share/fonts/opentype/ocr-b/OCRB.otf", "/usr/share/fonts/truetype/ocr-b/OCRB.ttf")
VIZ_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PITCH_EM = 0.7230  # OCR-B advance width per em (measured with Pillow)
# print_style: OCR-B as another foundry cut it, and the sans faces some issuers' printers set MRZs in instead
# (Debian fonts-ocr-b, fonts-dejavu-core, fonts-dejavu-extra, fonts-liberation; ./tools/dev installs them)
OCRB_CUTS = ("/usr/share/fonts/opentype/ocr-b/OCRB.otf", "/usr/share/fonts/opentype/ocr-b/OCRBS.otf")
OTHER_FACES = tuple(
    f"/usr/share/fonts/truetype/{name}.ttf"
    for name in ("dejavu/DejaVuSansMono", "dejavu/DejaVuSansMono-Bold", "dejavu/DejaVuSansCondensed",
                 "dejavu/DejaVuSansCondensed-Bold", "liberation/LiberationMono-Regular", "liberation/LiberationMono-Bold",
                 "liberation/LiberationSansNarrow-Regular", "liberation/LiberationSansNarrow-Bold",
                 "liberation/LiberationSans-Regular", "liberation/LiberationSans-Bold")
)  # fmt: skip
# Physical page sizes (mm) and MRZ geometry: OCR-B size 1 is 2.54 mm per character.
PAGE_MM = {"TD1": (85.6, 54.0), "TD2": (105.0, 74.0), "TD3": (125.0, 88.0), "MRVA": (125.0, 88.0),
           "MRVB": (105.0, 74.0), "FRA_1995": (105.0, 74.0)}  # fmt: skip
CHAR_MM = 2.54


class FontMissingError(RuntimeError):
    """The OCR-B font is not installed (Debian package fonts-ocr-b)."""


def ocrb_path() -> str:
    for path in OCRB_PATHS:
        if Path(path).exists():
            return path
    raise FontMissingError("the OCR-B font is missing; install Debian's fonts-ocr-b (tools/dev does)")


_FONTS: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    key = (path, size)
    if key not in _FONTS:
        if not Path(path).exists():
            raise FontMissingError(f"{path} is missing (./tools/dev installs the training fonts)")
        _FONTS[key] = ImageFont.truetype(path, size)
    return _FONTS[key]


# ---------------------------------------------------------------- backgrounds


def _smooth_noise(rng: random.Random, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1] (bilinear upsampling of a coarse random grid)."""
    gh, gw = max(2, cells * h // max(h, w) + 2), max(2, cells * w // max(h, w) + 2)
    grid = np.array([[rng.random() for _ in range(gw)] for _ in range(gh)], dtype=np.float32)
    img = Image.fromarray((grid * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def background(rng: random.Random, h: int, w: int) -> np.ndarray:
    """A grey page background: plain paper, guilloche, a photo-like texture or an IR-like flat field."""
    kind = rng.choice(["paper", "guilloche", "guilloche", "photo", "ir"])
    base = rng.uniform(150, 245)
    bg = np.full((h, w), base, dtype=np.float32)
    if kind in ("paper", "guilloche", "photo"):
        bg += (_smooth_noise(rng, h, w, rng.randint(2, 8)) - 0.5) * rng.uniform(0, 40)
    if kind == "guilloche":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        for _ in range(rng.randint(2, 5)):
            f1, f2 = rng.uniform(0.02, 0.25), rng.uniform(0.005, 0.05)
            phase = rng.uniform(0, 6.3)
            amp = rng.uniform(2, 12)
            wave = np.sin(yy * f1 + amp * np.sin(xx * f2 + phase) + xx * rng.uniform(-0.1, 0.1))
            bg -= np.clip(wave - rng.uniform(0.6, 0.95), 0, None) * rng.uniform(40, 160)
    if kind == "photo":
        bg = (bg * 0.5 + _smooth_noise(rng, h, w, rng.randint(10, 30)) * rng.uniform(60, 200)).astype(np.float32)
    return np.clip(bg, 0, 255)


# ---------------------------------------------------------------- damage


def _jpeg(rng: random.Random, img: np.ndarray, lo: int, hi: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=rng.randint(lo, hi))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(Image.fromarray(img).mode))


def damage(rng: random.Random, img: np.ndarray, strength: float, char_px: float) -> np.ndarray:
    """Camera and print damage on a grey or RGB image (characters ``char_px`` tall): light, glare, blur, noise, JPEG."""
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    shape = (h, w, 1) if out.ndim == 3 else (h, w)
    if rng.random() < 0.7 * strength:  # uneven light
        light = 1.0 - _smooth_noise(rng, h, w, rng.randint(1, 4)) * rng.uniform(0.1, 0.6) * strength
        out *= light.reshape(shape)
    if rng.random() < 0.25 * strength:  # glare: a bright ellipse
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.2, 1.0) * h, rng.uniform(0.05, 0.3) * w
        blob = np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))
        out += (blob * rng.uniform(40, 160) * strength).reshape(shape)
    out = np.clip(out, 0, 255)
    pil = Image.fromarray(out.astype(np.uint8))
    if rng.random() < 0.6 * strength:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.02, 0.12) * strength * char_px))
    out = np.asarray(pil, dtype=np.float32)
    if rng.random() < 0.7:
        out += np.asarray(np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 14) * strength, out.shape))
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.6 * strength:
        out8 = _jpeg(rng, out8, 12, 90)
    return out8


# ---------------------------------------------------------------- line crops (training)


@dataclass(frozen=True)
class PrintStyle:
    """How one document's printer set its MRZ, where it differs from the font file's OCR-B: the face, the
    glyphs' width and cap height against the pitch, the stroke weight and a wobble of each character's baseline."""

    face: str
    width: float  # glyph width, times the face's own at this pitch
    height: float  # cap height, times OCR-B's at this pitch
    weight: float  # the blurred ink's threshold: below 0.5 bolder strokes, above lighter
    wobble: float  # each character's baseline moved by up to this share of the pitch


def print_style(rng: random.Random) -> PrintStyle:
    """A printer's style: OCR-B in three of four documents (either cut), another sans face in the fourth; real
    passports and cards print narrower, bolder, lighter and less even glyphs than the font file draws."""
    other = rng.random() < 0.25
    face = rng.choice(OTHER_FACES) if other else rng.choice(OCRB_CUTS)
    width = rng.uniform(0.6, 1.1) if other else rng.uniform(0.78, 1.08)
    wobble = rng.uniform(0.0, 0.06) if rng.random() < 0.3 else 0.0
    return PrintStyle(face, width, rng.uniform(0.85, 1.1), rng.uniform(0.2, 0.72), wobble)


def _glyph(face: str, size: int, ch: str) -> np.ndarray:
    """``ch`` in ``face`` at ``size``: ink coverage (0..1) cut to its ink columns, drawn from the line's top."""
    key = (face, size, ch)
    if key not in _GLYPHS:
        img = Image.new("L", (2 * size, 2 * size), 0)
        ImageDraw.Draw(img).text((size // 2, 0), ch, fill=255, font=font(face, size))
        ink = np.asarray(img, dtype=np.float32) / 255.0
        cols = np.flatnonzero(ink.max(0) > 0.1)
        _GLYPHS[key] = ink[:, cols[0] : cols[-1] + 1] if len(cols) else ink[:, :1] * 0
    return _GLYPHS[key]


_GLYPHS: dict[tuple[str, int, str], np.ndarray] = {}


def _styled_line(rng: random.Random, canvas: np.ndarray, x: float, y: float, line: str, px_per_char: float,
                 style: PrintStyle) -> tuple[float, float, float, float]:  # fmt: skip
    """``line`` drawn into ``canvas`` character by character, each glyph centred in its cell of the pitch;
    returns the line's box."""
    f = font(style.face, 100)
    cap = _glyph(style.face, 100, "H")
    rows = np.flatnonzero(cap.max(1) > 0.5)
    cap_em = (rows[-1] - rows[0] + 1) / 100  # this face's cap height per em
    size = max(6, round(px_per_char * style.height / cap_em))  # cap height ~ the pitch, as OCR-B's
    stretch = style.width * px_per_char / (f.getlength("0") * size / 100)  # the face's advance -> the pitch
    lo, hi = canvas.shape[0], 0
    for i, ch in enumerate(line):
        g = _glyph(style.face, size, ch)
        gw = max(1, round(g.shape[1] * stretch))
        g = np.asarray(Image.fromarray(g).resize((gw, g.shape[0]), Image.Resampling.BILINEAR))
        gx = round(x + (i + 0.5) * px_per_char - gw / 2)
        gy = round(y + rng.uniform(-style.wobble, style.wobble) * px_per_char)
        h = min(g.shape[0], canvas.shape[0] - gy)
        w = min(gw, canvas.shape[1] - gx)
        if h <= 0 or w <= 0 or gy < 0 or gx < 0:
            continue
        np.maximum(canvas[gy : gy + h, gx : gx + w], g[:h, :w], out=canvas[gy : gy + h, gx : gx + w])
        inked = np.flatnonzero(g[:h].max(1) > 0.1)
        if len(inked):
            lo, hi = min(lo, gy + inked[0]), max(hi, gy + inked[-1] + 1)
    return x, float(lo), x + len(line) * px_per_char, float(hi)


def _stroke(ink: np.ndarray, weight: float, px_per_char: float) -> np.ndarray:
    """Strokes made bolder (``weight`` < 0.5) or lighter (> 0.5): the ink blurred and cut again at ``weight``."""
    pil = Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(max(0.6, px_per_char * 0.05)))
    soft = np.asarray(pil, dtype=np.float32) / 255.0
    return np.clip((soft - weight) * 3.0 + 0.5, 0.0, 1.0)


def render_lines(
    rng: random.Random, lines: tuple[str, ...], px_per_char: float, style: PrintStyle | None = None
) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """Ink coverage (0..1 float) of ``lines`` in OCR-B at ``px_per_char``, and each line's box (x0,y0,x1,y1);
    with a ``style``, as that printer set them (``print_style``)."""
    size = max(6, round(px_per_char / PITCH_EM))
    pitch = size * rng.uniform(1.55, 1.95)  # baseline to baseline, in pixels
    width = max(len(line) for line in lines)
    pad = size
    canvas_w, canvas_h = int(width * px_per_char * 1.05 + 2 * pad), int(pitch * len(lines) + 2 * pad)
    if style is not None:
        ink = np.zeros((canvas_h, canvas_w), np.float32)
        boxes = [_styled_line(rng, ink, pad, pad + i * pitch, line, px_per_char, style) for i, line in enumerate(lines)]
        return _stroke(ink, style.weight, px_per_char), boxes
    f = font(ocrb_path(), size)
    canvas = Image.new("L", (canvas_w, canvas_h), 0)
    draw = ImageDraw.Draw(canvas)
    boxes = []
    for i, line in enumerate(lines):
        y = pad + i * pitch
        draw.text((pad, y), line, fill=255, font=f)
        x0, y0, x1, y1 = draw.textbbox((pad, y), line, font=f)
        boxes.append((float(x0), float(y0), float(x1), float(y1)))
    return np.asarray(canvas, dtype=np.float32) / 255.0, boxes


def _warp(rng: random.Random, img: Image.Image, max_deg: float, max_shear: float) -> tuple[Image.Image, np.ndarray]:
    """A small rotation and shear about the image centre; returns the image and the 2x3 forward map."""
    w, h = img.size
    a = math.radians(rng.uniform(-max_deg, max_deg))
    sh = rng.uniform(-max_shear, max_shear)
    fwd = np.array([[math.cos(a), -math.sin(a) + sh, 0], [math.sin(a), math.cos(a), 0]], dtype=np.float64)
    c = np.array([w / 2, h / 2])
    fwd[:, 2] = c - fwd[:, :2] @ c
    inv = np.linalg.inv(np.vstack([fwd, [0, 0, 1]]))[:2]
    return img.transform(img.size, Image.Transform.AFFINE, tuple(inv.ravel()), Image.Resampling.BILINEAR), fwd


def _crop_quad(rng: random.Random, img: Image.Image, box: tuple[float, float, float, float],
               fwd: np.ndarray, run_on: tuple[float, float] = (0.0, 0.0)) -> Image.Image:  # fmt: skip
    """The line ``box`` (of the unwarped render) cut out of ``img`` as a locator would cut it: margins of
    varying size, sometimes loose (page edge, neighbouring lines), corners jittered (perspective, skew left
    by the deskew); ``run_on`` more pixels on the left and right (a crop running on past the line's ends)."""
    x0, y0, x1, y1 = box
    cx, cy = fwd[:, :2] @ np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + fwd[:, 2]
    bw, bh = (x1 - x0), (y1 - y0)
    loose = rng.random() < 0.2
    left = bw * (rng.uniform(0.03, 0.12) if loose and rng.random() < 0.5 else rng.uniform(-0.006, 0.03))
    right = bw * (rng.uniform(0.03, 0.12) if loose and rng.random() < 0.5 else rng.uniform(-0.006, 0.03))
    left, right = left + run_on[0], right + run_on[1]
    top, bottom = bh * rng.uniform(0.0, 0.55), bh * rng.uniform(0.0, 0.55)
    qx0, qx1, qy0, qy1 = cx - bw / 2 - left, cx + bw / 2 + right, cy - bh / 2 - top, cy + bh / 2 + bottom
    j = bh * (rng.uniform(0.0, 0.25) if rng.random() < 0.35 else 0.0)  # perspective: corners moved

    def jit() -> float:
        return rng.uniform(-j, j)

    quad = (qx0 + jit(), qy0 + jit(), qx0 + jit(), qy1 + jit(), qx1 + jit(), qy1 + jit(), qx1 + jit(), qy0 + jit())
    size = (max(8, round(qx1 - qx0)), max(6, round(qy1 - qy0)))
    return img.transform(size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)


def _occlude(rng: random.Random, img: np.ndarray) -> np.ndarray:
    """A shadow across part of the line, or the top or bottom of a stretch of characters covered."""
    h, w = img.shape
    x0 = rng.randrange(w)
    x1 = min(w, x0 + round(w * rng.uniform(0.05, 0.3)))
    out = img.astype(np.float32)
    if rng.random() < 0.5:
        out[:, x0:x1] *= rng.uniform(0.35, 0.75)  # shadow (a finger, the camera's housing)
    else:
        cut = round(h * rng.uniform(0.1, 0.3))
        rows = slice(0, cut) if rng.random() < 0.5 else slice(h - cut, h)
        out[rows, x0:x1] = rng.uniform(0, 255)
    return np.clip(out, 0, 255).astype(np.uint8)


def _run_on(rng: random.Random, ink: np.ndarray, share: float) -> tuple[np.ndarray, int, int]:
    """With probability ``share``, the ink canvas widened on the left, the right or both by 5-35 % of its
    width (where the page goes on past the line's ends, and a locator's line box can run on into the
    security print, the page's edge and the desk); the widened canvas and the pixels added each side.
    ``share`` 0 draws nothing from ``rng`` (earlier training sets render as before)."""
    if share <= 0 or rng.random() >= share:
        return ink, 0, 0
    h, w = ink.shape
    side = rng.random()
    left = round(w * rng.uniform(0.05, 0.35)) if side < 0.7 else 0
    right = round(w * rng.uniform(0.05, 0.35)) if side >= 0.4 else 0
    wide = np.zeros((h, w + left + right), np.float32)
    wide[:, left : left + w] = ink
    return wide, left, right


def _desk(rng: random.Random, img: np.ndarray, left: int, right: int) -> np.ndarray:
    """Past the page's edge somewhere in the run-on stretches (``left``/``right`` pixels), sometimes: the desk."""
    h, w = img.shape
    for extra, at_left in ((left, True), (right, False)):
        if extra < 4 or rng.random() < 0.4:
            continue
        depth = round(extra * rng.uniform(0.1, 0.9))  # desk pixels at this end
        cols = slice(0, depth) if at_left else slice(w - depth, w)
        desk = background(rng, h, depth) * rng.uniform(0.1, 1.2)
        img[:, cols] = np.clip(desk, 0, 255)
    return img


def _cut_across(rng: random.Random, img: np.ndarray, lines: tuple[str, ...],
                boxes: list[tuple[float, float, float, float]]) -> np.ndarray:  # fmt: skip
    """A glare with a sharp edge over one line: from before its start into its first character, from inside its
    last character past its end, or across the gap of two neighbours, always leaving 30-80 % of each character
    it cuts (a character hidden whole could not be read; one cut across must be read from what is left)."""
    k = rng.randrange(len(lines))
    x0, y0, x1, y1 = boxes[k]
    pitch = (x1 - x0) / len(lines[k])
    cut = rng.uniform(0.2, 0.7) * pitch
    where = rng.random()
    if where < 0.4:  # the line's start, and the margin before it
        a, b = x0 - rng.uniform(0.3, 2.0) * pitch, x0 + cut
    elif where < 0.8:  # its end, and past it
        a, b = x1 - cut, x1 + rng.uniform(0.3, 2.0) * pitch
    else:  # between two characters: the end of one and the start of the next
        gap = x0 + rng.randrange(1, len(lines[k])) * pitch
        a, b = gap - cut / 2, gap + rng.uniform(0.2, 0.8) * pitch / 2
    h = y1 - y0
    rows = slice(max(0, round(y0 - rng.uniform(0.05, 0.4) * h)), round(y1 + rng.uniform(0.05, 0.4) * h))
    img[rows, max(0, round(a)) : max(0, round(b))] = rng.uniform(200, 255)
    return img


def _specks(rng: random.Random, img: np.ndarray, lines: tuple[str, ...],
            boxes: list[tuple[float, float, float, float]]) -> np.ndarray:  # fmt: skip
    """1-12 round dark specks (dust on a scanner's or a camera tray's glass, pen dots) over the lines and the gaps
    between them, 0.04-0.25 of a character's pitch in radius, as dark as ink or lighter: one joined to a stroke can
    make a character look like another with more ink (an ``E`` a ``B``, an ``I`` a ``Z``), which the line models must
    learn to read through. None is large enough to hide a character (its cell is the pitch wide and 1.4 times high)."""
    pitch = min((x1 - x0) / len(text) for (x0, _, x1, _), text in zip(boxes, lines, strict=True))
    x0, x1 = min(b[0] for b in boxes), max(b[2] for b in boxes)
    y0, y1 = min(b[1] for b in boxes), max(b[3] for b in boxes)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.randint(1, 12)):
        r = rng.uniform(0.04, 0.25) * pitch
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0 - 0.3 * pitch, y1 + 0.3 * pitch)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rng.randint(0, 110))
    return np.asarray(pil, dtype=np.float32)


def _sharpening(rng: random.Random) -> ImageFilter.UnsharpMask:
    """A camera's or an editor's sharpening of a small photo: an unsharp mask of 0.8-3 captured pixels' radius at
    120-300 %, which draws light halos beside the strokes and darkens them within. A real specimen photographed
    small (275 x 184 pixels) and sharpened at radius 3 and 250 % read a name's ``N`` as ``X``, trusted, and
    evaluation pages shrunk and sharpened so read ``N`` as ``H``: every line model read the haloed strokes alike."""
    return ImageFilter.UnsharpMask(radius=rng.uniform(0.8, 3.0), percent=rng.randint(120, 300), threshold=rng.randint(0, 2))


def document_lines(rng: random.Random, fmt: str | None = None, run_on: float = 0.0, variety: float = 0.0,
                   dark_print: float = 0.0, cut_across: float = 0.0, specks: float = 0.0,
                   sharpened: float = 0.0) -> list[tuple[np.ndarray, str]]:  # fmt: skip
    """Every line of one random document as damaged line crops (uint8 grey, LINE_H x LINE_W) cut as the
    locator cuts them, with their texts: OCR-B printed lighter or bolder, a paper, guilloche, photo-like
    or IR-like background, scratches, a small rotation, shear and perspective, captured at 4-26 px per
    character, then uneven light, glare, blur, noise, JPEG and sometimes a shadow or a covered stretch.
    In a share ``run_on`` of the documents the crops run on past the lines' ends, into the page, its edge
    and the desk (``_run_on``), each line by its own part of that stretch. A share ``variety`` of the
    documents is set as a real printer sets it (``print_style``); ``variety`` 0 draws nothing from ``rng``.
    In a share ``dark_print`` the background keeps its full contrast, its security print as dark as the ink
    (as on the evaluation pages, ``document_sample``); in a share ``cut_across`` a glare cuts across a character
    of one line (``_cut_across``); in a share ``specks`` dark specks lie over the lines (``_specks``); in a share
    ``sharpened`` every captured line is sharpened alike (``_sharpening``). Any of these shares 0 draws nothing from
    ``rng`` either."""
    lines = random_document(rng, fmt)
    px = rng.uniform(10, 26)
    style = print_style(rng) if variety > 0 and rng.random() < variety else None
    ink, boxes = render_lines(rng, lines, px, style)
    if style is None and rng.random() < 0.3:  # the printer's stroke weight
        grow = ImageFilter.MaxFilter(3) if rng.random() < 0.5 else ImageFilter.MinFilter(3)
        ink = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).filter(grow), np.float32) / 255.0
    ink, run_left, run_right = _run_on(rng, ink, run_on)
    boxes = [(x0 + run_left, y0, x1 + run_left, y1) for x0, y0, x1, y1 in boxes]
    h, w = ink.shape
    bg = background(rng, h, w)
    lighter = rng.uniform(0.35, 1.0)  # security prints are mostly lighter than ink
    if dark_print > 0 and rng.random() < dark_print:
        lighter = 1.0
    bg = bg.mean() + (bg - bg.mean()) * lighter
    if run_left or run_right:
        bg = _desk(rng, bg, run_left, run_right)
    ink_level = rng.uniform(0, 90) if rng.random() < 0.93 else rng.uniform(90, 130)
    img = bg * (1 - ink) + ink_level * ink
    if rng.random() < 0.15:  # scratch or stamp stroke
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(pil)
        for _ in range(rng.randint(1, 3)):
            d.line([(rng.uniform(0, w), rng.uniform(0, h)), (rng.uniform(0, w), rng.uniform(0, h))],
                   fill=rng.randint(60, 250), width=rng.randint(1, max(1, int(px / 8))))
        img = np.asarray(pil, dtype=np.float32)
    if cut_across > 0 and rng.random() < cut_across:
        img = _cut_across(rng, img, lines, boxes)
    if specks > 0 and rng.random() < specks:
        img = _specks(rng, img, lines, boxes)
    pil, fwd = _warp(rng, Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), 1.5, 0.06)
    sharpen = _sharpening(rng) if sharpened > 0 and rng.random() < sharpened else None
    out = []
    for box, text in zip(boxes, lines, strict=True):
        if run_left or run_right:  # each line's box runs on by its own part of the stretch
            ends = (run_left * rng.uniform(0.3, 1.0), run_right * rng.uniform(0.3, 1.0))
            crop = _crop_quad(rng, pil, box, fwd, ends)
        else:
            crop = _crop_quad(rng, pil, box, fwd)
        # capture resolution: the crop as a camera saw it (4-26 px per character), damaged at that scale
        eff = rng.uniform(4.0, 7.0) if rng.random() < 0.15 else rng.uniform(6.0, min(26.0, px * 1.3))
        scale = eff / px * rng.uniform(0.9, 1.1)  # a little stretch: printers' pitch differs
        cw, ch = max(8, round(crop.width * scale)), max(6, round(crop.height * eff / px))
        small = np.asarray(crop.resize((cw, ch), Image.Resampling.BILINEAR, reducing_gap=2.0))
        small = damage(rng, small, rng.uniform(0.2, 1.0), ch / 1.6)
        if sharpen is not None:  # at the captured scale: halos a few of its pixels wide
            small = np.asarray(Image.fromarray(small).filter(sharpen))
        if rng.random() < 0.08:
            small = _occlude(rng, small)
        line = Image.fromarray(small).resize((LINE_W, LINE_H), Image.Resampling.BILINEAR)
        out.append((np.asarray(line), text))
    return out


def line_sample(rng: random.Random, fmt: str | None = None) -> tuple[np.ndarray, str]:
    """One damaged MRZ line crop (uint8 grey, LINE_H x LINE_W) and its text (see document_lines)."""
    lines = document_lines(rng, fmt)
    return lines[rng.randrange(len(lines))]


# ---------------------------------------------------------------- whole pages (evaluation, tests)


@dataclass(frozen=True)
class DocumentSample:
    image: np.ndarray  # HxWx3 uint8 RGB
    lines: tuple[str, ...]
    face_box: tuple[int, int, int, int] | None  # where the face photo was pasted (page pixels)
    angle: float  # degrees the page was turned


def _viz_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ ") for _ in range(n)).strip() or "X"


def document_sample(
    rng: random.Random,
    fmt: str | None = None,
    *,
    lines: tuple[str, ...] | None = None,
    face: np.ndarray | None = None,
    px_per_mm: float | None = None,
    angle: float | None = None,
    damage_strength: float | None = None,
) -> DocumentSample:
    """A document page lying on a desk, photographed: VIZ text, photo, MRZ; turned by ``angle`` degrees."""
    fmt = fmt or rng.choice(FORMATS)
    lines = lines or random_document(rng, fmt)
    page_mm = PAGE_MM.get(fmt, PAGE_MM["TD3"]) if len(lines[0]) != 30 else PAGE_MM["TD1"]
    ppm = px_per_mm or rng.uniform(4.5, 9.0)
    pw, ph = round(page_mm[0] * ppm), round(page_mm[1] * ppm)
    page = background(rng, ph, pw)
    rgb = np.stack([page * rng.uniform(0.9, 1.0), page * rng.uniform(0.9, 1.0), page * rng.uniform(0.85, 1.0)], 2)
    pil = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    margin = round(4 * ppm)
    # MRZ: bottom of the page, OCR-B at 2.54 mm per character
    ink, boxes = render_lines(rng, lines, CHAR_MM * ppm)
    iy1 = int(max(b[3] for b in boxes)) + 2
    iy0 = int(min(b[1] for b in boxes)) - 2
    ix1 = int(max(b[2] for b in boxes)) + 2
    ink = ink[max(0, iy0) : iy1, : ix1]
    mh, mw = ink.shape
    mx = max(1, (pw - mw) // 2)
    my = ph - margin - mh
    mw = min(mw, pw - mx)
    region = np.asarray(pil, dtype=np.float32)
    level = rng.uniform(0, 60)
    region[my : my + mh, mx : mx + mw] = (
        region[my : my + mh, mx : mx + mw] * (1 - ink[:, :mw, None]) + level * ink[:, :mw, None]
    )
    pil = Image.fromarray(np.clip(region, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    # photo on the left, VIZ text on the right
    photo_w = round(pw * 0.28)
    photo_h = min(round(photo_w * 1.28), my - 2 * margin)
    photo = (margin, margin, margin + photo_w, margin + photo_h)
    face_box = None
    if face is not None:
        fimg = Image.fromarray(face).resize((photo_w, photo_h), Image.Resampling.BILINEAR)
        pil.paste(fimg, photo[:2])
        face_box = photo
    else:
        draw.rectangle(photo, fill=(200, 200, 205))
    viz = font(VIZ_FONT, max(6, round(2.6 * ppm)))
    y = margin
    while y < my - 4 * ppm:
        draw.text((photo[2] + margin, y), _viz_text(rng, rng.randint(4, 18)), fill=(40, 40, 60), font=viz)
        y += round(rng.uniform(4.5, 7.5) * ppm)
    # the page on a desk, turned, photographed
    turn = rng.uniform(-10, 10) if angle is None else angle
    desk_w, desk_h = round(pw * rng.uniform(1.15, 1.5)), round(ph * rng.uniform(1.2, 1.6))
    desk = Image.fromarray(np.clip(np.stack([background(rng, desk_h, desk_w) * 0.5] * 3, 2), 0, 255).astype(np.uint8))
    rotated = pil.convert("RGBA").rotate(turn, expand=True, resample=Image.Resampling.BILINEAR)
    ox = (desk_w - rotated.width) // 2 + rng.randint(-pw // 20, pw // 20)
    oy = (desk_h - rotated.height) // 2 + rng.randint(-ph // 20, ph // 20)
    desk.paste(rotated, (ox, oy), rotated)
    if face_box is not None:  # the face box, moved with the page (its centre, same size)
        cx, cy = (face_box[0] + face_box[2]) / 2 - pw / 2, (face_box[1] + face_box[3]) / 2 - ph / 2
        a = math.radians(turn)
        nx = cx * math.cos(a) + cy * math.sin(a) + rotated.width / 2 + ox
        ny = -cx * math.sin(a) + cy * math.cos(a) + rotated.height / 2 + oy
        hw, hh = photo_w / 2, photo_h / 2
        face_box = (round(nx - hw), round(ny - hh), round(nx + hw), round(ny + hh))
    strength = rng.uniform(0.2, 0.8) if damage_strength is None else damage_strength
    out = damage(rng, np.asarray(desk), strength, CHAR_MM * ppm)
    return DocumentSample(out, lines, face_box, turn)
