"""The v4l2:// camera without OpenCV: its ctypes ABI against the kernel header, capture through a V4L2
driver model (no camera, vivid or v4l2loopback can be loaded here), and every way a device can be
unusable reported as a camera fault naming the device."""

from __future__ import annotations

import ctypes
import errno
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from hal import open_camera
from hal.camera import videodev2 as v
from hal.camera.v4l2 import V4l2Camera, decode_mjpeg, decode_yuyv
from hal.errors import BadUrlError, DeviceUnavailableError
from tests.support.v4l2_driver import V4l2Driver, mjpeg, rgb_to_yuyv

STRUCTS = ["v4l2_capability", "v4l2_fmtdesc", "v4l2_pix_format", "v4l2_format", "v4l2_fract", "v4l2_captureparm",
           "v4l2_streamparm", "v4l2_requestbuffers", "v4l2_timecode", "v4l2_buffer"]  # fmt: skip
IOCTLS = ["VIDIOC_QUERYCAP", "VIDIOC_ENUM_FMT", "VIDIOC_G_FMT", "VIDIOC_S_FMT", "VIDIOC_REQBUFS", "VIDIOC_QUERYBUF",
          "VIDIOC_QBUF", "VIDIOC_DQBUF", "VIDIOC_STREAMON", "VIDIOC_STREAMOFF", "VIDIOC_S_PARM"]  # fmt: skip
CONSTANTS = ["V4L2_CAP_VIDEO_CAPTURE", "V4L2_CAP_STREAMING", "V4L2_CAP_DEVICE_CAPS", "V4L2_BUF_TYPE_VIDEO_CAPTURE",
             "V4L2_MEMORY_MMAP", "V4L2_FIELD_ANY", "V4L2_FIELD_NONE", "V4L2_BUF_FLAG_ERROR", "V4L2_PIX_FMT_MJPEG",
             "V4L2_PIX_FMT_JPEG", "V4L2_PIX_FMT_YUYV"]  # fmt: skip


def _python_abi() -> list[str]:
    lines = []
    for name in STRUCTS:
        struct = getattr(v, name)
        lines.append(f"sizeof {name} {ctypes.sizeof(struct)}")
        for field, *_ in struct._fields_:
            if field == "_align":
                continue
            if name == "v4l2_buffer" and field == "request_fd":  # an anonymous union in C
                lines.append(f"offsetof {name}.{field} {getattr(struct, field).offset}")
                continue
            lines.append(f"offsetof {name}.{field} {getattr(struct, field).offset}")
    lines += [f"sizeof v4l2_format.fmt {ctypes.sizeof(v._fmt)}", f"offsetof v4l2_buffer.m.offset {v.v4l2_buffer.m.offset}"]
    lines += [f"ioctl {name} {getattr(v, name)}" for name in IOCTLS]
    lines += [f"const {name} {getattr(v, name)}" for name in CONSTANTS]
    return lines


def _c_program() -> str:
    body = []
    for name in STRUCTS:
        struct = getattr(v, name)
        body.append(f'printf("sizeof {name} %zu\\n", sizeof(struct {name}));')
        for field, *_ in struct._fields_:
            if field != "_align":
                body.append(f'printf("offsetof {name}.{field} %zu\\n", offsetof(struct {name}, {field}));')
    body.append('printf("sizeof v4l2_format.fmt %zu\\n", sizeof(((struct v4l2_format *)0)->fmt));')
    body.append('printf("offsetof v4l2_buffer.m.offset %zu\\n", offsetof(struct v4l2_buffer, m));')
    body += [f'printf("ioctl {name} %lu\\n", (unsigned long){name});' for name in IOCTLS]
    body += [f'printf("const {name} %lu\\n", (unsigned long){name});' for name in CONSTANTS]
    return ("#include <stddef.h>\n#include <stdio.h>\n#include <sys/time.h>\n#include <linux/videodev2.h>\n"
            "int main(void) {\n" + "\n".join(body) + "\nreturn 0;\n}\n")  # fmt: skip


def test_ctypes_layouts_and_ioctl_numbers_match_the_kernel_header(tmp_path: Path):
    """Every structure size, field offset, request number and constant the binding uses, compared with what
    gcc computes from the installed <linux/videodev2.h> (tools/dev installs gcc and linux-libc-dev)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "no C compiler: tools/dev installs gcc (debian_packages)"
    source = tmp_path / "abi.c"
    source.write_text(_c_program())
    subprocess.run([gcc, "-o", str(tmp_path / "abi"), str(source)], check=True, capture_output=True, text=True)
    from_header = subprocess.run([str(tmp_path / "abi")], check=True, capture_output=True, text=True).stdout
    assert from_header.splitlines() == _python_abi()


def _scene(n: int, height: int = 480, width: int = 640) -> np.ndarray:
    """A frame with structure (gradients and a moving square) so a wrong stride or channel order shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 60)], -1).astype(np.uint8)
    rgb[100:200, 50 + 10 * n : 150 + 10 * n] = (250, 20, 20)
    return rgb


@pytest.mark.parametrize("fmt", ["MJPG", "YUYV"])
def test_a_camera_streams_frames_through_mmap_buffers(fmt: str):
    driver = V4l2Driver(formats=(fmt,), frame=_scene)
    with V4l2Camera("v4l2:///dev/video0", open_device=driver.open) as cam:
        assert (cam.width, cam.height, v.fourcc_name(cam.pixelformat)) == (640, 480, fmt)
        for _ in range(6):  # more frames than buffers: each is handed back to the driver
            image = cam.capture().image
        assert image.shape == (480, 640, 3)
        expected = _scene(driver.sequence)
        assert np.abs(image.astype(int) - expected).mean() < 3.0
        assert tuple(image[150, 50 + 10 * driver.sequence + 50]) == pytest.approx((250, 20, 20), abs=12)
    assert driver.calls[:2] == ["querycap", "enum_fmt"] and "streamon" in driver.calls
    assert driver.calls[-1] == "streamoff" and driver.closed == 1


def test_auto_prefers_mjpeg_and_size_and_fps_are_asked_of_the_driver():
    driver = V4l2Driver(formats=("YUYV", "MJPG"))
    with V4l2Camera("v4l2:///dev/video0?width=1280&height=720&fps=15", open_device=driver.open) as cam:
        assert (v.fourcc_name(cam.pixelformat), cam.width, cam.height, driver.fps) == ("MJPG", 1280, 720, 15)
        assert cam.capture().image.shape == (720, 1280, 3)
    with V4l2Camera("v4l2:///dev/video0?format=yuyv", open_device=V4l2Driver(formats=("MJPG", "YUYV")).open) as cam:
        assert v.fourcc_name(cam.pixelformat) == "YUYV"


def test_a_capture_returns_the_newest_frame_not_a_stale_queued_one():
    driver = V4l2Driver(formats=("YUYV",), size=(64, 48))
    with V4l2Camera("v4l2:///dev/video0", open_device=driver.open) as cam:
        for _ in range(3):  # the document tray changed while nobody looked: three frames wait in the queue
            driver.capture()
        image = cam.capture().image
        assert driver.sequence == 4 and abs(int(image.mean()) - 4) <= 1  # the newest, filled on the wait
        assert len(driver.queued) == len(driver.buffers) and not driver.filled  # all handed back


def test_a_corrupt_frame_is_skipped():
    driver = V4l2Driver(formats=("MJPG",), size=(64, 48))
    driver.corrupt_next = 2
    with V4l2Camera("v4l2:///dev/video0", open_device=driver.open) as cam:
        assert cam.capture().image.shape == (48, 64, 3)
        assert cam.skipped == 2


def test_uvc_mjpeg_without_huffman_tables_decodes():
    rgb = _scene(0, 48, 64)
    data = mjpeg(rgb)
    assert b"\xff\xc4" not in data  # no DHT segment, as UVC cameras send
    assert np.abs(decode_mjpeg(data, "x").astype(int) - rgb).mean() < 3.0


def test_yuyv_with_row_padding_decodes():
    rgb = _scene(0, 6, 8)
    tight = rgb_to_yuyv(rgb)
    padded = b"".join(tight[i * 16 : (i + 1) * 16] + bytes(8) for i in range(6))
    image = decode_yuyv(padded, 8, 6, 24, "x")
    assert np.array_equal(image, decode_yuyv(tight, 8, 6, 16, "x"))
    assert np.abs(image.astype(int) - rgb).mean() < 8  # 4:2:2 shares chroma between two pixels


def test_a_missing_device_is_unavailable_naming_it():
    with pytest.raises(DeviceUnavailableError, match=r"camera device '/dev/video-missing' not found") as info:
        open_camera("v4l2:///dev/video-missing")
    assert info.value.errno == errno.ENOENT


def test_a_node_that_is_not_a_v4l2_device_is_unavailable():
    """The real kernel answers VIDIOC_QUERYCAP on /dev/null with ENOTTY."""
    with pytest.raises(DeviceUnavailableError, match=r"'/dev/null' is not a V4L2 device .*ENOTTY"):
        open_camera("v4l2:///dev/null")


@pytest.mark.parametrize(("driver", "message"), [
    (V4l2Driver(capabilities=0x2 | v.V4L2_CAP_STREAMING), r"not a video capture device \(capabilities 0x04000002\)"),
    (V4l2Driver(capabilities=v.V4L2_CAP_VIDEO_CAPTURE), "does not support streaming I/O"),
    (V4l2Driver(formats=("H264", "GREY")), "offers the formats H264, GREY; expected MJPG, JPEG, YUYV"),
    (V4l2Driver(formats=()), "offers the formats none"),
    (V4l2Driver(max_buffers=0), "granted no mmap buffers"),
], ids=["output-only", "no-streaming", "unsupported-formats", "no-formats", "no-buffers"])  # fmt: skip
def test_a_device_that_cannot_capture_is_unavailable_naming_why(driver: V4l2Driver, message: str):
    with pytest.raises(DeviceUnavailableError, match=message):
        V4l2Camera("v4l2:///dev/video1", open_device=driver.open)
    assert driver.closed == 1  # nothing left open


def test_an_unplugged_camera_is_unavailable_then_streams_again_when_plugged_back(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("hal.camera.v4l2.REOPEN_S", 0.05)
    driver = V4l2Driver(formats=("YUYV",), size=(64, 48))
    cam = V4l2Camera("v4l2:///dev/video0", open_device=driver.open)
    cam.capture()
    driver.plugged = False
    with pytest.raises(DeviceUnavailableError, match="stopped delivering frames .*ENODEV"):
        cam.capture()
    assert driver.closed == 1  # the dead node is let go at once
    with pytest.raises(DeviceUnavailableError, match="opening it again within 0.05 s"):
        cam.capture()  # not hammered: one attempt per REOPEN_S
    time.sleep(0.06)
    with pytest.raises(DeviceUnavailableError, match="not found"):
        cam.capture()  # still unplugged: the node is gone
    time.sleep(0.06)
    driver.plugged = True
    assert cam.capture().image.shape == (48, 64, 3)
    assert cam.reopened == 1 and driver.opened == 2 and driver.streaming
    cam.close()
    cam.close()
    assert driver.closed == 2


def test_a_camera_that_sends_nothing_times_out(monkeypatch: pytest.MonkeyPatch):
    """A stalled camera is closed at once, like an unplugged one, and opened again on a later capture."""
    monkeypatch.setattr("hal.camera.v4l2.FRAME_TIMEOUT_S", 0.05)
    monkeypatch.setattr("hal.camera.v4l2.REOPEN_S", 0.05)
    driver = V4l2Driver(formats=("YUYV",), size=(64, 48))
    streaming = driver.wait_readable
    driver.wait_readable = lambda timeout: False  # type: ignore[method-assign]  # a sensor that never fills
    cam = V4l2Camera("v4l2:///dev/video0", open_device=driver.open)
    with cam:
        with pytest.raises(DeviceUnavailableError, match="delivered no frame in 0.05 s") as info:
            cam.capture()
        assert info.value.errno == errno.ETIMEDOUT and driver.closed == 1
        driver.wait_readable = streaming  # type: ignore[method-assign]  # the sensor delivers again
        time.sleep(0.06)
        assert cam.capture().image.shape == (48, 64, 3) and cam.reopened == 1


@pytest.mark.parametrize(("url", "message"), [
    ("v4l2:///dev/video0?width=0", r"width='0' invalid; expected an integer 1-8192"),
    ("v4l2:///dev/video0?format=h264", r"format='h264': expected one of auto, mjpeg, yuyv"),
], ids=["zero-width", "unknown-format"])  # fmt: skip
def test_bad_v4l2_options_are_refused_before_opening(url: str, message: str):
    with pytest.raises(BadUrlError, match=message):
        V4l2Camera.check_url(url)
