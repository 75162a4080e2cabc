"""A V4L2 capture driver model: the kernel's side of the ioctls ``hal/camera/v4l2.py`` makes.

No camera, vivid or v4l2loopback module can be loaded in the test container, so the real binding runs
against this model, which keeps the kernel's rules (videobuf2's buffer state machine): the request
number must encode the structure's size, only VIDEO_CAPTURE and MMAP are served, QBUF of a queued
buffer or an unknown index is EINVAL, DQBUF with nothing filled is EAGAIN, STREAMON needs buffers, an
unplugged device answers ENODEV and is readable (POLLERR). Frames come from ``frame()`` (RGB), encoded
as the negotiated pixel format (MJPEG by Pillow, YUYV by the BT.601 formulas).

    >>> driver = V4l2Driver(formats=("YUYV",))
    >>> cam = V4l2Camera("v4l2:///dev/video0", open_device=driver.open)
"""

from __future__ import annotations

import ctypes
import errno
import io
from collections import deque
from collections.abc import Callable

import numpy as np
from PIL import Image

from hal.camera import videodev2 as v


def rgb_to_yuyv(rgb: np.ndarray) -> bytes:
    """An even-width RGB image as YUYV 4:2:2 (BT.601 limited range), what a UVC camera sends."""
    f = rgb.astype(np.float32)
    y = 16 + 0.257 * f[..., 0] + 0.504 * f[..., 1] + 0.098 * f[..., 2]
    u = 128 - 0.148 * f[..., 0] - 0.291 * f[..., 1] + 0.439 * f[..., 2]
    w = 128 + 0.439 * f[..., 0] - 0.368 * f[..., 1] - 0.071 * f[..., 2]
    pairs = lambda a: (a[:, 0::2] + a[:, 1::2]) / 2  # noqa: E731 (chroma shared by two pixels)
    quads = np.stack([y[:, 0::2], pairs(u), y[:, 1::2], pairs(w)], -1)
    return np.clip(quads + 0.5, 0, 255).astype(np.uint8).tobytes()


def strip_huffman_tables(jpeg: bytes) -> bytes:
    """``jpeg`` without its DHT segments: what many UVC cameras send as MJPEG (the decoder must supply them)."""
    out, pos = bytearray(jpeg[:2]), 2
    while pos < len(jpeg):
        marker, length = jpeg[pos + 1], int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            out += jpeg[pos:]
            break
        if marker != 0xC4:
            out += jpeg[pos : pos + 2 + length]
        pos += 2 + length
    return bytes(out)


def mjpeg(rgb: np.ndarray) -> bytes:
    """``rgb`` as a UVC camera's MJPEG frame (baseline JPEG, no Huffman tables)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return strip_huffman_tables(buf.getvalue())


class V4l2Driver:
    """One capture device node; ``open`` is what ``V4l2Camera(open_device=...)`` calls."""

    PAGE = 4096

    def __init__(self, *, card: str = "Model Camera", capabilities: int | None = None,
                 formats: tuple[str, ...] = ("MJPG", "YUYV"), size: tuple[int, int] = (640, 480),
                 frame: Callable[[int], np.ndarray] | None = None, max_buffers: int = 8) -> None:  # fmt: skip
        caps = v.V4L2_CAP_VIDEO_CAPTURE | v.V4L2_CAP_STREAMING if capabilities is None else capabilities
        self.card, self.caps = card, caps
        self.formats = [v.fourcc(f) for f in formats]
        self.width, self.height = size
        self.pixelformat = self.formats[0] if self.formats else 0
        self.frame = frame or (lambda n: np.full((self.height, self.width, 3), n % 256, np.uint8))
        self.max_buffers = max_buffers
        self.corrupt_next = 0  # the next N frames are garbage (a USB hiccup)
        self.buffers: list[bytearray] = []
        self.queued: deque[int] = deque()
        self.filled: deque[tuple[int, int]] = deque()  # (index, bytesused)
        self.streaming = False
        self.plugged = True
        self.sequence = 0
        self.opened = 0
        self.closed = 0
        self.calls: list[str] = []
        self.fps: int | None = None

    # -- the device node ------------------------------------------------------------------------
    def open(self, path: str) -> V4l2Driver:
        """Open the node (one open file per driver here); unplugged, the node is gone."""
        if not self.plugged:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.opened += 1
        return self

    def close(self) -> None:
        """Closing the file stops streaming and frees the buffers, as the kernel does."""
        self.closed += 1
        self.streaming, self.buffers = False, []
        self.queued.clear()
        self.filled.clear()

    def map(self, offset: int, length: int) -> memoryview:
        """The buffer whose QUERYBUF offset is ``offset``."""
        index = offset // self.PAGE
        if offset % self.PAGE or index >= len(self.buffers) or length > len(self.buffers[index]):
            raise OSError(errno.EINVAL, "bad mmap offset")
        return memoryview(self.buffers[index]).toreadonly()

    def wait_readable(self, timeout: float) -> bool:
        """The camera fills the oldest queued buffer with the next frame (select returns at once)."""
        if not self.plugged:
            return True
        if self.streaming and self.queued:
            self.capture()
        return bool(self.filled)

    def capture(self) -> None:
        """The sensor delivers one frame into the oldest queued buffer (nothing queued: the frame is dropped)."""
        if not (self.streaming and self.queued):
            return
        index = self.queued.popleft()
        self.sequence += 1
        data = self._encode(self.frame(self.sequence))
        if self.corrupt_next:
            self.corrupt_next -= 1
            data = bytes(len(data) // 2)
        data = data[: len(self.buffers[index])]
        self.buffers[index][: len(data)] = data
        self.filled.append((index, len(data)))

    def _encode(self, rgb: np.ndarray) -> bytes:
        if self.pixelformat == v.V4L2_PIX_FMT_YUYV:
            return rgb_to_yuyv(rgb)
        return mjpeg(rgb)

    # -- ioctls ---------------------------------------------------------------------------------
    def ioctl(self, request: int, arg: ctypes.Structure | ctypes.c_int) -> None:
        """Serve ``request`` as the kernel would; OSError with its errno."""
        handlers = {v.VIDIOC_QUERYCAP: self._querycap, v.VIDIOC_ENUM_FMT: self._enum_fmt,
                    v.VIDIOC_G_FMT: self._g_fmt, v.VIDIOC_S_FMT: self._s_fmt, v.VIDIOC_S_PARM: self._s_parm,
                    v.VIDIOC_REQBUFS: self._reqbufs, v.VIDIOC_QUERYBUF: self._querybuf, v.VIDIOC_QBUF: self._qbuf,
                    v.VIDIOC_DQBUF: self._dqbuf, v.VIDIOC_STREAMON: self._streamon,
                    v.VIDIOC_STREAMOFF: self._streamoff}  # fmt: skip
        handler = handlers.get(request)
        if handler is None:
            raise OSError(errno.ENOTTY, "unknown ioctl")
        if (request >> 16) & 0x3FFF != ctypes.sizeof(arg):  # the size is part of the request number
            raise OSError(errno.ENOTTY, "ioctl size mismatch")
        if not self.plugged:
            raise OSError(errno.ENODEV, "No such device")
        self.calls.append(handler.__name__.lstrip("_"))
        handler(arg)

    def _capture_type(self, arg: ctypes.Structure | ctypes.c_int) -> None:
        kind = arg.value if isinstance(arg, ctypes.c_int) else arg.type  # type: ignore[attr-defined]
        if kind != v.V4L2_BUF_TYPE_VIDEO_CAPTURE or not self.caps & v.V4L2_CAP_VIDEO_CAPTURE:
            raise OSError(errno.EINVAL, "buffer type not supported")

    def _querycap(self, cap: v.v4l2_capability) -> None:
        cap.driver, cap.card, cap.bus_info = b"model", self.card.encode(), b"platform:model"
        cap.capabilities = self.caps | v.V4L2_CAP_DEVICE_CAPS
        cap.device_caps = self.caps

    def _enum_fmt(self, desc: v.v4l2_fmtdesc) -> None:
        self._capture_type(desc)
        if desc.index >= len(self.formats):
            raise OSError(errno.EINVAL, "no more formats")
        desc.pixelformat = self.formats[desc.index]
        desc.description = v.fourcc_name(desc.pixelformat).encode()

    def _g_fmt(self, fmt: v.v4l2_format) -> None:
        self._capture_type(fmt)
        pix = fmt.fmt.pix
        pix.width, pix.height, pix.pixelformat, pix.field = self.width, self.height, self.pixelformat, v.V4L2_FIELD_NONE
        pix.bytesperline = self.width * 2 if self.pixelformat == v.V4L2_PIX_FMT_YUYV else 0
        pix.sizeimage = self.width * self.height * 2

    def _s_fmt(self, fmt: v.v4l2_format) -> None:
        self._capture_type(fmt)
        if self.buffers:
            raise OSError(errno.EBUSY, "buffers allocated")
        pix = fmt.fmt.pix
        if pix.pixelformat in self.formats:  # else the driver keeps its own, as V4L2 drivers do
            self.pixelformat = pix.pixelformat
        self.width = max(16, min(1920, pix.width)) & ~1
        self.height = max(16, min(1080, pix.height))
        self._g_fmt(fmt)

    def _s_parm(self, parm: v.v4l2_streamparm) -> None:
        self._capture_type(parm)
        frac = parm.parm.capture.timeperframe
        self.fps = frac.denominator // max(1, frac.numerator)

    def _reqbufs(self, req: v.v4l2_requestbuffers) -> None:
        self._capture_type(req)
        if req.memory != v.V4L2_MEMORY_MMAP:
            raise OSError(errno.EINVAL, "only MMAP")
        if self.streaming:
            raise OSError(errno.EBUSY, "streaming")
        req.count = min(req.count, self.max_buffers)
        size = -(-self.width * self.height * 2 // self.PAGE) * self.PAGE
        self.buffers = [bytearray(size) for _ in range(req.count)]
        self.queued.clear()
        self.filled.clear()

    def _index(self, buf: v.v4l2_buffer) -> int:
        self._capture_type(buf)
        if buf.memory != v.V4L2_MEMORY_MMAP or buf.index >= len(self.buffers):
            raise OSError(errno.EINVAL, "bad buffer")
        return int(buf.index)

    def _querybuf(self, buf: v.v4l2_buffer) -> None:
        index = self._index(buf)
        buf.m.offset, buf.length = index * self.PAGE, len(self.buffers[index])

    def _qbuf(self, buf: v.v4l2_buffer) -> None:
        index = self._index(buf)
        if index in self.queued or any(i == index for i, _ in self.filled):
            raise OSError(errno.EINVAL, "buffer already queued")
        self.queued.append(index)

    def _dqbuf(self, buf: v.v4l2_buffer) -> None:
        self._capture_type(buf)
        if not self.streaming:
            raise OSError(errno.EINVAL, "not streaming")
        if not self.filled:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        index, used = self.filled.popleft()
        buf.index, buf.bytesused, buf.sequence = index, used, self.sequence
        buf.m.offset, buf.length = index * self.PAGE, len(self.buffers[index])

    def _streamon(self, kind: ctypes.c_int) -> None:
        self._capture_type(kind)
        if not self.buffers:
            raise OSError(errno.EINVAL, "no buffers")
        self.streaming = True

    def _streamoff(self, kind: ctypes.c_int) -> None:
        self._capture_type(kind)
        self.streaming = False
        self.queued.clear()
        self.filled.clear()
