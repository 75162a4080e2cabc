"""The camera in the gate: a camera gate reads documents like a swipe (one passage per document lying
there), decisions record the face, a camera that cannot be opened is a fault and never a failed start."""

from __future__ import annotations

import datetime
import itertools
import os
import random
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

import hal
from agent.app import GateApp, SystemdNotifier
from agent.config import load_config
from agent.screening.decision import CLEAR, HIT
from agent.screening.events import decode_event
from agent.vision import camera_reader, face
from agent.vision.camera_reader import IDLE_RECHECK_S, CameraDocument, CameraReader
from agent.vision.face import MODEL as FACE_MODEL
from agent.vision.face import evidence
from agent.vision.image import grey
from agent.vision.locate import iter_candidates
from agent.vision.mrz_read import MODEL, SECOND_MODEL, THIRD_MODEL, best_band, too_tall
from agent.vision.runtime import Model, shared_model
from hal.camera.pnm import write_pnm
from hal.reader.types import Misread, ReaderDocument
from tests.support.gatesim import CENTRE, CLEAR_DOC, LISTED_DOC, outbox_bodies, write_app_config
from tests.support.wait import wait_until
from tests.vision.conftest import TODAY, evaluation_page, keystone, page, smudge, without_mrz
from tools.vision.synth import DocumentSample, document_sample


def _sample(seed: int, lines: tuple[str, ...], face: np.ndarray | None = None) -> DocumentSample:
    return document_sample(random.Random(seed), "TD3", lines=lines, face=face, px_per_mm=6.0, angle=2.0,
                           damage_strength=0.3)  # fmt: skip


def _frame(seed: int, lines: tuple[str, ...], face: np.ndarray | None = None) -> np.ndarray:
    return _sample(seed, lines, face).image


def test_a_document_lying_under_the_camera_is_one_passage():
    doc = page(71, "TD3")
    other = page(72, "TD3")
    empty = np.full((600, 800, 3), 90, np.uint8)
    reader = CameraReader(None, today=lambda: TODAY)
    seen = [reader.look(f) for f in (
        empty,
        _frame(1, doc.lines), _frame(2, doc.lines), _frame(3, doc.lines),  # placed, lying there
        empty, empty, empty,  # taken away
        _frame(4, doc.lines),  # placed again: a new passage
        _frame(5, other.lines),  # swapped for another document without emptying the tray
    )]  # fmt: skip
    passages = [(i, s.lines) for i, s in enumerate(seen) if isinstance(s, ReaderDocument)]
    assert passages == [(1, doc.lines), (7, doc.lines), (8, other.lines)]


def test_an_unreadable_document_under_the_camera_is_one_misread():
    doc = page(73, "TD3")
    reader = CameraReader(None, max_frames=2, today=lambda: TODAY)
    frame = smudge(doc.image, 0.6, 0)
    seen = [reader.look(frame) for _ in range(4)]
    assert [type(s).__name__ for s in seen] == ["NoneType", "CameraMisread", "NoneType", "NoneType"]
    assert isinstance(seen[1], Misread) and reader.frames_still == 2  # lying there unchanged: not read again
    reader.close()


def test_a_card_s_front_under_the_camera_is_no_passage(astronaut):
    """The print and portrait of a page with no MRZ below them (an ID card laid front up) show no MRZ: the camera
    reader reports nothing, where it used to REFER it as a misread after ``max_frames`` frames."""
    front = without_mrz(page(65, "TD1", face=astronaut).image)
    reader = CameraReader(None, max_frames=2, today=lambda: TODAY)
    assert [reader.look(front) for _ in range(4)] == [None] * 4
    reader.close()


def test_frames_of_a_decided_document_lying_there_unchanged_are_not_read_again():
    doc = _frame(21, page(74, "TD3").lines)
    empty = np.full(doc.shape, 90, np.uint8)
    reader = CameraReader(None, today=lambda: TODAY)
    seen = [reader.look(f) for f in (doc, doc, doc, doc, empty, empty, empty, doc)]
    assert [i for i, s in enumerate(seen) if isinstance(s, ReaderDocument)] == [0, 7]  # taken away, placed again
    assert (reader.frames_read, reader.frames_still) == (5, 3)
    noisy = np.clip(doc.astype(int) + np.random.default_rng(1).normal(0, 3, doc.shape), 0, 255).astype(np.uint8)
    assert reader.look(noisy) is None and reader.frames_still == 4  # sensor noise is the same scene
    reader.close()


def test_the_face_search_runs_on_the_frame_read_while_its_mrz_is_recognised(astronaut, monkeypatch):
    reader = CameraReader(None, today=lambda: TODAY)
    under_way, zones = [], []

    def locate(g):  # the locator, noting whether the face search was already under way
        under_way.append(("locate", reader._sighting is not None))
        return iter_candidates(g)

    def recognise(bands, model, today):
        under_way.append(("recognise", reader._sighting is not None))
        return best_band(bands, model, today)

    def face_evidence(rgb, *, attach, portrait, whole):  # the face search, noting the windows it is told to search first
        zones.extend(portrait)
        return evidence(rgb, attach=attach, portrait=portrait, whole=whole)

    monkeypatch.setattr("agent.vision.camera_reader.iter_candidates", locate)
    monkeypatch.setattr("agent.vision.camera_reader.best_band", recognise)
    monkeypatch.setattr("agent.vision.camera_reader.evidence", face_evidence)
    doc = _sample(31, page(75, "TD3").lines, face=astronaut)
    item = reader.look(doc.image)
    assert isinstance(item, CameraDocument) and under_way == [("locate", False), ("recognise", True)]
    assert item.sighting is not None and item.sighting.frame.image is doc.image
    face = item.sighting.face.result(timeout=10)
    assert face["present"] is True and face["jpeg"][:2] == b"\xff\xd8"
    x0, y0, side, turned = zones[0]  # the upright page's portrait zone, searched first, holds the photo
    fx0, fy0, fx1, fy1 = doc.face_box
    assert not turned and x0 <= (fx0 + fx1) / 2 <= x0 + side and y0 <= (fy0 + fy1) / 2 <= y0 + side
    reader.close()


def test_the_face_is_searched_beside_the_band_read_when_the_first_band_is_too_tall_for_an_mrz(monkeypatch):
    """Evaluation page 777000+47: its first band is the page's large print at another angle (lines 7-14 times as
    wide as high, ``too_tall``), read after the MRZ found at the second angle; its portrait zones held no face, and
    the passage was decided without the photo pasted on the page. The face search now starts at the MRZ's band, the
    first not too tall (`test_the_face_search_starts_at_the_first_band_not_too_tall_for_an_mrz_as_it_is_read`)."""
    doc = evaluation_page(777000, 47)
    assert too_tall(next(iter_candidates(grey(doc.image))))
    zones = []

    def face_evidence(rgb, *, attach, portrait, whole):
        zones.extend(portrait)
        return evidence(rgb, attach=attach, portrait=portrait, whole=whole)

    monkeypatch.setattr("agent.vision.camera_reader.evidence", face_evidence)
    reader = CameraReader(None, max_frames=1, today=lambda: TODAY)
    item = reader.look(doc.image)
    assert isinstance(item, CameraDocument) and item.sighting is not None
    assert item.sighting.face.result(timeout=10)["present"] is True
    x0, y0, side, _ = zones[0]
    fx0, fy0, fx1, fy1 = doc.face_box
    assert x0 <= (fx0 + fx1) / 2 <= x0 + side and y0 <= (fy0 + fy1) / 2 <= y0 + side  # the zone holds the photo
    reader.close()


def test_the_face_search_starts_at_the_first_band_not_too_tall_for_an_mrz_as_it_is_read(monkeypatch):
    """Evaluation page 777000+118: its first two bands are the page's large print (``too_tall``), read last; the
    third is the MRZ (the page has no photo pasted). The face search starts as that band is read (``CameraReader._face_beside``), not once the
    read is done: the decision waited 4 ms for the face so."""
    doc = evaluation_page(777000, 118)
    bands = list(itertools.islice(iter_candidates(grey(doc.image)), 3))
    assert [too_tall(b) for b in bands] == [True, True, False]
    reader = CameraReader(None, max_frames=1, today=lambda: TODAY)
    reading = [False]
    started_while_reading = []
    search_face = reader._search_face

    def recognise(bands, model, today):
        reading[0] = True
        try:
            return best_band(bands, model, today)
        finally:
            reading[0] = False

    def searching(rgb, frame, band):
        started_while_reading.append((reading[0], band.boxes))
        return search_face(rgb, frame, band)

    monkeypatch.setattr("agent.vision.camera_reader.best_band", recognise)
    monkeypatch.setattr(reader, "_search_face", searching)
    item = reader.look(doc.image)
    assert isinstance(item, CameraDocument) and item.lines == doc.lines
    assert started_while_reading == [(True, bands[2].boxes)]
    assert item.sighting is not None and item.sighting.face.result(timeout=10)["present"] is False  # no photo on it
    reader.close()


def test_the_face_search_s_whole_frame_input_is_made_on_the_face_thread_while_the_mrz_is_located(monkeypatch, astronaut):
    """``face.whole_frame``: the frame letterboxed whole for the face model, searched after the portrait zones (a page
    without a photo, whose zones show no face), is made on the reader's face thread as soon as the frame is taken
    (1.5-2.5 ms for a large frame, the second core otherwise idle while the MRZ is located), not by the face search
    once the band is found; the faces are the same."""
    doc = page(4, "TD1")  # no photo: the zones, then the whole frame
    made_on = []
    made = face.whole_frame

    def whole_frame(rgb, model=None):
        made_on.append(threading.current_thread().name)
        return made(rgb, model)

    monkeypatch.setattr(camera_reader, "whole_frame", whole_frame)
    monkeypatch.setattr(face, "whole_frame", lambda rgb, model=None: pytest.fail("made by the face search itself"))
    reader = CameraReader(None, max_frames=1, today=lambda: TODAY)
    item = reader.look(doc.image)
    assert isinstance(item, CameraDocument) and item.sighting is not None
    assert item.sighting.face.result(timeout=10) == {"present": False}
    assert len(made_on) == 1 and made_on[0].startswith("face")
    reader.close()
    monkeypatch.undo()
    for rgb in (doc.image, _frame(31, page(75, "TD3").lines, face=astronaut)):
        beforehand: Future = Future()
        beforehand.set_result(face.whole_frame(rgb))
        assert face.evidence(rgb, attach=True, whole=beforehand) == face.evidence(rgb, attach=True)


def test_a_frame_without_an_mrz_drops_the_face_search_started_on_it():
    reader = CameraReader(None, today=lambda: TODAY)
    assert reader.look(np.full((600, 800, 3), 90, np.uint8)) is None
    assert reader._sighting is None
    reader.close()


def test_an_empty_tray_unchanged_is_searched_again_only_every_recheck_interval():
    clock = [0.0]
    reader = CameraReader(None, today=lambda: TODAY, monotonic=lambda: clock[0])
    empty = np.full((600, 800, 3), 90, np.uint8)
    for _ in range(6):
        assert reader.look(empty) is None
    assert (reader.frames_read, reader.frames_still) == (3, 3)  # seen empty 3 times: then not searched again
    clock[0] += IDLE_RECHECK_S
    assert reader.look(empty) is None and reader.frames_read == 4  # but every IDLE_RECHECK_S all the same
    doc = _frame(22, page(76, "TD3").lines)
    assert isinstance(reader.look(doc), ReaderDocument)  # a document placed changes the scene: read at once
    reader.close()


def _noisy(image: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 2, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_a_document_read_over_several_frames_is_located_once_and_its_band_cut_from_the_next_frames():
    frame = smudge(page(73, "TD3").image, 0.6, 0)  # unreadable: the reader goes on reading frames of it
    reader = CameraReader(None, max_frames=3, today=lambda: TODAY)
    seen = [reader.look(_noisy(frame, k)) for k in range(3)]  # lying still, sensor noise
    assert isinstance(seen[2], Misread)
    assert (reader.frames_read, reader.frames_located, reader.frames_tracked) == (3, 1, 2)
    reader.close()


def test_a_document_read_with_doubt_is_read_again_wider_and_decided_on_its_first_frame(monkeypatch):
    """The camera reader reads a frame not trusted as read again at a TD1 line's character pitch, as ``mrz read``
    does (agent/vision/mrz_read.py: reread_wider): the MRV-A page the model doubts squeezed into 448 pixels is
    one passage on its first frame, not after more frames. The other line models are left out: the consensus
    of all views (second_opinion) trusts it too. (Development page 1121000+38; 6161000+83, 1020000+33,
    1121000+43 and 1121000+3 until the first line models of 2026-12-04 22:40, 2026-12-05 00:40, 03:50 UTC and
    its int8 conversion of 2026-12-06, which read them surely as they are.)"""
    doc = evaluation_page(1_121_000, 38)
    monkeypatch.setattr("agent.vision.mrz_read.OTHER_MODELS", ())
    reader = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = reader.look(doc.image)
    assert isinstance(item, CameraDocument) and item.lines == doc.lines
    reader.close()
    monkeypatch.setattr("agent.vision.mrz_read.WIDER_CONFIDENCE", 2.0)  # never read again wider
    slow = CameraReader(None, max_frames=4, today=lambda: TODAY)
    assert slow.look(doc.image) is None
    slow.close()


def test_a_sure_misreading_under_the_camera_is_not_decided_when_a_second_look_reads_otherwise(monkeypatch):
    """The camera reader looks again at another pitch before it decides a document, as ``mrz read`` does
    (agent/vision/mrz_read.py: second_look): evaluation page 1717000+57, whose name letter the line model of
    2026-12-03 (shipped since as the second model, here the camera reader's line model) reads wrong at 0.995, is
    not a passage with that name; without the second look it was."""
    doc = evaluation_page(1_717_000, 57)
    monkeypatch.setattr("agent.vision.camera_reader.MODEL", SECOND_MODEL)
    reader = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = reader.look(doc.image)
    assert not (isinstance(item, CameraDocument) and item.lines != doc.lines), item
    reader.close()
    monkeypatch.setattr("agent.vision.mrz_read.LOOK_WIDTHS", {})
    blind = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = blind.look(doc.image)
    assert isinstance(item, CameraDocument) and item.lines != doc.lines
    blind.close()


def test_a_sure_misreading_under_the_camera_is_not_decided_when_the_second_line_model_reads_otherwise(monkeypatch):
    """The camera reader cross-checks the reading it is about to decide with the second line model, as ``mrz read``
    does (agent/vision/mrz_read.py: cross_checked): development page 1717000+58 photographed at a steep angle (its
    far edge 0.22 of its width narrower on each side), which the first line model reads wrong, trusted, is not a
    passage so (the second look, which doubts it too, left out); without the cross-check it was. (Evaluation page
    777000+33 until the first line model of 2026-12-07 18:53 UTC, which reads it right.)"""
    monkeypatch.setattr("agent.vision.camera_reader.second_look", lambda reading, *args: reading)
    doc = evaluation_page(1_717_000, 58)
    frame, truth = keystone(doc.image, 0.22), doc.lines
    reader = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = reader.look(frame)
    assert not (isinstance(item, CameraDocument) and item.lines != truth), item
    reader.close()
    monkeypatch.setattr("agent.vision.camera_reader.cross_checked", lambda reading, *args: reading)
    unchecked = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = unchecked.look(frame)
    assert isinstance(item, CameraDocument) and item.lines != truth
    unchecked.close()


def test_the_second_line_model_reads_a_document_about_to_be_decided_while_the_second_look_reads_it(monkeypatch):
    """The cross-check's reading (the second line model's) of a frame's lines is started on that model's own
    thread as soon as the band is read (agent/vision/mrz_read.py: read_apart_meanwhile), before the second look
    asks the first model at another pitch, so the two run at once on two cores; the cross-check then takes it,
    not read again: each line once."""
    events: list[tuple[str, str, int]] = []
    submit, invoke = Model.submit, Model._invoke

    def noted_submit(self, fn, *args):  # type: ignore[no-untyped-def]
        events.append(("asked", self.path.name, self.input_shape[-1]))
        return submit(self, fn, *args)

    def noted_invoke(self, x):  # type: ignore[no-untyped-def]
        events.append(("ran", self.path.name, self.input_shape[-1]))
        return invoke(self, x)

    reader = CameraReader(None, today=lambda: TODAY)
    reader.prepare()
    monkeypatch.setattr(Model, "submit", noted_submit)
    monkeypatch.setattr(Model, "_invoke", noted_invoke)
    doc = page(71, "TD3")
    item = reader.look(_frame(1, doc.lines))
    reader.close()
    assert isinstance(item, CameraDocument) and item.lines == doc.lines
    looked = [i for i, (what, name, width) in enumerate(events) if what == "ran" and name == MODEL and width != 448]
    asked_apart = events.index(("asked", SECOND_MODEL, 448))
    assert looked and asked_apart < looked[0], events
    assert events.count(("ran", SECOND_MODEL, 448)) == len(doc.lines), events


def test_a_doubted_frame_s_consensus_and_the_cross_check_of_its_reading_read_each_model_trained_apart_once(monkeypatch):
    """Evaluation page 777000+40 (TD1): the first model's reading is doubted, the consensus of every view
    (``second_opinion``: the second and the third line model, the second look) is trusted, and the cross-check of
    that reading (``cross_checked``) asks the second model and, the second reading otherwise, the consensus again.
    The models' readings of the frame's lines are kept for each model (``mrz_read._read_apart``): until
    2026-12-08 00:12 UTC only the last one was, and the cross-check read all three lines again with the second
    model and then the third, 5.8 ms of the frame's 51.5."""
    steps: list[str] = []
    for name in ("second_opinion", "cross_checked"):
        step = getattr(camera_reader, name)
        monkeypatch.setattr(camera_reader, name, lambda *args, _name=name, _step=step: steps.append(_name) or _step(*args))
    reader = CameraReader(None, max_frames=1, today=lambda: TODAY)
    reader.prepare()
    apart = [shared_model(SECOND_MODEL), shared_model(THIRD_MODEL)]
    before = [model.stats()["runs"] for model in apart]
    doc = evaluation_page(777_000, 40)
    item = reader.look(doc.image)
    reader.close()
    assert isinstance(item, CameraDocument) and item.lines == doc.lines and steps == ["second_opinion", "cross_checked"]
    assert reader.last_reading is not None and reader.last_reading.trusted
    assert [model.stats()["runs"] - runs for model, runs in zip(apart, before, strict=True)] == [3, 3]


def test_a_document_moved_while_being_read_is_located_again():
    frame = smudge(page(73, "TD3").image, 0.6, 0)
    reader = CameraReader(None, max_frames=4, today=lambda: TODAY)
    reader.look(frame)
    reader.look(np.roll(frame, 2, axis=0))  # moved by 2 px: the same scene to the thumbnail, not to the band
    reader.look(np.roll(frame, (30, 40), axis=(0, 1)))  # moved further
    assert (reader.frames_located, reader.frames_tracked) == (3, 0)
    reader.close()


def test_a_decided_document_moved_is_located_again_and_stays_one_passage():
    doc = _frame(23, page(77, "TD3").lines)
    reader = CameraReader(None, today=lambda: TODAY)
    seen = [reader.look(f) for f in (doc, np.roll(doc, (30, 40), axis=(0, 1)), np.roll(doc, (-20, 10), axis=(0, 1)))]
    assert [i for i, s in enumerate(seen) if isinstance(s, ReaderDocument)] == [0]
    assert reader.frames_located == 3
    reader.close()


def test_a_camera_passage_is_decided_on_its_own_frame_and_face_without_another_capture(astronaut, make_gate):
    """The screener takes the passage's sighting: no second frame, the face already searched; a CLEAR records
    the face's presence without the crop."""
    gate = make_gate()  # no camera of its own: everything the event holds of the face comes with the passage
    reader = CameraReader(None, today=lambda: datetime.date(2026, 11, 23))
    item = reader.look(_frame(41, CLEAR_DOC, face=astronaut))
    assert isinstance(item, CameraDocument)
    decision = gate.screener.handle(item)
    assert decision is not None and decision.verdict == CLEAR
    (body,) = outbox_bodies(gate.path)
    event = CENTRE.open(body)
    assert event["face"]["present"] is True and "jpeg" not in event["face"]
    assert event["frame"] in gate.screener.frames and gate.screener.frames[event["frame"]] is item.sighting.frame
    reader.close()


def test_a_camera_gate_screens_the_document_and_attaches_the_face_to_a_hit(tmp_path: Path, astronaut, make_gate):
    frames = tmp_path / "frames"
    frames.mkdir()
    write_pnm(frames / "0001.ppm", _frame(11, LISTED_DOC, face=astronaut))
    camera = hal.open_camera(f"file://{frames}")
    gate = make_gate(camera=camera)
    reader = CameraReader(camera, today=lambda: datetime.date(2026, 11, 23))
    item = reader.read(timeout=5.0)
    assert isinstance(item, ReaderDocument) and item.lines == LISTED_DOC
    decision = gate.screener.handle(item)
    assert decision is not None and decision.verdict == HIT
    assert reader.read(timeout=0.3) is None  # still lying there: no second passage
    (body,) = outbox_bodies(gate.path)
    assert "face" not in decode_event(body), "the face crop is on the gate's disk in clear"
    event = CENTRE.open(body)
    assert event["decision"] == HIT and event["face"]["present"] is True
    jpeg = event["face"]["jpeg"]
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) < 40_000
    wal = gate.path.with_name(gate.path.name + "-wal")
    on_disk = gate.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert jpeg[-64:] not in on_disk, "the face crop's bytes are in the outbox in clear"  # under whatever key


def test_a_camera_that_cannot_be_opened_is_a_fault_and_the_gate_starts(tmp_path: Path):
    config = write_app_config(tmp_path, devices={"camera": "v4l2:///dev/video-missing"})
    app = GateApp(load_config(config))
    try:
        screener = app.open()
        assert app.camera is None
        assert "not available" in screener.faults["camera"]
    finally:
        app.close()


def _camera_gate(tmp_path: Path, frame: np.ndarray | None = None) -> GateApp:
    """A camera gate (no reader) over a `file://` camera showing ``frame`` (an empty tray by default)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    write_pnm(frames / "0001.ppm", np.full((48, 64, 3), 90, np.uint8) if frame is None else frame)
    return GateApp(load_config(write_app_config(tmp_path, reader="", devices={"camera": f"file://{frames}"})))


def test_a_camera_gate_without_the_vision_packages_starts_and_reports_why_it_reads_nothing(tmp_path: Path, monkeypatch):
    """An image installed without the `vision` extra: the gate starts (no traceback, no restart loop), says why."""
    monkeypatch.setitem(sys.modules, "agent.vision.camera_reader", None)  # the import fails as without Pillow
    app = _camera_gate(tmp_path)
    try:
        screener = app.open()
        assert "camera gate cannot read documents" in screener.faults["vision"]
        assert "sharaka-gate[vision]" in screener.faults["vision"] and app.reader.read(timeout=0.0) is None
    finally:
        app.close()


def test_a_camera_gate_whose_line_model_is_missing_starts_and_reports_why_it_reads_nothing(tmp_path: Path, monkeypatch):
    """A model file lost or an image without the tflite runtime: found when the gate starts (not on the first
    document, where it ended the reading thread), the gate starts and says which file."""
    monkeypatch.setattr("agent.vision.runtime.MODELS_DIR", tmp_path / "no-models")
    app = _camera_gate(tmp_path, _frame(11, CLEAR_DOC))
    try:
        screener = app.open()
        assert "camera gate cannot read documents" in screener.faults["vision"]
        assert f"{tmp_path / 'no-models' / MODEL}' is missing" in screener.faults["vision"]
        assert app.reader.read(timeout=0.0) is None
    finally:
        app.close()


def test_a_camera_gate_loads_and_runs_every_model_once_as_it_starts(tmp_path: Path, monkeypatch):
    """The first traveller waits for no model loading (a cold first frame took 25 ms more): each model is run
    once, the first line model on each of its two interpreters (``Model.twin``: a frame's lines on two cores)."""
    models = tmp_path / "models"
    models.mkdir()
    for name in (MODEL, SECOND_MODEL, THIRD_MODEL, FACE_MODEL):  # copies: loaded afresh, not this process's
        (models / name).write_bytes((Path(shared_model(MODEL).path).parent / name).read_bytes())
    monkeypatch.setattr("agent.vision.runtime.MODELS_DIR", models)
    monkeypatch.setattr("agent.vision.runtime._loaded", {})  # this process's models stay as they were
    app = _camera_gate(tmp_path)
    try:
        screener = app.open()
        assert isinstance(app.reader, CameraReader) and screener.faults.get("vision") is None
        for name in (MODEL, SECOND_MODEL, THIRD_MODEL, FACE_MODEL):
            model, runs = shared_model(name), 2 if name == MODEL else 1
            interpreters = runs if len(os.sched_getaffinity(0)) > 1 else 1  # no twin where one core is all there is
            stats = model.stats()
            assert model.path == models / name and (stats["runs"], stats["interpreters"]) == (runs, interpreters)
    finally:
        app.close()


def test_a_camera_plugged_in_after_the_gate_started_is_opened_and_the_fault_clears(tmp_path: Path, monkeypatch):
    """A camera gate whose camera is absent at start (enumerated late at boot) screens with it once it appears."""
    monkeypatch.setattr("agent.app.CAMERA_RETRY_S", 0.05)
    frames = tmp_path / "frames"
    config = write_app_config(tmp_path, reader="", devices={"camera": f"file://{frames}"})
    app = GateApp(load_config(config), notifier=SystemdNotifier(environ={}))
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    try:
        app.open()
        assert app.camera is None and "not found" in app.screener.faults["camera"]
        runner.start()
        time.sleep(0.2)
        assert app.camera is None and "not found" in app.screener.faults["camera"]  # tried again, still absent
        frames.mkdir()
        write_pnm(frames / "0001.ppm", np.full((48, 64, 3), 90, np.uint8))
        assert wait_until(lambda: app.camera is not None and "camera" not in app.screener.faults, 5)
        assert app.reader.camera is app.camera and app.screener.camera is app.camera
    finally:
        stop.set()
        runner.join(10)
        app.close()


def test_a_camera_gate_without_a_reader_starts_with_the_camera_as_reader_and_reports_model_timings(tmp_path: Path):
    app = _camera_gate(tmp_path)
    try:
        app.open()
        assert isinstance(app.reader, CameraReader) and app.reader.read(timeout=0.0) is None
        shared_model(MODEL).run(np.zeros(shared_model(MODEL).input_shape, np.float32))
        (stats,) = [m for m in app.status()["vision"] if m["model"] == MODEL]
        assert stats["load_ms"] > 0 and stats["runs"] >= 1 and stats["p50_ms"] > 0  # in status.json
    finally:
        app.close()


def test_a_document_cut_by_the_frame_is_not_decided_on_characters_beyond_it(monkeypatch, replaced_first_model):
    """The camera reader takes characters beyond the frame's edge as unknown, as ``mrz read`` does
    (agent/vision/mrz_read.py: seen_only): evaluation page 777000+6 (TD2) lying 1.8 characters into its MRZ
    beyond the camera's view is not a passage with the optional data and composite check digit the frame's
    black edge reads (``M9`` read ``12``); with those characters read as seen (neither the band's reading,
    ``mrz_read.unknown``, nor the final one, ``seen_only``, taking them as unknown, nor the character its cut line
    lost at the end doubted, ``mrz_read.SQUEEZED``), it was. The first line model here is the one of 2026-12-05
    03:50 UTC (``replaced_first_model``): the shipped one reads no black edge so on any of the 520 TD1 and TD2
    evaluation pages tried (docs/vision.md "Figures", session of 2026-12-07 20:30)."""
    doc = evaluation_page(777_000, 6)
    (x0, _), (x1, _), _, (x3, _) = next(iter_candidates(grey(doc.image))).corners()
    frame = np.ascontiguousarray(doc.image[:, : int(min(x1, x3) - 1.8 * (x1 - x0) / len(doc.lines[-1]))])
    reader = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = reader.look(frame)
    reader.close()
    assert not (isinstance(item, CameraDocument) and item.lines != doc.lines), item
    monkeypatch.setattr("agent.vision.camera_reader.seen_only", lambda reading, *args: reading)
    monkeypatch.setattr("agent.vision.mrz_read.unknown", lambda probs, unseen: probs)
    monkeypatch.setattr("agent.vision.mrz_read.SQUEEZED", 0.0)  # its cut line lost a character: squeezed too
    unseeing = CameraReader(None, max_frames=4, today=lambda: TODAY)
    item = unseeing.look(frame)
    unseeing.close()
    assert isinstance(item, CameraDocument) and item.lines != doc.lines


def test_a_camera_that_fails_while_a_camera_gate_reads_is_the_reader_fault_until_it_streams_again(tmp_path: Path):
    """docs/vision.md "Camera": captures failing (unplugged, stalled) are the camera gate's `reader` fault, cleared
    once frames come again; the gate runs on."""
    config = write_app_config(tmp_path, reader="", devices={"camera": "sim://camera?width=64&height=48"})
    app = GateApp(load_config(config), notifier=SystemdNotifier(environ={}))
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    try:
        app.open()
        runner.start()
        app.camera.unplug()
        assert wait_until(lambda: "unplugged" in (app.screener.faults.get("reader") or ""), 5)
        app.camera.replug()
        assert wait_until(lambda: "reader" not in app.screener.faults, 5) and runner.is_alive()
    finally:
        stop.set()
        runner.join(10)
        app.close()


def test_a_face_search_not_done_in_time_is_the_vision_fault_and_the_passage_is_decided_without_it(make_gate,
                                                                                                   monkeypatch):
    """docs/vision.md "In the gate": the screener waits for the passage's face search at most FACE_WAIT_S, then
    commits the decision without a face and reports the `vision` fault; a later search done in time clears it."""
    from concurrent.futures import Future

    from agent.vision.camera_reader import Sighting
    from hal.camera import Frame

    monkeypatch.setattr("agent.screening.pipeline.FACE_WAIT_S", 0.05)
    gate = make_gate()
    frame = Frame(np.full((48, 64, 3), 90, np.uint8), 1.0)
    stuck: Future[dict[str, object]] = Future()  # a face search that never ends (a model worker stalled)
    decision = gate.screener.handle(CameraDocument(LISTED_DOC, time.monotonic(), Sighting(frame, stuck)))
    assert decision is not None and decision.verdict == HIT
    assert "face search not done within 0.05 s" in gate.screener.faults["vision"]
    (body,) = outbox_bodies(gate.path)
    assert "face" not in CENTRE.open(body)
    done: Future[dict[str, object]] = Future()
    done.set_result({"present": False})
    assert gate.screener.handle(CameraDocument(CLEAR_DOC, time.monotonic(), Sighting(frame, done))) is not None
    assert "vision" not in gate.screener.faults
