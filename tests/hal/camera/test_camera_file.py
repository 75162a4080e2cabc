"""file:// and sim:// cameras on generated frames; PGM/PPM, JPEG/PNG, MJPEG and video files; missing devices."""

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hal import open_camera
from hal.camera import BadFrameError, EndOfFramesError, pillow_rgb
from hal.camera.pnm import parse_pnm, read_image, write_pnm
from hal.camera.synthetic import GLYPHS, SPECIMEN_MRZ, document_page, render_text
from hal.errors import BackendImportError, BadUrlError, DeviceUnavailableError
from tests.support.paths import DATA, REPO

FRAMES = DATA / "frames"


def gradient(h=6, w=5):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 40, y * 30, (x + y) * 10], axis=2).astype(np.uint8)


@pytest.fixture
def frame_dir(tmp_path):
    for i in range(3):
        write_pnm(tmp_path / f"f{i}.ppm", gradient() + i)
    (tmp_path / "notes.txt").write_text("not a frame")
    return tmp_path


def test_folder_frames_served_in_name_order_then_loop(frame_dir):
    ticks = iter(range(100, 200))
    cam = open_camera(f"file://{frame_dir}", clock=lambda: next(ticks))
    frames = [cam.capture() for _ in range(4)]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2, 0]
    assert [f.timestamp for f in frames] == [100, 101, 102, 103]
    assert frames[1].image.shape == (6, 5, 3) and frames[1].image.dtype == np.uint8
    np.testing.assert_array_equal(frames[2].image, gradient() + 2)


def test_loop_off_raises_end_of_frames(frame_dir):
    cam = open_camera(f"file://{frame_dir}?loop=0")
    for _ in range(3):
        cam.capture()
    with pytest.raises(EndOfFramesError, match="loop=0"):
        cam.capture()


def test_shipped_frames_read_in_every_format():
    cam = open_camera(f"file://{FRAMES}?loop=0")
    ppm, pgm, npy = (cam.capture().image for _ in range(3))
    assert ppm.shape == pgm.shape == npy.shape == (24, 32, 3)
    np.testing.assert_array_equal(pgm[:, :, 0], ppm[:, :, 1])  # grey from the green plane, replicated
    np.testing.assert_array_equal(npy, ppm[::-1])


def test_relative_file_url(monkeypatch):
    monkeypatch.chdir(REPO)
    cam = open_camera("file://tests/data/frames/0001.ppm")
    assert cam.capture().image.shape == (24, 32, 3)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06", [[[1, 2, 3], [4, 5, 6]]]),
        (b"P5 2 1 255 \x07\x08", [[7, 8]]),
        (b"P6\n# a comment\n1 1\n# another\n255\n\x09\x0a\x0b", [[[9, 10, 11]]]),
        (b"P3\n1 1\n15\n15 0 5\n", [[[255, 0, 85]]]),
        (b"P2 2 1 255\n 3 4", [[3, 4]]),
        (b"P5 1 1 65535\n\xff\xff", [[255]]),
    ],
    ids=["P6", "P5", "P6-comments", "P3-maxval-15", "P2", "P5-16bit"],
)
def test_pnm_decodes_netpbm_variants(data, expected):
    np.testing.assert_array_equal(parse_pnm(data), np.array(expected, dtype=np.uint8))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n", r"starts with b'\\x89P'; expected a PGM/PPM header"),
        (b"P6\n2 x\n255\n", "malformed header"),
        (b"P6\n2 2\n255\n\x00\x00", "truncated: 2 of 12"),
        (b"P6\n0 2\n255\n", "out of range"),
        (b"P6\n99999 2\n255\n", "out of range"),
        (b"P2 1 1 255\n zz", "non-numeric"),
    ],
    ids=["png", "bad-width", "truncated", "zero-width", "huge", "ascii-garbage"],
)
def test_bad_frame_file_named_with_expected_form(data, message):
    with pytest.raises(BadFrameError, match=message):
        parse_pnm(data, "x.ppm")


@pytest.mark.parametrize(
    ("array", "message"),
    [(np.zeros((4, 4), np.float32), "dtype float32"), (np.zeros((4, 4, 4), np.uint8), r"shape \(4, 4, 4\)")],
    ids=["float", "rgba"],
)
def test_bad_npy_frame_rejected(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(BadFrameError, match=message):
        read_image(tmp_path / "x.npy")


def test_corrupt_frame_raises_on_capture_and_names_file(tmp_path):
    (tmp_path / "a.ppm").write_bytes(b"P6\n4 4\n255\n")
    cam = open_camera(f"file://{tmp_path}")
    with pytest.raises(BadFrameError, match="a.ppm"):
        cam.capture()


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("file:///nonexistent", DeviceUnavailableError, "'/nonexistent' not found"),
        ("file:///tmp?loop=maybe", BadUrlError, "loop='maybe' invalid; expected 1 or 0"),
        ("file:///tmp?fps=30", BadUrlError, r"unknown camera option fps='30'.*grammar: file://PATH\[\?OPTIONS\] with OPTIONS loop=1\|0"),
        ("sim://camera?width=10", BadUrlError, "width='10' invalid; expected an integer 64-4096"),
        ("sim://camera?colour=1", BadUrlError, r"unknown camera option colour='1'.*grammar: sim://camera.*width=64-4096"),
        ("sim://webcam", BadUrlError, "expected sim://camera"),
        ("rtsp://cam/stream", BadUrlError, "unknown camera URL scheme 'rtsp'"),
    ],
    ids=[
        "missing-path",
        "bad-loop",
        "unknown-file-option",
        "sim-too-narrow",
        "sim-unknown-option",
        "sim-other-device",
        "unknown-scheme",
    ],
)
def test_bad_camera_url_rejected(url, error, message):
    with pytest.raises(error, match=message):
        open_camera(url)


def test_empty_folder_is_device_unavailable(tmp_path):
    with pytest.raises(DeviceUnavailableError, match="no frames"):
        open_camera(f"file://{tmp_path}")


def test_unknown_file_type_rejected(tmp_path):
    (tmp_path / "x.tiff").write_bytes(b"II*\x00")
    with pytest.raises(BadUrlError, match="unknown type"):
        open_camera(f"file://{tmp_path / 'x.tiff'}")


def test_capture_after_close_is_device_unavailable(frame_dir):
    cam = open_camera(f"file://{frame_dir}")
    cam.close()
    cam.close()
    with pytest.raises(DeviceUnavailableError, match="closed"):
        cam.capture()


def _colour_frames(n: int) -> list[np.ndarray]:
    """Flat frames of clearly different colours (they survive JPEG and video compression)."""
    return [np.full((48, 64, 3), (40 + 80 * (i % 3), 200 - 70 * i, 30 + 50 * i), np.uint8) for i in range(n)]


def _jpeg(image: np.ndarray, suffix: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, suffix)
    return buf.getvalue()


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.abs(a.astype(int) - b.astype(int)).mean() < 6)


def test_a_folder_of_jpeg_and_png_frames_is_served_in_name_order(tmp_path):
    frames = _colour_frames(3)
    (tmp_path / "a.jpg").write_bytes(_jpeg(frames[0]))
    (tmp_path / "b.png").write_bytes(_jpeg(frames[1], "PNG"))
    (tmp_path / "c.jpeg").write_bytes(_jpeg(frames[2]))
    cam = open_camera(f"file://{tmp_path}?loop=0")
    got = [cam.capture().image for _ in range(3)]
    assert all(_near(g, f) for g, f in zip(got, frames, strict=True))
    np.testing.assert_array_equal(got[1], frames[1])  # PNG: lossless


def test_a_16_bit_grey_frame_keeps_its_levels(tmp_path):
    """A scanner's 16-bit grey PNG (Pillow's mode I;16): its levels scaled to 8 bits, not clipped at 255 (which
    made the whole page white). 8-bit grey, and 16- and 32-bit integer frames holding 8-bit levels, are as they
    were; a float image of 0..1 is scaled to 0..255."""
    levels = np.tile(np.arange(0, 256, 8, dtype=np.uint16), (4, 1))
    Image.fromarray(levels * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    Image.fromarray(levels.astype(np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(levels.astype(np.int32)).save(tmp_path / "wide.tif")
    Image.fromarray(levels).save(tmp_path / "widened.png")  # 8-bit levels in a 16-bit PNG, not scaled
    assert Image.open(tmp_path / "widened.png").mode == "I;16"
    for name in ("deep.png", "grey.png", "widened.png"):
        image = open_camera(f"file://{tmp_path / name}").capture().image
        np.testing.assert_array_equal(image, np.repeat(levels.astype(np.uint8)[:, :, None], 3, axis=2))
    with Image.open(tmp_path / "wide.tif") as wide:
        assert wide.mode == "I"
        np.testing.assert_array_equal(pillow_rgb(wide, "wide.tif")[:, :, 1], levels)
    unit = Image.fromarray((levels / 255.0).astype(np.float32))  # a float image of 0..1
    assert unit.mode == "F"
    np.testing.assert_array_equal(pillow_rgb(unit, "unit")[:, :, 2], levels)


def _replays_in_order_then_loops(path, frames: list[np.ndarray]) -> None:
    """``file://path`` serves ``frames`` in order, then ends (loop=0) or starts over (loop=1)."""
    cam = open_camera(f"file://{path}?loop=0")
    got = [cam.capture().image for _ in frames]
    assert all(_near(g, f) for g, f in zip(got, frames, strict=True)) and got[0].shape == frames[0].shape
    with pytest.raises(EndOfFramesError):
        cam.capture()
    cam.close()
    looping = open_camera(f"file://{path}")
    assert _near([looping.capture().image for _ in range(len(frames) + 1)][-1], frames[0])
    looping.close()


def test_an_mjpeg_file_replays_its_frames_in_order_without_a_video_library(tmp_path):
    frames = _colour_frames(3)
    stream = tmp_path / "tray.mjpeg"
    stream.write_bytes(b"".join(_jpeg(f) for f in frames))  # what a UVC camera or ffmpeg -f mjpeg writes
    _replays_in_order_then_loops(stream, frames)


def test_a_corrupt_frame_in_an_mjpeg_file_is_a_bad_frame_and_the_next_one_reads(tmp_path):
    frames = _colour_frames(2)
    broken = _jpeg(frames[0])[:40] + b"\x00" * 40  # a frame cut short (a recording interrupted)
    stream = tmp_path / "tray.mjpeg"
    stream.write_bytes(broken + _jpeg(frames[1]))
    cam = open_camera(f"file://{stream}?loop=0")
    with pytest.raises(BadFrameError, match="tray.mjpeg"):
        cam.capture()
    assert _near(cam.capture().image, frames[1])


def test_a_file_that_holds_no_jpeg_is_refused_naming_it(tmp_path):
    stream = tmp_path / "empty.mjpeg"
    stream.write_bytes(b"")
    with pytest.raises(BadFrameError, match="empty.mjpeg"):
        open_camera(f"file://{stream}")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing: ./tools/dev installs it")
def test_a_video_file_is_decoded_by_ffmpeg_frame_by_frame_then_loops(tmp_path):
    frames = _colour_frames(3)
    for i, f in enumerate(frames):
        write_pnm(tmp_path / f"f{i}.ppm", f)
    video = tmp_path / "tray.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-framerate", "5", "-i", str(tmp_path / "f%d.ppm"), "-c:v", "mjpeg",
                    "-q:v", "2", str(video)], check=True, timeout=60)  # fmt: skip
    _replays_in_order_then_loops(video, frames)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing: ./tools/dev installs it")
def test_a_video_ffmpeg_cannot_read_is_unavailable_naming_it(tmp_path):
    video = tmp_path / "tray.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(DeviceUnavailableError, match="tray.mp4"):
        open_camera(f"file://{video}")


def test_a_video_without_ffmpeg_says_how_to_convert_it_not_unknown_scheme(tmp_path, monkeypatch):
    video = tmp_path / "tray.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on the PATH, as on the gate's image
    with pytest.raises(BackendImportError, match="needs the ffmpeg program.*-f mjpeg"):
        open_camera(f"file://{video}")


def test_sim_camera_draws_specimen_mrz_where_layout_says():
    cam = open_camera("sim://camera?width=640&height=480&noise=0")
    image = cam.capture().image
    x0, y0, x1, y1 = cam.layout.mrz_box
    mrz = image[y0:y1, x0:x1]
    ink = render_text(SPECIMEN_MRZ, 1)
    assert (mrz.mean(axis=2) < 60).mean() == pytest.approx(ink.mean(), abs=0.03)
    px0, py0, px1, py1 = cam.layout.page_box
    assert image[py0 + 2, px1 - 3].tolist() == [236, 230, 214]  # page paper
    assert image[0, 0].mean() < 120  # desk


def test_sim_camera_noise_differs_per_frame_and_repeats_per_seed():
    a = open_camera("sim://camera?width=64&height=48&seed=7")
    b = open_camera("sim://camera?width=64&height=48&seed=7")
    fa = [a.capture().image for _ in range(2)]
    fb = [b.capture().image for _ in range(2)]
    assert not np.array_equal(fa[0], fa[1])
    np.testing.assert_array_equal(fa[1], fb[1])


def test_font_covers_mrz_alphabet():
    assert set(GLYPHS) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
    assert all(g.shape == (7, 5) and g.any() for g in GLYPHS.values())
    assert len({g.tobytes() for g in GLYPHS.values()}) == len(GLYPHS)


def test_document_page_fits_extreme_aspect_ratios():
    for w, h in [(64, 48), (4096, 48), (64, 4096)]:
        img, layout = document_page(w, h)
        assert img.shape == (h, w, 3)
        x0, y0, x1, y1 = layout.mrz_box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_sim_camera_unplug_fails_captures_until_replug():
    cam = open_camera("sim://camera?width=64&height=48")
    cam.unplug()
    with pytest.raises(DeviceUnavailableError, match="unplugged"):
        cam.capture()
    cam.replug()
    assert cam.capture().image.shape == (48, 64, 3)


def test_an_mjpeg_file_cut_short_while_replayed_is_bad_frames_then_frames_again_not_a_crash(tmp_path):
    """A recording overwritten in place while the gate replays it (``ffmpeg -y … tray.mjpeg`` truncates it first):
    the camera fails captures, then serves the new frames. Memory-mapped, the next access past the new end
    killed the process with SIGBUS, so the captures run in a child process."""
    frames = _colour_frames(3)
    stream = tmp_path / "tray.mjpeg"
    stream.write_bytes(b"".join(_jpeg(frames[i % 3]) for i in range(60)))  # many pages past the cut
    script = f"""
import os, pathlib, sys
from hal import open_camera
from hal.camera import BadFrameError, EndOfFramesError
path = pathlib.Path({str(stream)!r})
whole = path.read_bytes()
cam = open_camera(f"file://{{path}}")
cam.capture()
os.truncate(path, 100)  # inside the first frame
failed = 0
for _ in range(70):
    try:
        cam.capture()
    except (BadFrameError, EndOfFramesError):
        failed += 1
path.write_bytes(whole)  # the recording written again
print(failed, round(float(cam.capture().image.mean())), flush=True)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, f"the replay died (signal {-out.returncode}): {out.stderr[-400:]}"
    failed, mean = map(int, out.stdout.split())
    assert failed == 70 and abs(mean - round(float(frames[0].mean()))) < 6
