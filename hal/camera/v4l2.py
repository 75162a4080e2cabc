"""``v4l2:///dev/videoN``: a USB/CSI camera through the kernel's V4L2 API (ctypes ioctls, no OpenCV).

URL grammar: ``v4l2://DEVICE[?width=W&height=H&fps=N&format=auto|mjpeg|yuyv]``, DEVICE an absolute path
such as ``/dev/video0`` or ``/dev/v4l/by-id/usb-…-video-index0`` (stable across replugs). Without width
or height the device keeps its current one; the driver may round what is asked to what it can do.
``format=auto`` takes MJPEG (decoded with Pillow, the least USB bandwidth) when the camera offers it and
Pillow is installed, else YUYV (decoded with numpy). Streaming I/O with mmap'ed driver buffers; a capture
returns the newest filled frame (older queued frames are handed back), so a reader never sees a stale tray.

    >>> cam = V4l2Camera("v4l2:///dev/video0?width=1280&height=720")   # on a gate
    >>> cam.capture().image.shape
    (720, 1280, 3)

A missing node, a node that is not a V4L2 device, a device that cannot capture or stream, one that offers
no MJPEG/YUYV, and a camera that delivers no frame within ``FRAME_TIMEOUT_S`` are DeviceUnavailableError
naming the device and what it offers; a corrupt frame is skipped.
"""

from __future__ import annotations

import ctypes
import errno
import io
import logging
import time
from collections.abc import Callable
from urllib.parse import SplitResult, unquote

import numpy as np

from hal.camera import BadFrameError, Camera, as_rgb
from hal.camera import videodev2 as v
from hal.errors import BackendImportError, DeviceUnavailableError
from hal.url import UrlGrammar, choice_value, int_value

logger = logging.getLogger(__name__)

BUFFERS = 4
FRAME_TIMEOUT_S = 2.0
REOPEN_S = 1.0
FORMATS = {"mjpeg": (v.V4L2_PIX_FMT_MJPEG, v.V4L2_PIX_FMT_JPEG), "yuyv": (v.V4L2_PIX_FMT_YUYV,)}


def _pillow_available() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def decode_mjpeg(data: bytes, source: str) -> np.ndarray:
    """One MJPEG frame (a JPEG, possibly without Huffman tables as UVC cameras send it) as RGB."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise BackendImportError(f"MJPEG from camera {source!r} needs Pillow (the vision extra): {exc}") from exc
    try:
        with Image.open(io.BytesIO(data)) as img:
            return as_rgb(np.asarray(img.convert("RGB")), source)
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadFrameError(f"camera {source!r} sent a frame that is not a JPEG ({len(data)} bytes): {exc}") from exc


def decode_yuyv(data: bytes, width: int, height: int, bytesperline: int, source: str) -> np.ndarray:
    """One YUYV 4:2:2 frame (Y0 U Y1 V, ITU-R BT.601 limited range) as RGB."""
    stride = max(bytesperline, width * 2)
    if width % 2 or len(data) < stride * (height - 1) + width * 2:
        raise BadFrameError(f"camera {source!r} sent {len(data)} bytes; expected a {width}x{height} YUYV frame "
                            f"of {stride * height}")  # fmt: skip
    raw = np.frombuffer(data, np.uint8, count=min(len(data), stride * height))
    raw = np.pad(raw, (0, stride * height - raw.size)).reshape(height, stride)[:, : width * 2]
    quads = raw.reshape(height, width // 2, 4).astype(np.float32)
    y = (np.stack([quads[..., 0], quads[..., 2]], -1).reshape(height, width) - 16.0) * 1.164
    u = np.repeat(quads[..., 1] - 128.0, 2, axis=1)
    w = np.repeat(quads[..., 3] - 128.0, 2, axis=1)
    rgb = np.stack([y + 1.596 * w, y - 0.392 * u - 0.813 * w, y + 2.017 * u], -1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


class V4l2Camera(Camera):
    """A V4L2 capture device; see the module docstring. ``open_device`` is the device node opener (the
    kernel's by default; a driver model in tests)."""

    GRAMMAR = UrlGrammar("camera", "v4l2:///dev/videoN[?OPTIONS]",
                         {"width": "1-8192", "height": "1-8192", "fps": "1-8192", "format": "auto|mjpeg|yuyv"})  # fmt: skip

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time,
                 open_device: Callable[[str], v.Device] = v.DeviceFile.open) -> None:  # fmt: skip
        super().__init__(clock=clock)
        parts, opts = self.parse_url(url)
        self._size, self._fps, self._wanted = self._check_options(opts)
        self.device = unquote(parts.netloc + parts.path)
        self.skipped = 0  # corrupt frames skipped so far
        self.reopened = 0  # times the device was opened again after it failed
        self._open_device = open_device
        self._buffers: list[memoryview] = []
        self._dev: v.Device | None = None
        self._retry_at = 0.0
        self._open()

    def _open(self) -> None:
        """Open the node and start streaming; DeviceUnavailableError (nothing left open) when it cannot."""
        try:
            dev = self._open_device(self.device)
        except FileNotFoundError:
            raise DeviceUnavailableError(errno.ENOENT, f"camera device {self.device!r} not found")
        except OSError as exc:
            hint = "; the gate's user needs the video group" if exc.errno == errno.EACCES else ""
            raise DeviceUnavailableError(exc.errno, f"camera device {self.device!r} cannot be opened: "
                                                    f"{v.errno_name(exc)}{hint}")  # fmt: skip
        self._dev = dev
        try:
            self._start(self._wanted)
        except BaseException:
            self._stop()
            raise

    @classmethod
    def _check_location(cls, url: str, parts: SplitResult) -> None:
        if not unquote(parts.netloc + parts.path).startswith("/"):
            raise cls.GRAMMAR.error(f"v4l2 camera URL {url!r} invalid; expected v4l2:///dev/videoN")

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> tuple[tuple[int, int], int | None, str]:
        for name in ("width", "height", "fps"):
            if name in options:
                int_value("camera", options, name, 1, 1, 8192)
        size = (int(options.get("width", 0)), int(options.get("height", 0)))  # 0: the device's own
        fps = int(options["fps"]) if "fps" in options else None
        return size, fps, choice_value("camera", options, "format", ("auto", "mjpeg", "yuyv"))

    def _fail(self, what: str, exc: OSError | None = None) -> DeviceUnavailableError:
        detail = f": {v.errno_name(exc)}" if exc is not None else ""
        return DeviceUnavailableError(exc.errno if exc is not None else errno.ENODEV,
                                      f"camera device {self.device!r} {what}{detail}")  # fmt: skip

    @property
    def _device(self) -> v.Device:
        if self._dev is None:
            raise self._fail("is not open")
        return self._dev

    def _ioctl(self, request: int, arg: ctypes.Structure | ctypes.c_int, what: str) -> None:
        try:
            self._device.ioctl(request, arg)
        except OSError as exc:
            raise self._fail(what, exc) from exc

    def _start(self, wanted: str) -> None:
        cap = v.v4l2_capability()
        try:
            self._device.ioctl(v.VIDIOC_QUERYCAP, cap)
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL):
                raise self._fail("is not a V4L2 device (VIDIOC_QUERYCAP refused)", exc) from exc
            raise self._fail("does not answer VIDIOC_QUERYCAP", exc) from exc
        caps = cap.device_caps if cap.capabilities & v.V4L2_CAP_DEVICE_CAPS else cap.capabilities
        card = cap.card.decode("latin-1", "replace")
        if not caps & v.V4L2_CAP_VIDEO_CAPTURE:
            raise self._fail(f"({card!r}) is not a video capture device (capabilities {caps:#010x}); "
                             "expected a node with V4L2_CAP_VIDEO_CAPTURE, often the lowest /dev/videoN of a camera")
        if not caps & v.V4L2_CAP_STREAMING:
            raise self._fail(f"({card!r}) does not support streaming I/O (capabilities {caps:#010x})")
        self.pixelformat = self._choose_format(wanted)
        fmt = v.v4l2_format(type=v.V4L2_BUF_TYPE_VIDEO_CAPTURE)
        self._ioctl(v.VIDIOC_G_FMT, fmt, "refused VIDIOC_G_FMT")
        if self._size[0]:
            fmt.fmt.pix.width = self._size[0]
        if self._size[1]:
            fmt.fmt.pix.height = self._size[1]
        fmt.fmt.pix.pixelformat, fmt.fmt.pix.field = self.pixelformat, v.V4L2_FIELD_ANY
        self._ioctl(v.VIDIOC_S_FMT, fmt, "refused the format")
        if fmt.fmt.pix.pixelformat != self.pixelformat:
            raise self._fail(f"set format {v.fourcc_name(fmt.fmt.pix.pixelformat)} when "
                             f"{v.fourcc_name(self.pixelformat)} was asked")  # fmt: skip
        self.width, self.height, self.bytesperline = fmt.fmt.pix.width, fmt.fmt.pix.height, fmt.fmt.pix.bytesperline
        if self._fps is not None:
            parm = v.v4l2_streamparm(type=v.V4L2_BUF_TYPE_VIDEO_CAPTURE)
            parm.parm.capture.timeperframe = v.v4l2_fract(1, self._fps)
            try:
                self._device.ioctl(v.VIDIOC_S_PARM, parm)
            except OSError as exc:  # the camera keeps its own rate: not a fault
                logger.warning("camera refused the frame rate", extra={"fields": {
                    "device": self.device, "fps": self._fps, "error": v.errno_name(exc)}})
        req = v.v4l2_requestbuffers(count=BUFFERS, type=v.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory=v.V4L2_MEMORY_MMAP)
        self._ioctl(v.VIDIOC_REQBUFS, req, "refused mmap buffers (VIDIOC_REQBUFS)")
        if req.count < 1:
            raise self._fail("granted no mmap buffers")
        for index in range(req.count):
            buf = self._buffer(index)
            self._ioctl(v.VIDIOC_QUERYBUF, buf, "refused VIDIOC_QUERYBUF")
            try:
                self._buffers.append(self._device.map(buf.m.offset, buf.length))
            except OSError as exc:
                raise self._fail("buffer cannot be mapped", exc) from exc
            self._ioctl(v.VIDIOC_QBUF, buf, "refused VIDIOC_QBUF")
        self._ioctl(v.VIDIOC_STREAMON, ctypes.c_int(v.V4L2_BUF_TYPE_VIDEO_CAPTURE), "refused VIDIOC_STREAMON")
        logger.info("camera streaming", extra={"fields": {
            "device": self.device, "card": card, "format": v.fourcc_name(self.pixelformat),
            "width": self.width, "height": self.height, "buffers": req.count}})

    def _choose_format(self, wanted: str) -> int:
        offered: list[int] = []
        while True:
            desc = v.v4l2_fmtdesc(index=len(offered), type=v.V4L2_BUF_TYPE_VIDEO_CAPTURE)
            try:
                self._device.ioctl(v.VIDIOC_ENUM_FMT, desc)
            except OSError as exc:
                if exc.errno == errno.EINVAL:  # past the last format
                    break
                raise self._fail("refused VIDIOC_ENUM_FMT", exc) from exc
            offered.append(desc.pixelformat)
        order = {"mjpeg": ["mjpeg"], "yuyv": ["yuyv"]}.get(wanted, ["mjpeg", "yuyv"])
        if wanted == "auto" and not _pillow_available():
            order = ["yuyv"]
        for name in order:
            for code in FORMATS[name]:
                if code in offered:
                    return code
        accepted = ", ".join(v.fourcc_name(c) for name in order for c in FORMATS[name])
        names = ", ".join(v.fourcc_name(c) for c in offered) or "none"
        raise self._fail(f"offers the formats {names}; expected {accepted}"
                         + ("" if wanted != "auto" or _pillow_available() else " (MJPEG needs Pillow)"))

    @staticmethod
    def _buffer(index: int = 0) -> v.v4l2_buffer:
        return v.v4l2_buffer(index=index, type=v.V4L2_BUF_TYPE_VIDEO_CAPTURE, memory=v.V4L2_MEMORY_MMAP)

    def _grab(self) -> np.ndarray:
        """The newest frame. A device that failed (unplugged, stalled) is closed and opened again on a later
        capture, at most every REOPEN_S: a camera plugged back in streams again without a restart."""
        if self._dev is None:
            if time.monotonic() < self._retry_at:
                raise self._fail(f"failed; opening it again within {REOPEN_S:g} s")
            self._retry_at = time.monotonic() + REOPEN_S
            self._open()
            self.reopened += 1
            logger.info("camera opened again", extra={"fields": {"device": self.device}})
        try:
            return self._stream()
        except DeviceUnavailableError:
            self._stop()
            self._retry_at = time.monotonic() + REOPEN_S
            raise

    def _stream(self) -> np.ndarray:
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        last_error = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._device.wait_readable(left):
                raise DeviceUnavailableError(errno.ETIMEDOUT, f"camera {self.device!r} delivered no frame in "
                                             f"{FRAME_TIMEOUT_S:g} s{last_error}")  # fmt: skip
            data = self._newest_frame()
            if data is None:
                continue
            try:
                return self._decode(data)
            except BadFrameError as exc:  # one corrupt frame (a USB hiccup): the next one will do
                self.skipped += 1
                last_error = f" ({self.skipped} corrupt frames skipped, the last: {exc})"
                logger.warning("corrupt camera frame skipped", extra={"fields": {"error": str(exc)}})

    def _newest_frame(self) -> bytes | None:
        """Dequeue every filled buffer, copy the newest good one out, queue them all again."""
        done: list[v.v4l2_buffer] = []
        while True:
            buf = self._buffer()
            try:
                self._device.ioctl(v.VIDIOC_DQBUF, buf)
            except BlockingIOError:
                break
            except OSError as exc:
                for old in done:
                    self._ioctl(v.VIDIOC_QBUF, old, "refused VIDIOC_QBUF")
                raise self._fail("stopped delivering frames (unplugged?)", exc) from exc
            done.append(buf)
        good = [b for b in done if b.bytesused and not b.flags & v.V4L2_BUF_FLAG_ERROR]
        data = bytes(self._buffers[good[-1].index][: good[-1].bytesused]) if good else None
        for buf in done:
            self._ioctl(v.VIDIOC_QBUF, buf, "refused VIDIOC_QBUF")
        return data

    def _decode(self, data: bytes) -> np.ndarray:
        if self.pixelformat == v.V4L2_PIX_FMT_YUYV:
            return decode_yuyv(data, self.width, self.height, self.bytesperline, self.device)
        return decode_mjpeg(data, self.device)

    def _unmap(self) -> None:
        for view in self._buffers:
            view.release()
        self._buffers = []

    def _stop(self) -> None:
        """Stop streaming, unmap and close the node (nothing when it is not open)."""
        self._unmap()
        dev, self._dev = self._dev, None
        if dev is None:
            return
        try:
            dev.ioctl(v.VIDIOC_STREAMOFF, ctypes.c_int(v.V4L2_BUF_TYPE_VIDEO_CAPTURE))
        except OSError:
            pass  # unplugged: closing frees everything anyway
        dev.close()

    def _release(self) -> None:
        self._stop()
