"""Recorded camera frames for ``file://`` cameras, with no video library in the gate's environment.

- ``.jpg .jpeg .png`` frames (in a folder, or one file): decoded by Pillow (the vision extra).
- ``.mjpeg``/``.mjpg``: JPEG frames one after another (what a UVC camera sends, what ``ffmpeg -f mjpeg``
  writes), split at each JPEG start marker and decoded by Pillow like a V4L2 camera's MJPEG frames
  (``hal/camera/v4l2.py: decode_mjpeg``). The file is read one frame at a time (not whole, not mapped).
- ``.mp4 .avi .mkv .mov`` (and ``.webm``): decoded by the ``ffmpeg`` program (Debian package ``ffmpeg``)
  in a child process that pipes raw RGB frames, sized by ``ffprobe``. Without ``ffmpeg`` the camera is a
  BackendImportError that says how to turn the video into an MJPEG file or a folder of frames on any
  machine that has it.

    >>> frames = MjpegFile(Path("tray.mjpeg")); frames.next_frame().shape
"""

from __future__ import annotations

import errno
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
CHUNK = 1 << 16  # bytes read at a time while looking for the next frame's start
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
    """The JPEG frames of an MJPEG file in order; ``rewind()`` starts over.

    Read through a file handle, one frame at a time, never memory-mapped: a mapped file that is truncated
    while it is replayed (a recording overwritten in place, ``ffmpeg -y … tray.mjpeg``) kills the whole
    process with SIGBUS on the next access; read, it is only frames that end sooner.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        self._pos = self._first = self._find_soi(0)
        if self._pos < 0:
            self._file.close()
            raise BadFrameError(f"{str(path)!r} holds no JPEG frame; expected an MJPEG file (JPEGs one after another)")

    def _find_soi(self, start: int) -> int:
        """Offset of the first JPEG start marker at or after ``start``, -1 when there is none before the end."""
        self._file.seek(start)
        carry, offset = b"", start  # ``carry``: the tail of the last chunk, in case a marker straddles two
        while chunk := self._file.read(CHUNK):
            data = carry + chunk
            found = data.find(SOI)
            if found >= 0:
                return offset - len(carry) + found
            carry = data[-(len(SOI) - 1) :]
            offset += len(chunk)
        return -1

    def next_frame(self) -> np.ndarray:
        """The next frame as RGB; EndOfFramesError after the last one; BadFrameError for a corrupt one."""
        from hal.camera.v4l2 import decode_mjpeg

        if self._pos < 0:
            raise EndOfFramesError(f"no more frames in {str(self.path)!r}")
        start = self._pos
        self._pos = end = self._find_soi(start + len(SOI))
        self._file.seek(start)
        frame = self._file.read(end - start if end >= 0 else -1)
        if not frame:  # the file was cut shorter than where its frames were
            self._pos = -1
            raise EndOfFramesError(f"no more frames in {str(self.path)!r}")
        return decode_mjpeg(frame, str(self.path))

    def rewind(self) -> None:
        """Serve the first frame next."""
        self._pos = self._first

    def close(self) -> None:
        """Close the file; idempotent."""
        self._file.close()


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
