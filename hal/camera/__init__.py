"""Cameras: a capture is a numpy image plus the time it was taken.

    >>> from hal import open_camera
    >>> cam = open_camera("sim://camera?width=320&height=240")
    >>> frame = cam.capture(); frame.image.shape
    (240, 320, 3)

The base class owns the invariants (closed check, image shape and dtype, timestamp from an
injected clock); a backend fills ``_grab() -> ndarray`` and ``_release()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hal.errors import DeviceUnavailableError, HalError
from hal.url import UrlBackend

if TYPE_CHECKING:
    from PIL.Image import Image as PillowImage


class BadFrameError(HalError, ValueError):
    """An image file that is not a readable frame; the message names the file and the expected form."""

    remedy = "give a JPEG or PNG image, or a frame file (.ppm, .pgm, .pnm, .npy)"  # not a device's cable: a file


class EndOfFramesError(HalError, EOFError):
    """A ``file://`` camera with ``loop=0`` has served its last frame."""


@dataclass(frozen=True)
class Frame:
    """One camera image (``height x width x 3`` uint8 RGB) and the clock reading when it was taken."""
    image: np.ndarray  # HxWx3 uint8, RGB
    timestamp: float  # clock() of capture, time.time() unless injected


def as_rgb(image: np.ndarray, source: str) -> np.ndarray:
    """``image`` as HxWx3 uint8 RGB (grey is replicated); BadFrameError for anything else."""
    if image.dtype != np.uint8:
        raise BadFrameError(f"frame {source!r} has dtype {image.dtype}; expected uint8")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise BadFrameError(f"frame {source!r} has shape {image.shape}; expected HxW or HxWx3")
    return np.ascontiguousarray(image)


def pillow_rgb(img: PillowImage, source: str) -> np.ndarray:
    """A decoded Pillow image as HxWx3 uint8 RGB. A 16-bit grey image (a scanner's PNG or TIFF; Pillow's mode
    ``I;16``, or ``I``/``F`` beyond 255; a float image of 0..1) keeps its levels, scaled to 8 bits: Pillow's own
    conversion clips them at 255, and a page scanned so came out white, no MRZ found. One holding levels of 255
    at most holds 8-bit levels (a converter that widened them without scaling: Pillow's ``convert("I;16")``), kept
    as they are; scaled, the page came out black."""
    if img.mode.startswith("I") or img.mode == "F":
        levels = np.asarray(img, np.float64)
        brightest = float(levels.max(initial=0.0))
        if img.mode == "F" and brightest <= 1.0:
            top = 1.0
        elif brightest <= 255:
            top = 255.0
        else:
            top = max(65535.0, brightest)
        return as_rgb(np.clip(np.rint(levels * (255.0 / top)), 0, 255).astype(np.uint8), source)
    return as_rgb(np.asarray(img.convert("RGB")), source)


class Camera(UrlBackend):
    """Interface of every camera backend; a backend declares its ``GRAMMAR`` and fills ``_grab``."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._closed = False

    def capture(self) -> Frame:
        """The next frame. Raises DeviceUnavailableError (device gone or closed), EndOfFramesError."""
        if self._closed:
            raise DeviceUnavailableError(f"{type(self).__name__} is closed")
        image = self._grab()
        return Frame(image, self._clock())

    def close(self) -> None:
        """Release the device; idempotent."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _grab(self) -> np.ndarray:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device."""
