"""A camera over the document tray as the gate's document reader: frames in, one read per passage out.

``CameraReader.read(timeout)`` has the interface of a ``hal`` document reader: a ``ReaderDocument``
when a document placed under the camera has been read with every check passing and confidently, a
``Misread`` when a document lies there but ``max_frames`` frames combined (per-character voting) still
give no such reading (the gate REFERs it), and None otherwise. A document stays one passage while it
lies there: nothing more is reported until the tray has shown no MRZ for ``empty_frames`` frames in a row,
or a different document is read.

Work saved on frames that show nothing new (thumbnails of 32x24 within ``STILL_DIFF`` grey levels: sensor
noise is the same scene, a hand or a moved document is not): a frame of the decided document lying there
unchanged is not read again; an empty tray unchanged is searched again only every ``IDLE_RECHECK_S``; and
while a document is being read over several frames its band is located once and cut out of the next frames
where it was, as long as the scene is the same and the lines cut there match the located ones
(``TRACK_DIFF``), else it is located again.

A passage carries its ``Sighting``: the frame it was read from and the face search (agent/vision/face.py
``evidence``) started on that frame on the reader's own face thread as soon as the MRZ band is located, in the
page's portrait zones first (``face.portrait_zones`` of the most MRZ-like band), beside recognising the MRZ
(the face model has its own worker thread, so the two run on two cores); when that band's lines are too tall for
an MRZ's (``mrz_read.too_tall``: a page's large print), at the first band that is not, as it is read. None is started on a
frame that shows no MRZ-like band, and it is dropped when the frame's MRZ cannot be read. The screener so has the
face when it decides instead of grabbing another frame and searching it before the event is committed.

    >>> reader = CameraReader(hal.open_camera("file://frames/"))
    >>> item = reader.read(timeout=1.0)
    >>> item.sighting.face.result()["present"]
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agent.vision.face import MODEL as FACE_MODEL
from agent.vision.face import evidence, portrait_zones, whole_frame
from agent.vision.image import grey, resize
from agent.vision.locate import Band, iter_candidates
from agent.vision.mrz_read import (
    MODEL,
    BandReading,
    Reading,
    best_band,
    constrained,
    cross_checked,
    prepare_line_models,
    read_apart_meanwhile,
    reread_wider,
    second_look,
    second_opinion,
    seen_only,
    too_tall,
)
from agent.vision.runtime import VisionUnavailableError, shared_model
from hal.camera import Frame
from hal.reader.types import Misread, ReaderDocument

if TYPE_CHECKING:
    from hal.camera import Camera


SAME_DOCUMENT = 0.75  # share of characters two frames' best readings have in common for the same document
STILL_DIFF = 4.0  # mean grey-level difference of 32x24 thumbnails below which a frame shows the same scene
IDLE_RECHECK_S = 1.0  # an unchanged empty tray is searched again this often all the same
TRACK_DIFF = 8.0  # mean grey-level difference of a band's lines cut from two frames below which it lies still
THUMB = (32, 24)


@dataclass(frozen=True)
class Sighting:
    """The camera frame a passage was read from, and the face search running on it (``evidence`` with the
    crop; the screener keeps the crop for HIT and REFER only)."""

    frame: Frame
    face: Future[dict[str, object]]


@dataclass(frozen=True)
class CameraDocument(ReaderDocument):
    """A document read from the camera, with where it was seen."""

    sighting: Sighting | None = None


@dataclass(frozen=True)
class CameraMisread(Misread):
    """A document under the camera that stayed unreadable, with where it was seen."""

    sighting: Sighting | None = None


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A 32x24 grey thumbnail from every few pixels (cheap: a still frame costs no full-size conversion)."""
    step = max(1, min(rgb.shape[0] // (4 * THUMB[1]), rgb.shape[1] // (4 * THUMB[0])))
    small = rgb[::step, ::step].mean(axis=2, dtype=np.float32).astype(np.uint8)
    return resize(small, *THUMB).astype(np.float32)


def _same_scene(thumb: np.ndarray, other: np.ndarray) -> bool:
    """Two frames' thumbnails within STILL_DIFF grey levels on average: nothing was moved (sensor noise)."""
    return float(np.abs(thumb - other).mean()) < STILL_DIFF


def _another_document(probs: list[np.ndarray], previous: list[np.ndarray]) -> bool:
    if [p.shape for p in probs] != [p.shape for p in previous]:
        return True
    same = np.mean([(a.argmax(1) == b.argmax(1)).mean() for a, b in zip(probs, previous, strict=True)])
    return bool(same < SAME_DOCUMENT)


class CameraReader:
    """See the module docstring. ``camera`` None (it could not be opened) reads nothing."""

    def __init__(
        self,
        camera: Camera | None,
        *,
        max_frames: int = 4,
        empty_frames: int = 3,
        frame_interval_s: float = 0.05,
        today: Callable[[], datetime.date] = datetime.date.today,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.max_frames, self.empty_frames = max_frames, empty_frames
        self.frame_interval_s = frame_interval_s
        self._today, self._monotonic = today, monotonic
        self._votes: list[list[np.ndarray]] = []  # per-character probabilities of the frames so far
        self._present: tuple[str, ...] | None = None  # lines of the document lying there ((): unreadable)
        self._decided_thumb: np.ndarray | None = None  # the thumbnail of the frame it was decided on
        self._sighting: Sighting | None = None  # the face search of the document being read
        self._faces: ThreadPoolExecutor | None = None
        self._whole: Future[np.ndarray] | None = None  # the frame being read: its face search's whole-frame input
        self._empty = 0
        self._idle: tuple[np.ndarray, float] | None = None  # the empty tray's thumbnail, when to look again anyway
        self._band: tuple[Band, np.ndarray] | None = None  # the band located last and its frame's thumbnail
        self.last_reading: Reading | None = None
        self.frames_read = 0  # frames the MRZ was searched in
        self.frames_located = 0  # of which the band was located (the others: tracked from an earlier frame)
        self.frames_tracked = 0  # of which the band was cut where an earlier frame showed it
        self.frames_still = 0  # frames skipped: the decided document or the empty tray lying there unchanged
        self.timings_ms: dict[str, float] = {}  # the last frame read: locate, recognise, decode (bench/vision_bench.py)

    def prepare(self) -> None:
        """Load the models and run each once before the first frame (``mrz_read.prepare_line_models``; the face model too
        when it loads: without it a decision records why, agent/screening/pipeline.py). VisionUnavailableError
        when no MRZ can be read here (the line model missing or corrupt, no tflite runtime)."""
        prepare_line_models()
        with contextlib.suppress(VisionUnavailableError):
            face_model = shared_model(FACE_MODEL)
            face_model.run(np.zeros(face_model.input_shape, np.float32))

    def read(self, timeout: float | None = None) -> ReaderDocument | Misread | None:
        """Look at frames for up to ``timeout`` seconds; the first new passage, or None."""
        if self.camera is None:
            time.sleep(timeout or 0.0)
            return None
        deadline = self._monotonic() + (timeout or 0.0)
        while True:
            frame = self.camera.capture()
            item = self.look(frame.image, frame)
            if item is not None or self._monotonic() >= deadline:
                return item
            time.sleep(self.frame_interval_s)

    def look(self, rgb: np.ndarray, frame: Frame | None = None) -> CameraDocument | CameraMisread | None:
        """Take one frame (``frame``: the capture ``rgb`` came from) into account; a new passage when this
        frame completes one."""
        thumb = _thumbnail(rgb)
        if self._decided_thumb is not None and _same_scene(thumb, self._decided_thumb):
            self.frames_still += 1
            self._empty = 0
            return None  # the decided document lies there unchanged: not read again
        now = self._monotonic()
        if self._idle is not None and _same_scene(thumb, self._idle[0]) and now < self._idle[1]:
            self.frames_still += 1
            return None  # the empty tray unchanged: not searched again (but every IDLE_RECHECK_S)
        self._idle = None
        self.frames_read += 1
        # a face search may start on this frame: its whole-frame input made on the face thread while the MRZ is located
        self._whole = self._face_thread().submit(whole_frame, rgb) if self._sighting is None else None
        t0 = time.perf_counter()
        g = grey(rgb)
        best = self._read_tracked(thumb, g)
        t1 = time.perf_counter()
        if best is None:
            self.frames_located += 1
            bands = iter_candidates(g)  # a later mask made only when read up to (mrz_read.best_band)
            first = next(bands, None)
            t1 = time.perf_counter()
            if first is not None:  # the face search goes on beside recognition
                self._face_at(first, rgb, frame)
            best = None if first is None else best_band(self._face_beside(itertools.chain([first], bands), rgb, frame),
                                                        shared_model(MODEL), self._today())  # fmt: skip
            if best is not None:
                self._band = (best.band, thumb)
                if self._sighting is None:  # every band read was too tall for an MRZ: the face beside the band read
                    self._sighting = self._search_face(rgb, frame, best.band)
        t2 = time.perf_counter()
        self.timings_ms = {"locate": (t1 - t0) * 1e3, "recognise": (t2 - t1) * 1e3}
        if best is None:
            self._band = None
            if self._whole is not None:
                self._whole.cancel()  # not yet made: no face search on this frame needs it
            if not self._votes:  # nothing to read here: the face search started on this frame is not needed
                self._drop_sighting()
            self._empty += 1
            if self._empty >= self.empty_frames:  # the tray is empty: the next document is a new passage
                self._present, self._votes, self._decided_thumb = None, [], None
                self._drop_sighting()
                self._idle = (thumb, now + IDLE_RECHECK_S)
            return None
        probs = best.probs
        self._empty = 0
        if self._votes and _another_document(probs, self._votes[-1]):
            self._votes, self._decided_thumb = [], None  # another document: start over, its own face
            self._drop_sighting()
            self._sighting = self._search_face(rgb, frame, best.band)
        read_apart_meanwhile(best.crops, shared_model(MODEL))
        self._votes = [*self._votes[-(self.max_frames - 1) :], probs]
        combined = [np.mean([v[i] for v in self._votes], axis=0) for i in range(len(probs))]
        reading = as_read = Reading(*constrained(combined, self._today()), combined)
        if reading.trusted and reading.lines != self._present:  # about to decide: confirmed at another pitch
            reading = second_look(reading, best.crops, shared_model(MODEL), self._today())
        if not as_read.trusted:  # read again wider (not when only the second look doubts it: mrz_read._read_frame),
            # trusted alone, not averaged with worse ones
            wider = reread_wider(best.crops, [len(p) for p in probs], shared_model(MODEL), self._today())
            if wider is not None:
                self._votes[-1], reading = wider.probs, wider
        if not reading.trusted:  # the second line model's view of this frame's lines
            reading = second_opinion(reading, best.crops, shared_model(MODEL), self._today())
        if reading.trusted and reading.lines != self._present:  # about to decide: read alike by a model trained apart
            reading = cross_checked(reading, best.crops, shared_model(MODEL), self._today())
        reading = seen_only(reading, best.unseen, self._today())  # no character read beyond the frame's edge
        self.timings_ms["decode"] = (time.perf_counter() - t2) * 1e3
        lines, confidence = reading.lines, reading.confidence
        self.last_reading = reading
        if reading.trusted:
            self._decided_thumb = thumb
            if lines == self._present:
                return None  # the same document still lying there
            self._present = lines
            return CameraDocument(lines, self._monotonic(), sighting=self._sighting)
        if self._present is None and len(self._votes) >= self.max_frames:
            self._present, self._decided_thumb = (), thumb
            return CameraMisread(f"camera: MRZ unreadable in {len(self._votes)} frames (confidence {confidence:.2f})",
                                 self._monotonic(), sighting=self._sighting)  # fmt: skip
        return None

    def _read_tracked(self, thumb: np.ndarray, g: np.ndarray) -> BandReading | None:
        """The band located on an earlier frame of this document, cut out of this frame ``g`` where it was and
        read, when the scene is the same and the cut lines match the located ones (within TRACK_DIFF grey
        levels on average: sensor noise; a shift of one pixel is several times more); None when the band must
        be located again (the document moved, was swapped or taken away)."""
        if self._band is None:
            return None
        band, band_thumb = self._band
        if not _same_scene(thumb, band_thumb) or g.shape != (band.page.height, band.page.width):
            return None
        here = band.on(g)
        moved = np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(here.lines, band.lines, strict=True)])
        if moved >= TRACK_DIFF:
            return None
        tracked = best_band([here], shared_model(MODEL))
        if tracked is not None:
            self.frames_tracked += 1
        return tracked

    def _face_beside(self, bands: Iterator[Band], rgb: np.ndarray, frame: Frame | None) -> Iterator[Band]:
        """``bands`` as ``best_band`` takes them, the face search started (when none runs yet: the first band is too
        tall for an MRZ's, ``too_tall``) at the first that is not, as that band is read. A page's large print can
        come first (evaluation page 777000+118: two bands of it, then the MRZ, read 7 ms before the decision waited
        for the face started only once it was read)."""
        for band in bands:
            self._face_at(band, rgb, frame)
            yield band

    def _face_at(self, band: Band, rgb: np.ndarray, frame: Frame | None) -> None:
        """The face search started beside ``band`` when none runs yet and its lines are not too tall for an MRZ's."""
        if self._sighting is None and not too_tall(band):
            self._sighting = self._search_face(rgb, frame, band)

    def _drop_sighting(self) -> None:
        if self._sighting is not None:
            self._sighting.face.cancel()  # not yet started: never runs
            self._sighting = None

    def _search_face(self, rgb: np.ndarray, frame: Frame | None, band: Band) -> Sighting:
        """Start the face search on ``frame`` (the capture ``rgb`` came from; one made now when none) on the face
        thread, the portrait zones of the page whose MRZ is ``band`` first (the MRZ is read meanwhile)."""
        frame = frame or Frame(rgb, time.time())
        zones = portrait_zones(band.corners(), band.foot_up)
        whole = self._whole if frame.image is rgb else None
        return Sighting(frame, self._face_thread().submit(evidence, frame.image, attach=True, portrait=zones, whole=whole))

    def _face_thread(self) -> ThreadPoolExecutor:
        if self._faces is None:
            self._faces = ThreadPoolExecutor(max_workers=1, thread_name_prefix="face")
        return self._faces

    def close(self) -> None:
        """Stop the face thread; the camera is the gate's, closed by its owner."""
        if self._faces is not None:
            self._faces.shutdown(wait=True, cancel_futures=True)
            self._faces = None
