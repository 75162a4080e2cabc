"""Netpbm images (PGM/PPM, binary P5/P6 and ASCII P2/P3) and ``.npy`` frames, with numpy only.

Netpbm is the simplest lossless format that every image tool writes (``convert x.png x.ppm``,
``ffmpeg -i v.mp4 f%04d.ppm``), so test and demo frames need no image library.

    >>> write_pnm("f.ppm", np.zeros((2, 3, 3), np.uint8)); read_image("f.ppm").shape
    (2, 3, 3)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from hal.camera import BadFrameError, as_rgb

IMAGE_SUFFIXES = (".ppm", ".pgm", ".pnm", ".npy")
_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*([^\s#]+)")
MAX_SIDE = 16384


def parse_pnm(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode P2/P3/P5/P6 into HxW (grey) or HxWx3 uint8; 16-bit samples keep their top byte."""
    magic = data[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise BadFrameError(f"{source!r} starts with {magic!r}; expected a PGM/PPM header P2, P3, P5 or P6")
    pos, fields = 2, []
    for _ in range(3):
        m = _TOKEN.match(data, pos)
        if m is None or not m.group(1).isdigit():
            raise BadFrameError(f"{source!r} has a malformed header; expected 'P6 width height maxval'")
        fields.append(int(m.group(1)))
        pos = m.end()
    width, height, maxval = fields
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and 0 < maxval < 65536):
        raise BadFrameError(f"{source!r} header {width}x{height} maxval {maxval} out of range")
    channels = 3 if magic in (b"P3", b"P6") else 1
    count = width * height * channels
    if magic in (b"P5", b"P6"):
        pos += 1  # exactly one whitespace byte after maxval
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        raw = data[pos : pos + count * dtype.itemsize]
        if len(raw) < count * dtype.itemsize:
            raise BadFrameError(
                f"{source!r} is truncated: {len(raw)} of {count * dtype.itemsize} pixel bytes"
            )
        samples = np.frombuffer(raw, dtype=dtype).astype(np.uint32)
    else:
        values = data[pos:].split()
        if len(values) < count:
            raise BadFrameError(f"{source!r} is truncated: {len(values)} of {count} samples")
        try:
            samples = np.array([int(v) for v in values[:count]], dtype=np.uint32)
        except ValueError:
            raise BadFrameError(f"{source!r} has a non-numeric sample; expected decimal integers")
    if maxval != 255:
        samples = np.minimum(samples, maxval) * 255 // maxval
    shape = (height, width, 3) if channels == 3 else (height, width)
    return samples.astype(np.uint8).reshape(shape)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A frame file as HxWx3 uint8 RGB; BadFrameError names the file when it is not one."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise BadFrameError(f"{str(path)!r} is not a numpy .npy array: {exc}")
        return as_rgb(array, str(path))
    if suffix in (".ppm", ".pgm", ".pnm"):
        return as_rgb(parse_pnm(path.read_bytes(), str(path)), str(path))
    raise BadFrameError(
        f"{str(path)!r} has an unknown image type; expected one of {', '.join(IMAGE_SUFFIXES)}"
    )


def write_pnm(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write HxW (P5) or HxWx3 (P6) uint8 ``image``."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise BadFrameError(
            f"cannot write image of dtype {image.dtype} shape {image.shape}; expected uint8 HxW[x3]"
        )
    magic = b"P6" if image.ndim == 3 else b"P5"
    header = b"%s\n%d %d\n255\n" % (magic, image.shape[1], image.shape[0])
    Path(path).write_bytes(header + np.ascontiguousarray(image).tobytes())
