"""Recorded camera frames for ``file://`` cameras, with no video library in the gate's environment.

- ``.jpg .jpeg .png`` frames (in a folder, or one file): decoded by Pillow (the vision extra).
- ``.mjpeg``/``.mjpg``: JPEG frames one after another (what a UVC camera sends, what ``ffmpeg -f mjpeg``
  writes), split at each JPEG start marker and decoded by Pillow like a V4L2 camera's MJPEG frames
  (``hal/camera/v4l2.py: decode_mjpeg``). The file is memory-mapped, not read whole.
- ``.mp4 .avi .mkv .mov`` (and ``.webm``): decoded by the ``ffmpeg`` program (Debian package ``ffmpeg``)
  in a child process that pipes raw RGB frames, sized by ``ffprobe``. Without ``ffmpeg`` the camera is a
  BackendImportError that says how to turn the video into an MJPEG file or a folder of frames on any
  machine that has it.

    >>> frames = MjpegFile(Path("tray.mjpeg")); frames.next_frame().shape
"""

from __future__ import annotations

import errno
import mmap
import shutil
import subprocess
from pathlib import Path

import numpy as np

from hal.camera import BadFrameError, EndOfFramesError, as_rgb, pillow_rgb
from hal.errors import BackendImportError, DeviceUnavailableError

PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")
MJPEG_SUFFIXES = (".mjpeg", ".mjpg")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
SOI = b"\xff\xd8\xff"  # a JPEG's start-of-image marker and the next marker's first byte
CONVERT_HINT = "ffmpeg -i VIDEO -c:v mjpeg -q:v 3 -f mjpeg tray.mjpeg (or: ffmpeg -i VIDEO frames/%05d.png)"


def read_picture(path: Path) -> np.ndarray:
    """A JPEG or PNG frame as RGB (Pillow); BadFrameError names a file that is not one."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise BackendImportError(f"JPEG/PNG frame {str(path)!r} needs Pillow (the vision extra): {exc}") from exc
    try:
        with Image.open(path) as img:
            return pillow_rgb(img, str(path))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadFrameError(f"frame {str(path)!r} is not a JPEG or PNG image: {exc}") from exc


class MjpegFile:
    """The JPEG frames of an MJPEG file in order; ``rewind()`` starts over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as f:
                self._data: mmap.mmap | bytes = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            self._data = b""
        self._pos = self._data.find(SOI)
        if self._pos < 0:
            raise BadFrameError(f"{str(path)!r} holds no JPEG frame; expected an MJPEG file (JPEGs one after another)")
        self._first = self._pos

    def next_frame(self) -> np.ndarray:
        """The next frame as RGB; EndOfFramesError after the last one; BadFrameError for a corrupt one."""
        from hal.camera.v4l2 import decode_mjpeg

        if self._pos < 0 or self._pos >= len(self._data):
            raise EndOfFramesError(f"no more frames in {str(self.path)!r}")
        end = self._data.find(SOI, self._pos + len(SOI))
        frame = self._data[self._pos : end if end >= 0 else len(self._data)]
        self._pos = end
        return decode_mjpeg(bytes(frame), str(self.path))

    def rewind(self) -> None:
        """Serve the first frame next."""
        self._pos = self._first

    def close(self) -> None:
        """Unmap the file; idempotent."""
        if isinstance(self._data, mmap.mmap) and not self._data.closed:
            self._data.close()


class FfmpegVideo:
    """The frames of a video file decoded by an ``ffmpeg`` child process, as RGB; ``rewind()`` starts over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
        if ffmpeg is None or ffprobe is None:
            raise BackendImportError(
                f"reading video {str(path)!r} needs the ffmpeg program (Debian package ffmpeg); without it, "
                f"convert the video where ffmpeg is: {CONVERT_HINT}"
            )
        self._ffmpeg = ffmpeg
        probe = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
             "-of", "csv=p=0:s=x", str(path)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        size = probe.stdout.strip().split("x")
        if probe.returncode != 0 or len(size) != 2 or not all(s.isdigit() for s in size):
            reason = probe.stderr.strip().splitlines()[-1:] or ["no video stream"]
            raise DeviceUnavailableError(errno.EIO, f"ffmpeg cannot read video {str(path)!r}: {reason[0]}")
        self.width, self.height = int(size[0]), int(size[1])
        self._proc: subprocess.Popen[bytes] | None = None

    def next_frame(self) -> np.ndarray:
        """The next frame as RGB; EndOfFramesError after the last one."""
        if self._proc is None:
            self._proc = subprocess.Popen(
                [self._ffmpeg, "-v", "error", "-nostdin", "-i", str(self.path), "-f", "rawvideo",
                 "-pix_fmt", "rgb24", "-"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        size = self.width * self.height * 3
        data = self._proc.stdout.read(size) if self._proc.stdout is not None else b""
        if len(data) < size:
            self.rewind()
            raise EndOfFramesError(f"no more frames in video {str(self.path)!r}")
        return as_rgb(np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3).copy(), str(self.path))

    def rewind(self) -> None:
        """Stop the decoder; the next frame is the first again."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def close(self) -> None:
        """Stop the decoder; idempotent."""
        self.rewind()
