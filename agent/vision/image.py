"""Images for vision: decode JPEG/PNG (Pillow) and Netpbm/.npy frames, grey conversion, resizing, JPEG crops.

    >>> rgb = read_image("page.jpg")        # HxWx3 uint8; BadFrameError names a file that is not an image
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hal.camera import BadFrameError, pillow_rgb, pnm  # noqa: F401 (BadFrameError is re-exported)

MAX_PIXELS = 80_000_000  # a page scan at 600 dpi is ~35 Mpx; a bigger PNG is refused, a bigger JPEG decoded smaller


def read_image(path: str | Path) -> np.ndarray:
    """``path`` (JPEG, PNG, or a frame file hal reads) as HxWx3 uint8 RGB."""
    path = Path(path)
    if path.suffix.lower() in pnm.IMAGE_SUFFIXES:
        return pnm.read_image(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is MAX_PIXELS, said below
            img = Image.open(path)
        with img:
            scale = 1
            while img.format == "JPEG" and img.width * img.height > MAX_PIXELS * scale * scale:
                scale *= 2  # a phone's 108-megapixel photo: libjpeg decodes it at a half, never whole (draft)
            if scale > 1:
                img.draft(img.mode, (img.width // scale, img.height // scale))
            if img.width * img.height > MAX_PIXELS:
                raise BadFrameError(f"{str(path)!r} is {img.width}x{img.height}; at most {MAX_PIXELS} pixels")
            upright = ImageOps.exif_transpose(img)  # a phone photo: pixels as the sensor lay, its Orientation tag
            return pillow_rgb(upright, str(path))
    except FileNotFoundError:
        raise BadFrameError(f"{str(path)!r} does not exist")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise BadFrameError(f"{str(path)!r} is not a JPEG or PNG image: {exc}")


HALVES_FROM = 512  # in_halves: an image of fewer rows than this is made in one go (a hand-over costs ~0.1 ms)


@functools.cache
def _halves() -> ThreadPoolExecutor:
    """``in_halves``' helper thread, started when first needed."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision-halves")


def _one_core() -> bool:
    """Whether this process may run on one core only (its CPU affinity): no helper thread then."""
    return len(os.sched_getaffinity(0)) < 2


def in_halves(rows: int, part: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """An image of ``rows`` rows made as ``part(y0, y1)`` (its rows y0 to y1) for the top half on a helper thread
    and the bottom half on this one, stacked: Pillow's conversions and resampling let go of the interpreter lock,
    and a camera frame's first steps (``grey``, the locator's working image) run before the face search takes the
    second core. In one go on one core, or for fewer than HALVES_FROM rows."""
    if rows < HALVES_FROM or _one_core():
        return part(0, rows)
    top = _halves().submit(part, 0, rows // 2)
    bottom = part(rows // 2, rows)
    return np.concatenate([top.result(), bottom])


def meanwhile(fn: Callable[[], np.ndarray]) -> Future[np.ndarray]:
    """``fn()`` started on ``in_halves``' helper thread, for the caller to take once it has done its own part (numpy
    and Pillow let go of the interpreter lock); on one core, done now."""
    if not _one_core():
        return _halves().submit(fn)
    done: Future[np.ndarray] = Future()
    done.set_result(fn())
    return done


def grey(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601-2, Pillow's "L") of an HxWx3 uint8 image as HxW uint8 (``in_halves``: the same pixels)."""
    return in_halves(rgb.shape[0], lambda y0, y1: np.asarray(Image.fromarray(rgb[y0:y1]).convert("L")))


def resize(image: np.ndarray, width: int, height: int, reducing_gap: float = 2.0) -> np.ndarray:
    """``image`` (uint8 HxW or HxWx3) resized to ``width`` x ``height`` (bilinear, antialiased when shrinking;
    a smaller ``reducing_gap`` box-reduces more of the way first: faster, a little less smooth)."""
    resample = Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample, reducing_gap=reducing_gap))


def enlarged(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """``image`` (uint8 HxW or HxWx3) ``factor`` times the size, bicubic: a small photo's characters a few pixels
    wide keep their strokes apart for the locator and the line crops (mrz_read.read_frames)."""
    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((w * factor, h * factor), Image.Resampling.BICUBIC))


def turned(image: np.ndarray, degrees: float, max_side: int = 3072) -> np.ndarray:
    """``image`` (uint8 HxW or HxWx3) turned ``degrees`` counter-clockwise, all of it kept: a quarter turn
    exactly; any other angle on a copy at most ``max_side`` pixels on its longer side (a turned 80-megapixel photo
    would take twice that), its corners filled with the median colour of its border, an edge no stronger than the
    frame's own."""
    if degrees % 90 == 0:
        return np.ascontiguousarray(np.rot90(image, int(degrees // 90) % 4))
    img = _at_most(image, max_side)
    return np.asarray(img.rotate(degrees, Image.Resampling.BILINEAR, expand=True, fillcolor=_border_colour(image)))


def straightened(image: np.ndarray, far_edge: str, narrower: float, max_side: int = 3072) -> np.ndarray:
    """``image`` (uint8 HxW or HxWx3) as if seen square-on, where a camera at a slant saw its ``far_edge`` ("top",
    "bottom", "left" or "right") ``narrower`` of that edge's length shorter at each end: the perspective undone, on
    a copy at most ``max_side`` pixels on its longer side (what lay beside the far edge is cut off). A page
    photographed at a steep angle has its lines leaning near its sides, more than the line model was trained on,
    and a far side's characters narrower (mrz_read.read_frames)."""
    img = _at_most(image, max_side)
    w, h = img.size
    d, e = narrower * w, narrower * h
    seen_as: dict[str, list[tuple[float, float]]] = {
        "top": [(d, 0), (w - d, 0), (w, h), (0, h)], "bottom": [(0, 0), (w, 0), (w - d, h), (d, h)],
        "left": [(0, e), (w, 0), (w, h), (0, h - e)], "right": [(0, 0), (w, e), (w, h - e), (0, h)]}
    seen = seen_as[far_edge]
    coeffs = perspective([(0, 0), (w, 0), (w, h), (0, h)], seen)
    return np.asarray(img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR,
                                    fillcolor=_border_colour(image)))  # fmt: skip


def perspective(corners: list[tuple[float, float]], seen: list[tuple[float, float]]) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE coefficients taking each of the four output ``corners`` to where it is ``seen`` in the
    image transformed (a plane seen from another point: the eight unknowns of the homography, from four points)."""
    rows, values = [], []
    for (x, y), (u, v) in zip(corners, seen, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -x * u, -y * u], [0, 0, 0, x, y, 1, -x * v, -y * v]]
        values += [u, v]
    return tuple(np.linalg.solve(np.array(rows, float), np.array(values, float)).tolist())


def _at_most(image: np.ndarray, max_side: int) -> Image.Image:
    """``image`` as a Pillow image at most ``max_side`` pixels on its longer side (bilinear)."""
    img = Image.fromarray(image)
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)
    return img


def _border_colour(image: np.ndarray) -> int | tuple[int, ...]:
    """The median colour of ``image``'s border (a grey level for a grey image)."""
    median = np.median(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]), axis=0).astype(int)
    return tuple(median.tolist()) if median.ndim else int(median)


def jpeg_bytes(rgb: np.ndarray, max_side: int = 256, quality: int = 85) -> bytes:
    """``rgb`` as a JPEG at most ``max_side`` pixels on its longer side (evidence crops)."""
    img = Image.fromarray(rgb)
    img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
