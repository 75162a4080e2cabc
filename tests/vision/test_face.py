"""Face detection with the shipped BlazeFace model on generated pages and a booth-like frame."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from agent.cli import main
from agent.vision import face
from agent.vision.image import grey, read_image
from agent.vision.locate import candidates
from agent.vision.runtime import shared_model
from tests.vision.conftest import DATA, page


def _inside(f: face.Face, box: tuple[int, int, int, int]) -> bool:
    cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3] and f.box[2] - f.box[0] <= box[2] - box[0]


class Counted:
    """The shipped face model, counting its inferences (``runs``)."""

    def __init__(self) -> None:
        self.model = shared_model(face.MODEL)
        self.input_shape = self.model.input_shape
        self.runs: list[tuple[int, ...]] = []

    def run(self, x):
        self.runs.append(x.shape)
        return self.model.run(x)


def test_anchors_match_the_models_896_predictions():
    model = shared_model(face.MODEL)
    regressors, scores = model.run(np.zeros(model.input_shape, np.float32))
    assert len(face.ANCHORS) == regressors.shape[1] == scores.shape[1] == 896


def test_face_found_where_the_photo_was_pasted_on_a_turned_page(astronaut):
    for seed, angle in ((1, 0.0), (2, 6.0), (3, -8.0)):
        doc = page(seed, "TD3", angle, face=astronaut)
        faces = face.detect(doc.image)
        assert faces and _inside(faces[0], doc.face_box), (seed, doc.face_box, faces)


def test_tiles_are_searched_portrait_zones_first_until_a_clear_face(astronaut):
    assert face.tiles(680, 472) == [(0, 0, 283), (0, 189, 283), (397, 0, 283), (397, 189, 283)]
    assert face.tiles(100, 100) == []  # tiles under 64 pixels: the whole frame only
    assert face.searches(680, 472) == [  # upright data page's portrait zone (left), then an upside-down one's
        (0, 0, 283, False), (0, 189, 283, False), (397, 189, 283, True), (397, 0, 283, True),
        (397, 0, 283, False), (397, 189, 283, False), (0, 189, 283, True), (0, 0, 283, True)]  # fmt: skip
    model = Counted()
    runs = model.runs
    doc = page(1, "TD3", face=astronaut)  # an upright data page: the portrait is in a left tile
    found = face._detect(doc.image, model, True)
    assert found and _inside(found[0], doc.face_box) and not found[0].turned
    assert 2 <= len(runs) < 4  # the whole frame, then the left tiles until the clear face: no turned tile
    runs.clear()
    assert face._detect(page(4, "TD1").image, model, True) == [] and len(runs) == 9  # nothing: every search


def test_a_phone_photo_held_upright_is_searched_between_its_corner_tiles(astronaut):
    """A data page across a 9:16 phone photo: its portrait lies in the middle strip the four corner tiles left
    unsearched (a real 2,160 x 3,840 specimen photo's face was missed so); the tiles between them find it."""
    assert [t[1] for t in face.tiles(2160, 3840)] == [0, 848, 1696, 2544] * 2
    assert face.tiles(1000, 700) == [(0, 0, 420), (0, 280, 420), (580, 0, 420), (580, 280, 420)]  # a page: 2 x 2
    doc = page(1, "TD3", face=astronaut)
    scale = 1026 / doc.image.shape[1]
    shown = np.asarray(Image.fromarray(doc.image).resize((1026, round(doc.image.shape[0] * scale))))
    photo = np.full((1920, 1080, 3), 90, np.uint8)
    top = (1920 - shown.shape[0]) // 2
    photo[top : top + shown.shape[0], 27 : 27 + 1026] = shown
    x0, y0, x1, y1 = doc.face_box
    faces = face.detect(photo)
    assert faces and _inside(faces[0], (round(x0 * scale) + 27, round(y0 * scale) + top,
                                        round(x1 * scale) + 27, round(y1 * scale) + top))  # fmt: skip


def test_a_face_on_a_page_lying_upside_down_is_found_turned_and_its_crop_is_upright(astronaut):
    upright = face.detect(page(1, "TD3", face=astronaut).image)[0]
    doc = page(1, "TD3", 180.0, face=astronaut)
    found = face.detect(doc.image)
    assert found and _inside(found[0], doc.face_box) and found[0].turned
    assert abs(found[0].score - upright.score) < 0.1
    right_eye, left_eye, nose, mouth = found[0].landmarks[:4]
    assert mouth[1] < nose[1] < min(right_eye[1], left_eye[1])  # upside down in the image: the mouth on top
    crop = np.asarray(Image.open(io.BytesIO(face.evidence(doc.image, attach=True)["jpeg"])).convert("L"), float)
    straight = np.asarray(Image.open(io.BytesIO(face.evidence(page(1, "TD3", face=astronaut).image,
                                                              attach=True)["jpeg"])).convert("L"), float)  # fmt: skip
    h, w = min(crop.shape[0], straight.shape[0]), min(crop.shape[1], straight.shape[1])
    same_way = np.corrcoef(crop[:h, :w].ravel(), straight[:h, :w].ravel())[0, 1]
    turned_way = np.corrcoef(crop[:h, :w][::-1, ::-1].ravel(), straight[:h, :w].ravel())[0, 1]
    assert same_way > turned_way + 0.2  # the evidence crop is turned upright for the officer


def test_the_portrait_zones_of_the_located_mrz_are_searched_first(astronaut):
    corners = ((100, 500), (900, 500), (100, 560), (900, 560))  # a band 800 px long, 60 px high
    assert face.portrait_zones(corners) == [(-52, -44, 512, False), (540, 592, 512, True)]  # above left; below right
    assert face.portrait_zones(corners, foot_up=True) == [(540, 592, 512, True), (-52, -44, 512, False)]
    assert face.portrait_zones(((0, 0), (50, 0), (0, 10), (50, 10))) == []  # too short to be a page's MRZ
    model = Counted()
    runs = model.runs
    for angle, turned in ((4.0, False), (184.0, True)):
        runs.clear()
        doc = page(1, "TD3", angle, face=astronaut)
        band = candidates(grey(doc.image))[0]
        assert band.foot_up is turned  # the page's ink lies below its MRZ: upside down, its zone searched first
        found = face._detect(doc.image, model, True, face.portrait_zones(band.corners(), band.foot_up))
        assert found and _inside(found[0], doc.face_box) and found[0].turned is turned
        assert len(runs) == 1  # the zone holds a clear face: no other zone, no whole-frame or tile search
    runs.clear()  # a face in the zone scored under CLEAR_SCORE (0.74) ends the search too: the portrait is there
    doc = page(1, "TD1", 4.0, face=read_image(DATA / "cameraman.jpg"))
    zones = face.portrait_zones(candidates(grey(doc.image))[0].corners())
    found = face._detect(doc.image, model, True, zones)
    assert found and _inside(found[0], doc.face_box) and face.MIN_SCORE <= found[0].score < face.CLEAR_SCORE
    assert len(runs) == 1  # the upright zone alone: before 2026-12-07 23:35 UTC, the other zone, the frame and 8 tiles too
    runs.clear()
    blank = page(4, "TD1").image  # a card's MRZ side: no portrait there, the whole frame is searched, not the tiles
    assert face._detect(blank, model, True, face.portrait_zones(candidates(grey(blank))[0].corners())) == []
    assert 1 < len(runs) <= 2 + 1  # the zones in the frame, then the whole frame
    runs.clear()  # a band at the frame's edge puts a zone outside it: not searched, and never an error
    outside = [(-900, -900, 480, False), (blank.shape[1] - 100, 0, 480, True)]
    assert face._detect(blank, model, True, outside) == [] and len(runs) == 1 + 8
    assert face._square_input(blank, -900, -900, 480, 128).max() == -1.0  # wholly outside: black


def test_no_face_on_a_blank_page_or_a_page_without_photo():
    assert face.detect(np.full((480, 640, 3), 200, np.uint8)) == []
    assert face.detect(page(4, "TD1").image) == []


def test_booth_frame_face_is_found_whole_frame_in_original_pixels(astronaut):
    frame = np.zeros((480, 640, 3), np.uint8)
    big = np.asarray(Image.fromarray(astronaut).resize((320, 400)))
    frame[40:440, 160:480] = big
    faces = face.detect(frame)
    assert faces and 160 <= faces[0].box[0] < faces[0].box[2] <= 480 and faces[0].score > 0.8
    assert all(0 <= v <= 640 for v in faces[0].box)


def test_quality_marks_a_blurred_face_less_sharp(astronaut):
    sharp = face.detect(astronaut)[0]
    blurred_img = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(1.5)))
    blurred = face.detect(blurred_img)
    assert blurred and blurred[0].quality["sharpness"] < sharp.quality["sharpness"]
    assert face.best_face([blurred[0], sharp]) is sharp


def test_face_detect_cli_prints_the_contract_per_image(tmp_path: Path, astronaut):
    photo = tmp_path / "booth.png"
    Image.fromarray(astronaut).save(photo)
    blank = tmp_path / "blank.jpg"
    Image.fromarray(np.full((100, 100, 3), 255, np.uint8)).save(blank)
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["face", "detect", str(photo), str(blank), "--json"])
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert code == 0
    assert first["image"] == str(photo) and len(first["faces"]) == 1
    x0, y0, x1, y1 = first["faces"][0]["box"]
    assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 200 and 0.5 < first["faces"][0]["score"] <= 1
    assert second == {"image": str(blank), "faces": []}


def test_face_detect_cli_refuses_a_file_that_is_not_an_image(tmp_path: Path, capsys):
    bad = tmp_path / "x.jpg"
    bad.write_text("not a jpeg")
    assert main(["face", "detect", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert "not a JPEG or PNG image" in captured.err and "Traceback" not in captured.err
    assert "give a JPEG or PNG image" in captured.err and "cable" not in captured.err


def test_a_face_s_evidence_is_its_score_and_quality_and_a_crop_of_at_most_256_pixels(astronaut):
    """What a decision event records of a face (docs/vision.md "In the gate"): present, score and quality always;
    the crop, for HIT and REFER, a JPEG of at most CROP_SIDE pixels however large the face is in the frame."""
    large = np.asarray(Image.fromarray(astronaut).resize((astronaut.shape[1] * 4, astronaut.shape[0] * 4)))
    best = face.best_face(face.detect(large))
    assert best is not None and best.box[2] - best.box[0] > face.CROP_SIDE  # a face wider than a crop may be
    recorded = face.evidence(large, attach=False)
    assert recorded == {"present": True, "score": round(best.score, 3), "quality": round(best.quality["overall"], 3)}
    crop = Image.open(io.BytesIO(face.evidence(large, attach=True)["jpeg"]))
    assert crop.format == "JPEG" and max(crop.size) == face.CROP_SIDE
    assert face.evidence(np.full((200, 160, 3), 255, np.uint8), attach=True) == {"present": False}
