"""A camera over the document tray as the gate's document reader: frames in, one read per passage out.

``CameraReader.read(timeout)`` has the interface of a ``hal`` document reader: a ``ReaderDocument``
when a document placed under the camera has been read with every check passing and confidently, a
``Misread`` when a document lies there but ``max_frames`` frames combined (per-character voting) still
give no such reading (the gate REFERs it), and None otherwise. A document stays one passage while it
lies there: nothing more is reported until the tray has shown no MRZ for ``empty_frames`` frames in a row,
or a different document is read.

    >>> reader = CameraReader(hal.open_camera("file://frames/"))
    >>> item = reader.read(timeout=1.0)
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from agent.vision.image import grey
from agent.vision.locate import candidates
from agent.vision.mrz_read import MODEL, Reading, best_band_probs, constrained
from agent.vision.runtime import shared_model
from hal.reader.types import Misread, ReaderDocument

if TYPE_CHECKING:
    from hal.camera import Camera


SAME_DOCUMENT = 0.75  # share of characters two frames' best readings have in common for the same document


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
        self._empty = 0
        self.last_reading: Reading | None = None

    def read(self, timeout: float | None = None) -> ReaderDocument | Misread | None:
        """Look at frames for up to ``timeout`` seconds; the first new passage, or None."""
        if self.camera is None:
            time.sleep(timeout or 0.0)
            return None
        deadline = self._monotonic() + (timeout or 0.0)
        while True:
            item = self.look(self.camera.capture().image)
            if item is not None or self._monotonic() >= deadline:
                return item
            time.sleep(self.frame_interval_s)

    def look(self, rgb: np.ndarray) -> ReaderDocument | Misread | None:
        """Take one frame into account; a new passage when this frame completes one."""
        probs = best_band_probs(candidates(grey(rgb)), shared_model(MODEL))
        if probs is None:
            self._empty += 1
            if self._empty >= self.empty_frames:  # the tray is empty: the next document is a new passage
                self._present, self._votes = None, []
            return None
        self._empty = 0
        if self._votes and _another_document(probs, self._votes[-1]):
            self._votes = []  # another document: start over
        self._votes = [*self._votes[-(self.max_frames - 1) :], probs]
        combined = [np.mean([v[i] for v in self._votes], axis=0) for i in range(len(probs))]
        lines, result, confidence = constrained(combined, self._today())
        reading = Reading(lines, result, confidence, combined)
        self.last_reading = reading
        if reading.trusted:
            if lines == self._present:
                return None  # the same document still lying there
            self._present = lines
            return ReaderDocument(lines, self._monotonic())
        if self._present is None and len(self._votes) >= self.max_frames:
            self._present = ()
            return Misread(f"camera: MRZ unreadable in {len(self._votes)} frames (confidence {confidence:.2f})",
                           self._monotonic())  # fmt: skip
        return None

    def close(self) -> None:
        """The camera is the gate's: closed by its owner."""
