"""file:// and sim:// cameras on generated frames; PGM/PPM decoding; missing devices."""


import numpy as np
import pytest

from hal import open_camera
from hal.camera import BadFrameError, EndOfFramesError
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
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(BadUrlError, match="unknown type"):
        open_camera(f"file://{tmp_path / 'x.png'}")


def test_capture_after_close_is_device_unavailable(frame_dir):
    cam = open_camera(f"file://{frame_dir}")
    cam.close()
    cam.close()
    with pytest.raises(DeviceUnavailableError, match="closed"):
        cam.capture()


def test_video_file_without_opencv_fails_clearly_not_as_an_unknown_scheme(tmp_path):
    video = tmp_path / "tray.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    try:
        import cv2  # noqa: F401
    except ImportError:
        with pytest.raises(BackendImportError, match="needs OpenCV"):
            open_camera(f"file://{video}")
    else:
        with pytest.raises(DeviceUnavailableError, match="tray.mp4"):
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
