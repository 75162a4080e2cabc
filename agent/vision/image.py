"""Images for vision: decode JPEG/PNG (Pillow) and Netpbm/.npy frames, grey conversion, resizing, JPEG crops.

    >>> rgb = read_image("page.jpg")        # HxWx3 uint8; BadFrameError names a file that is not an image
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hal.camera import BadFrameError, pillow_rgb, pnm  # noqa: F401 (BadFrameError is re-exported)

MAX_PIXELS = 80_000_000  # a page scan at 600 dpi is ~35 Mpx; anything bigger is refused, not decoded


def read_image(path: str | Path) -> np.ndarray:
    """``path`` (JPEG, PNG, or a frame file hal reads) as HxWx3 uint8 RGB."""
    path = Path(path)
    if path.suffix.lower() in pnm.IMAGE_SUFFIXES:
        return pnm.read_image(path)
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise BadFrameError(f"{str(path)!r} is {img.width}x{img.height}; at most {MAX_PIXELS} pixels")
            upright = ImageOps.exif_transpose(img)  # a phone photo: pixels as the sensor lay, its Orientation tag
            return pillow_rgb(upright, str(path))
    except FileNotFoundError:
        raise BadFrameError(f"{str(path)!r} does not exist")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise BadFrameError(f"{str(path)!r} is not a JPEG or PNG image: {exc}")


def grey(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601-2, Pillow's "L") of an HxWx3 uint8 image as HxW uint8."""
    return np.asarray(Image.fromarray(rgb).convert("L"))


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
    img = Image.fromarray(image)
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)
    median = np.median(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]), axis=0).astype(int)
    fill = tuple(median.tolist()) if median.ndim else int(median)
    return np.asarray(img.rotate(degrees, Image.Resampling.BILINEAR, expand=True, fillcolor=fill))


def jpeg_bytes(rgb: np.ndarray, max_side: int = 256, quality: int = 85) -> bytes:
    """``rgb`` as a JPEG at most ``max_side`` pixels on its longer side (evidence crops)."""
    img = Image.fromarray(rgb)
    img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
