"""Cameras: a capture is a numpy image plus the time it was taken.

    >>> from hal import open_camera
    >>> cam = open_camera("file://tests/data/frames/")
    >>> frame = cam.capture()
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # HxWx3 uint8, RGB
    timestamp: float  # time.time() of capture


class Camera:
    """Interface of every camera backend."""

    def capture(self) -> Frame:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device; idempotent."""
