"""The part of the kernel's V4L2 ABI (<linux/videodev2.h>) a capture camera needs, as ctypes structures.

Structure layouts and ioctl numbers follow the kernel header on Linux's generic ioctl encoding (x86,
arm, arm64, riscv); ``tests/hal/camera/test_v4l2.py`` compiles a C program against the installed
header and compares every size, offset and request number with these. ``Device`` is the open file:
ioctl on a structure in place, mmap of a driver buffer, wait until a frame is ready.

    >>> dev = Device.open("/dev/video0")
    >>> cap = v4l2_capability(); dev.ioctl(VIDIOC_QUERYCAP, cap); cap.card
    b'HD Pro Webcam C920'
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import select
from ctypes import c_char, c_int, c_long, c_ubyte, c_uint32, c_void_p
from typing import Protocol


class v4l2_capability(ctypes.Structure):  # noqa: N801 (the kernel's names, so the C test can compare)
    """VIDIOC_QUERYCAP: what the device is and can do."""
    _fields_ = [("driver", c_char * 16), ("card", c_char * 32), ("bus_info", c_char * 32), ("version", c_uint32),
                ("capabilities", c_uint32), ("device_caps", c_uint32), ("reserved", c_uint32 * 3)]  # fmt: skip


class v4l2_fmtdesc(ctypes.Structure):  # noqa: N801
    """VIDIOC_ENUM_FMT: one pixel format the device offers."""
    _fields_ = [("index", c_uint32), ("type", c_uint32), ("flags", c_uint32), ("description", c_char * 32),
                ("pixelformat", c_uint32), ("mbus_code", c_uint32), ("reserved", c_uint32 * 3)]  # fmt: skip


class v4l2_pix_format(ctypes.Structure):  # noqa: N801
    """A single-planar image format."""
    _fields_ = [(name, c_uint32) for name in (
        "width", "height", "pixelformat", "field", "bytesperline", "sizeimage", "colorspace", "priv", "flags",
        "ycbcr_enc", "quantization", "xfer_func")]  # fmt: skip


class _fmt(ctypes.Union):  # noqa: N801
    # v4l2_window in the kernel's union holds pointers: the union is pointer-aligned
    _fields_ = [("pix", v4l2_pix_format), ("raw_data", c_ubyte * 200), ("_align", c_void_p)]


class v4l2_format(ctypes.Structure):  # noqa: N801
    """VIDIOC_G_FMT / VIDIOC_S_FMT."""
    _fields_ = [("type", c_uint32), ("fmt", _fmt)]


class v4l2_fract(ctypes.Structure):  # noqa: N801
    """A fraction (time per frame)."""
    _fields_ = [("numerator", c_uint32), ("denominator", c_uint32)]


class v4l2_captureparm(ctypes.Structure):  # noqa: N801
    """Capture parameters: the frame interval."""
    _fields_ = [("capability", c_uint32), ("capturemode", c_uint32), ("timeperframe", v4l2_fract),
                ("extendedmode", c_uint32), ("readbuffers", c_uint32), ("reserved", c_uint32 * 4)]  # fmt: skip


class _parm(ctypes.Union):  # noqa: N801
    _fields_ = [("capture", v4l2_captureparm), ("raw_data", c_ubyte * 200)]


class v4l2_streamparm(ctypes.Structure):  # noqa: N801
    """VIDIOC_S_PARM."""
    _fields_ = [("type", c_uint32), ("parm", _parm)]


class v4l2_requestbuffers(ctypes.Structure):  # noqa: N801
    """VIDIOC_REQBUFS."""
    _fields_ = [("count", c_uint32), ("type", c_uint32), ("memory", c_uint32), ("capabilities", c_uint32),
                ("flags", c_ubyte), ("reserved", c_ubyte * 3)]  # fmt: skip


class timeval(ctypes.Structure):  # noqa: N801
    """``struct timeval`` of the C library (two longs: 64-bit Linux, and 32-bit with a 32-bit time_t)."""
    _fields_ = [("tv_sec", c_long), ("tv_usec", c_long)]


class v4l2_timecode(ctypes.Structure):  # noqa: N801
    """SMPTE timecode (unused here, part of the buffer)."""
    _fields_ = [("type", c_uint32), ("flags", c_uint32), ("frames", c_ubyte), ("seconds", c_ubyte),
                ("minutes", c_ubyte), ("hours", c_ubyte), ("userbits", c_ubyte * 4)]  # fmt: skip


class _m(ctypes.Union):  # noqa: N801
    _fields_ = [("offset", c_uint32), ("userptr", ctypes.c_ulong), ("planes", c_void_p), ("fd", ctypes.c_int32)]


class v4l2_buffer(ctypes.Structure):  # noqa: N801
    """VIDIOC_QUERYBUF / QBUF / DQBUF: one frame buffer."""
    _fields_ = [("index", c_uint32), ("type", c_uint32), ("bytesused", c_uint32), ("flags", c_uint32),
                ("field", c_uint32), ("timestamp", timeval), ("timecode", v4l2_timecode), ("sequence", c_uint32),
                ("memory", c_uint32), ("m", _m), ("length", c_uint32), ("reserved2", c_uint32),
                ("request_fd", ctypes.c_int32)]  # fmt: skip


_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, struct: type) -> int:
    """Linux's generic ``_IOC(dir, 'V', nr, sizeof(struct))``."""
    return (direction << 30) | (ctypes.sizeof(struct) << 16) | (ord("V") << 8) | nr


VIDIOC_QUERYCAP = _ioc(_IOC_READ, 0, v4l2_capability)
VIDIOC_ENUM_FMT = _ioc(_IOC_READ | _IOC_WRITE, 2, v4l2_fmtdesc)
VIDIOC_G_FMT = _ioc(_IOC_READ | _IOC_WRITE, 4, v4l2_format)
VIDIOC_S_FMT = _ioc(_IOC_READ | _IOC_WRITE, 5, v4l2_format)
VIDIOC_REQBUFS = _ioc(_IOC_READ | _IOC_WRITE, 8, v4l2_requestbuffers)
VIDIOC_QUERYBUF = _ioc(_IOC_READ | _IOC_WRITE, 9, v4l2_buffer)
VIDIOC_QBUF = _ioc(_IOC_READ | _IOC_WRITE, 15, v4l2_buffer)
VIDIOC_DQBUF = _ioc(_IOC_READ | _IOC_WRITE, 17, v4l2_buffer)
VIDIOC_STREAMON = _ioc(_IOC_WRITE, 18, c_int)
VIDIOC_STREAMOFF = _ioc(_IOC_WRITE, 19, c_int)
VIDIOC_S_PARM = _ioc(_IOC_READ | _IOC_WRITE, 22, v4l2_streamparm)

V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_STREAMING = 0x04000000
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_MEMORY_MMAP = 1
V4L2_FIELD_ANY = 0
V4L2_FIELD_NONE = 1
V4L2_BUF_FLAG_ERROR = 0x00000040


def fourcc(code: str) -> int:
    """``v4l2_fourcc('M','J','P','G')``."""
    a, b, c, d = code.encode("ascii")
    return a | b << 8 | c << 16 | d << 24


def fourcc_name(value: int) -> str:
    """The four characters of a pixel format code (``'MJPG'``)."""
    return bytes((value >> s) & 0xFF for s in (0, 8, 16, 24)).decode("latin-1")


V4L2_PIX_FMT_MJPEG = fourcc("MJPG")
V4L2_PIX_FMT_JPEG = fourcc("JPEG")
V4L2_PIX_FMT_YUYV = fourcc("YUYV")


class Device(Protocol):
    """An open V4L2 device node: what the camera does with it (the kernel, or a driver model in tests)."""

    def ioctl(self, request: int, arg: ctypes.Structure | c_int) -> None:
        """Run ``request`` on ``arg`` in place; OSError with the driver's errno."""

    def map(self, offset: int, length: int) -> memoryview:
        """Map the driver buffer at ``offset`` (from VIDIOC_QUERYBUF) read-only."""

    def wait_readable(self, timeout: float) -> bool:
        """True once a filled buffer can be dequeued, False after ``timeout`` seconds."""

    def close(self) -> None:
        """Unmap and close."""


class DeviceFile:
    """A V4L2 device node opened non-blocking (the kernel: fcntl.ioctl, mmap, select)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._maps: list[mmap.mmap] = []

    @classmethod
    def open(cls, path: str) -> DeviceFile:
        """Open ``path`` read-write, non-blocking; OSError as the kernel reports it."""
        return cls(os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))

    def ioctl(self, request: int, arg: ctypes.Structure | c_int) -> None:
        """See ``Device.ioctl``; retried on EINTR."""
        while True:
            try:
                fcntl.ioctl(self.fd, request, arg, True)  # type: ignore[call-overload]
                return
            except InterruptedError:
                continue

    def map(self, offset: int, length: int) -> memoryview:
        """See ``Device.map``."""
        mapped = mmap.mmap(self.fd, length, mmap.MAP_SHARED, mmap.PROT_READ, offset=offset)
        self._maps.append(mapped)
        return memoryview(mapped)

    def wait_readable(self, timeout: float) -> bool:
        """See ``Device.wait_readable``."""
        readable, _, errors = select.select([self.fd], [], [self.fd], timeout)
        return bool(readable or errors)

    def close(self) -> None:
        """See ``Device.close``; idempotent."""
        for mapped in self._maps:
            try:
                mapped.close()
            except BufferError:  # a frame still views it: the mapping goes with the process
                pass
        self._maps = []
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def errno_name(exc: OSError) -> str:
    """``ENOTTY (Inappropriate ioctl for device)`` for error messages."""
    code = exc.errno or 0
    return f"{errno.errorcode.get(code, str(code))} ({os.strerror(code)})"
