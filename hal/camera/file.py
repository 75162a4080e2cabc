"""``file://PATH`` cameras (frames from a folder, one image or a video) and ``sim://camera``.

URL grammar:

    file://PATH[?loop=1|0]       PATH a folder of .ppm/.pgm/.pnm/.npy/.jpg/.jpeg/.png frames served in
                                 name order, one such file, an MJPEG file (.mjpeg .mjpg: JPEG frames
                                 one after another, as a UVC camera sends them), or a video file
                                 (.mp4 .avi .mkv .mov .webm; decoded by the ffmpeg program when it is
                                 installed, hal/camera/stream.py). No OpenCV.
                                 ``file:///abs/dir`` or ``file://rel/dir``. loop=1 (default) starts
                                 over after the last frame; loop=0 raises EndOfFramesError.
    sim://camera[?width=640&height=480&seed=0&noise=2]
                                 generated frames of a passport data page with the ICAO specimen
                                 MRZ (hal/camera/synthetic.py); ``noise`` is the sensor noise sigma
                                 (0-50), different per frame, reproducible from ``seed``.

    >>> cam = FileCamera("file://tests/data/frames/?loop=0")
    >>> cam.capture().image.shape
    (24, 32, 3)
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import SplitResult, unquote

import numpy as np

from hal.camera import Camera, EndOfFramesError
from hal.camera.pnm import IMAGE_SUFFIXES as PNM_SUFFIXES
from hal.camera.pnm import read_image
from hal.camera.stream import (
    MJPEG_SUFFIXES,
    PICTURE_SUFFIXES,
    VIDEO_SUFFIXES,
    FfmpegVideo,
    MjpegFile,
    read_picture,
)
from hal.camera.synthetic import SPECIMEN_MRZ, document_page
from hal.errors import BadUrlError, DeviceUnavailableError
from hal.url import UrlGrammar, bool_value, int_value, split_url

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = PNM_SUFFIXES + PICTURE_SUFFIXES  # one frame per file


def url_path(url: str) -> Path:
    """The filesystem path of a ``file://`` URL, absolute (``file:///x``) or relative (``file://x``)."""
    parts = split_url(url)
    host = "" if parts.netloc in ("", "localhost") else parts.netloc
    return Path(unquote(host + parts.path))


class FileCamera(Camera):
    """Frames from files: the camera of tests, demos and replaying a recorded session."""

    GRAMMAR = UrlGrammar("camera", "file://PATH[?OPTIONS]", {"loop": "1|0"})

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        _, opts = self.parse_url(url)
        self._check_options(opts)
        self.loop = bool_value("camera", opts, "loop", True)
        self.path = url_path(url)
        self._video: MjpegFile | FfmpegVideo | None = None
        self._next = 0
        self.frames: list[Path] = []
        if not self.path.exists():
            raise DeviceUnavailableError(
                errno.ENOENT,
                f"camera frames {str(self.path)!r} not found; expected a folder of "
                f"{'/'.join(IMAGE_SUFFIXES)} files, one such file, or a video",
            )
        if self.path.is_dir():
            self.frames = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.frames:
                raise DeviceUnavailableError(
                    errno.ENOENT, f"no frames ({', '.join(IMAGE_SUFFIXES)}) in folder {str(self.path)!r}"
                )
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self.frames = [self.path]
        elif self.path.suffix.lower() in MJPEG_SUFFIXES:
            self._video = MjpegFile(self.path)
        elif self.path.suffix.lower() in VIDEO_SUFFIXES:
            self._video = FfmpegVideo(self.path)
        else:
            raise BadUrlError(
                f"camera file {str(self.path)!r} has an unknown type; expected a folder, "
                f"{'/'.join(IMAGE_SUFFIXES)}, MJPEG ({'/'.join(MJPEG_SUFFIXES)}) or a video "
                f"({'/'.join(VIDEO_SUFFIXES)})"
            )

    def _grab(self) -> np.ndarray:
        if self._video is not None:
            return self._grab_video(self._video)
        if self._next >= len(self.frames):
            if not self.loop:
                raise EndOfFramesError(f"no more frames in {str(self.path)!r} (loop=0)")
            self._next = 0
        path = self.frames[self._next]
        self._next += 1
        return read_picture(path) if path.suffix.lower() in PICTURE_SUFFIXES else read_image(path)

    def _grab_video(self, video: MjpegFile | FfmpegVideo) -> np.ndarray:
        try:
            return video.next_frame()
        except EndOfFramesError:
            if not self.loop:
                raise
            video.rewind()
            return video.next_frame()

    def _release(self) -> None:
        if self._video is not None:
            self._video.close()


class SimCamera(Camera):
    """Generated frames of a passport data page; ``layout`` says where page, photo and MRZ are."""

    GRAMMAR = UrlGrammar("camera", "sim://camera[?OPTIONS]",
                         {"width": "64-4096", "height": "48-4096", "seed": "N", "noise": "0-50"})  # fmt: skip

    def __init__(
        self, url: str, *, clock: Callable[[], float] = time.time, mrz: tuple[str, ...] = SPECIMEN_MRZ
    ) -> None:
        super().__init__(clock=clock)
        width, height, self.seed, self.noise = self._check_options(self.parse_url(url)[1])
        self.clean, self.layout = document_page(width, height, mrz)
        self.count = 0
        self.plugged = True

    @classmethod
    def _check_location(cls, url: str, parts: SplitResult) -> None:
        if parts.netloc != "camera" or parts.path not in ("", "/"):
            raise cls.GRAMMAR.error(f"simulated camera URL {url!r} invalid; expected sim://camera?width=W&height=H")

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> tuple[int, int, int, int]:
        """Width, height, seed and noise from the options."""
        return (int_value("camera", options, "width", 640, 64, 4096),
                int_value("camera", options, "height", 480, 48, 4096),
                int_value("camera", options, "seed", 0, 0, 2**32 - 1),
                int_value("camera", options, "noise", 2, 0, 50))  # fmt: skip

    def unplug(self) -> None:
        """Captures fail with DeviceUnavailableError until ``replug()``, like a camera pulled from USB."""
        self.plugged = False

    def replug(self) -> None:
        """End a simulated unplug: frames come again."""
        self.plugged = True

    def _grab(self) -> np.ndarray:
        if not self.plugged:
            raise DeviceUnavailableError(errno.ENODEV, "simulated camera unplugged")
        self.count += 1
        if not self.noise:
            return self.clean.copy()
        rng = np.random.default_rng((self.seed, self.count))
        noisy = self.clean + rng.normal(0.0, self.noise, self.clean.shape)
        return noisy.clip(0, 255).astype(np.uint8)
