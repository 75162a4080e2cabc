"""``v4l2:///dev/videoN``: a USB/CSI camera through OpenCV's V4L2 backend (optional dependency).

URL grammar: ``v4l2://DEVICE[?width=W&height=H&fps=N]``, DEVICE an absolute path such as
``/dev/video0`` or ``/dev/v4l/by-id/usb-…-video-index0`` (stable across replugs). OpenCV is
imported only when such a URL is opened; without it opening fails with BackendImportError.

    >>> cam = V4l2Camera("v4l2:///dev/video0?width=1280&height=720")   # on a gate
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, unquote

import numpy as np

from hal.camera import Camera, as_rgb
from hal.errors import BackendImportError, DeviceUnavailableError
from hal.url import UrlGrammar, int_value


def _cv2() -> Any:
    try:
        import cv2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise BackendImportError(
            f"the v4l2 camera needs OpenCV (pip install opencv-python-headless): {exc}"
        ) from exc
    return cv2


class V4l2Camera(Camera):
    """A V4L2 video device; DeviceUnavailableError when it is absent or stops delivering frames."""

    GRAMMAR = UrlGrammar("camera", "v4l2:///dev/videoN[?OPTIONS]", {"width": "1-8192", "height": "1-8192",
                                                                    "fps": "1-8192"})  # fmt: skip

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        parts, opts = self.parse_url(url)
        self._check_options(opts)
        self.device = unquote(parts.netloc + parts.path)
        cv2 = _cv2()
        if not os.path.exists(self.device):
            raise DeviceUnavailableError(errno.ENOENT, f"camera device {self.device!r} not found")
        self._cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not self._cap.isOpened():
            raise DeviceUnavailableError(errno.EIO, f"camera device {self.device!r} cannot be opened")
        for name, prop in (
            ("width", cv2.CAP_PROP_FRAME_WIDTH),
            ("height", cv2.CAP_PROP_FRAME_HEIGHT),
            ("fps", cv2.CAP_PROP_FPS),
        ):
            if name in opts:
                self._cap.set(prop, int_value("camera", opts, name, 0, 1, 8192))

    @classmethod
    def _check_location(cls, url: str, parts: SplitResult) -> None:
        if not unquote(parts.netloc + parts.path).startswith("/"):
            raise cls.GRAMMAR.error(f"v4l2 camera URL {url!r} invalid; expected v4l2:///dev/videoN")

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> None:
        for name in cls.GRAMMAR.options:
            if name in options:
                int_value("camera", options, name, 1, 1, 8192)

    def _grab(self) -> np.ndarray:
        ok, bgr = self._cap.read()
        if not ok:
            raise DeviceUnavailableError(errno.EIO, f"camera {self.device!r} returned no frame (unplugged?)")
        return as_rgb(np.ascontiguousarray(bgr[:, :, ::-1]), self.device)

    def _release(self) -> None:
        self._cap.release()
