"""Face detection with MediaPipe's BlazeFace (models/face_detection_short_range.tflite, Apache-2.0).

The frame is letterboxed to the model's square input whole and, when that shows no face (faces small in
the frame, such as a passport photo on a page under the camera), in four overlapping square tiles cut from one
copy of the frame reduced to the tiles' scale, each upright and turned half round (BlazeFace does not find an
upside-down face, and a document lies under the camera either way round), the likeliest portrait zones first
(``searches``), until a tile shows a clear face (``CLEAR_SCORE``) away from its edges. The model's 896 anchor
predictions are decoded in numpy (box, 6 landmarks, score), merged by weighted non-maximum suppression and
mapped back to pixels of the original image, best first; a face found turned says so (``Face.turned``) and its
evidence crop is turned upright. When the page's MRZ band is known (a camera gate), the page's portrait zones
(``portrait_zones``) are searched before all that, and a face in one ends the search at any score kept.

    >>> faces = detect(read_image("booth.jpg"))
    >>> faces[0].box, faces[0].score, faces[0].quality
"""

from __future__ import annotations

import math
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from agent.vision.image import grey, jpeg_bytes, resize
from agent.vision.runtime import Model, shared_model

MODEL = "face_detection_short_range.tflite"
MIN_SCORE = 0.65  # 0.5 (MediaPipe default) finds page-sized false faces on guilloche prints
CLEAR_SCORE = 0.8  # a tile face this sure, away from the tile's edges, ends the tile search
TILE = 0.6  # tile side, of the frame's shorter side
# tiles: a strip between the corner tiles wider than GAP of a tile gets tiles of its own, each overlapping the next
# by OVERLAP at least: a 16:9 or 9:16 frame leaves 0.96 of a tile, an ID card's (1.59:1) 0.64, a passport page's 0.37
GAP, OVERLAP = 0.75, 0.25
NMS_IOU = 0.3
ROW = 18  # a found face before merging: decode's 17 columns (score, box, 6 landmarks), then 1.0 if found turned
SHARP_LAPLACIAN_VAR = 100.0  # Laplacian variance of a sharp 64 px face crop (grey 0..255); blur figure 1.0 above


@dataclass(frozen=True)
class Face:
    """One detected face: box and landmarks in image pixels, score, crop quality."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image
    score: float
    landmarks: tuple[tuple[float, float], ...]  # right eye, left eye, nose, mouth, right ear, left ear
    quality: dict[str, float] = field(default_factory=dict)  # size, centring, sharpness, overall (0..1)
    turned: bool = False  # upside down in the image (found in a tile turned half round)

    def as_json(self) -> dict[str, object]:
        """The face as printed by ``face detect --json`` (rounded)."""
        return {"box": [round(v, 1) for v in self.box], "score": round(self.score, 4),
                "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
                "quality": {k: round(v, 3) for k, v in self.quality.items()}, "turned": self.turned}  # fmt: skip


def anchors(size: int = 128, strides: tuple[int, ...] = (8, 16, 16, 16)) -> np.ndarray:
    """Anchor centres (N x 2, 0..1) of MediaPipe's SSD anchors with fixed size (2 per layer and cell)."""
    out = []
    i = 0
    while i < len(strides):
        stride, repeat = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            repeat += 2
            i += 1
        cells = size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, repeat, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


ANCHORS = anchors()


def decode(regressors: np.ndarray, scores: np.ndarray, size: int = 128) -> np.ndarray:
    """Rows [score, x0, y0, x1, y1, 12 landmark coords] (0..1 of the model input) above MIN_SCORE."""
    raw = regressors.reshape(-1, 16) / size
    prob = 1.0 / (1.0 + np.exp(-np.clip(scores.reshape(-1).astype(np.float32), -80, 80)))
    keep = prob >= MIN_SCORE
    raw, prob, anc = raw[keep], prob[keep], ANCHORS[keep]
    cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    marks = raw[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    return np.concatenate([prob[:, None], boxes, marks.reshape(-1, 12)], 1)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(rows: np.ndarray) -> np.ndarray:
    """MediaPipe's weighted NMS: overlapping detections are averaged by score, the best score kept."""
    rows = rows[np.argsort(-rows[:, 0])]
    out = []
    while len(rows):
        overlap = _iou(rows[0, 1:5], rows[:, 1:5]) >= NMS_IOU
        group = rows[overlap]
        merged = group[0].copy()
        merged[1:] = (group[:, 1:] * group[:, :1]).sum(0) / group[:, 0].sum()
        out.append(merged)
        rows = rows[~overlap]
    return np.array(out).reshape(-1, ROW)


def _square_input(rgb: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """The square window (x0, y0, side) of ``rgb``, padded black past the edges, at ``size`` px in -1..1."""
    h, w = rgb.shape[:2]
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    scale = size / side
    px0, py0 = round((sx0 - x0) * scale), round((sy0 - y0) * scale)
    pw = max(1, min(size - px0, round((sx1 - sx0) * scale)))
    ph = max(1, min(size - py0, round((sy1 - sy0) * scale)))
    out = np.full((1, size, size, 3), -1.0, np.float32)
    if sx1 <= sx0 or sy1 <= sy0:  # the window lies wholly outside the image
        return out
    window = resize(rgb[sy0:sy1, sx0:sx1], pw, ph, reducing_gap=1.0)  # box-reduced first: 3x faster per frame
    out[0, py0 : py0 + ph, px0 : px0 + pw] = window * np.float32(1 / 127.5) - np.float32(1.0)
    return out


def tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Overlapping square tiles (x0, y0, side) of TILE of the shorter side, column by column, each top to bottom:
    2 x 2 at the frame's corners, and more between them where those leave a strip of over GAP of a tile
    (``_starts``); none when the side is under 64 pixels."""
    side = int(min(width, height) * TILE)
    if side < 64:
        return []
    return [(tx, ty, side) for tx in _starts(width, side) for ty in _starts(height, side)]


def _starts(length: int, side: int) -> list[int]:
    """Where tiles of ``side`` start along ``length``: at each end, and when those leave over GAP of a tile
    between them (a phone photo of 9:16 held upright, its passport's face in the middle: the corner tiles of a
    2,160 x 3,840 photo left 1,248 rows unsearched), evenly between, each overlapping the next by OVERLAP at least."""
    if length - 2 * side <= GAP * side:
        return [0, length - side]
    n = math.ceil((length - side) / ((1 - OVERLAP) * side)) + 1
    return [round(k * (length - side) / (n - 1)) for k in range(n)]


def searches(width: int, height: int) -> list[tuple[int, int, int, bool]]:
    """The tile searches (x0, y0, side, turned) in order: the portrait zone of an upright ICAO data page (the left
    column, top down), then of one lying upside down (the right column turned, bottom up), then the rest of each
    way round, the columns between (a wide frame's) last."""
    found = tiles(width, height)
    if not found:
        return []
    xs = sorted({t[0] for t in found})
    left, right = ([t for t in found if t[0] == x] for x in (xs[0], xs[-1]))
    middle = [t for t in found if xs[0] < t[0] < xs[-1]]
    order = [*((t, False) for t in left), *((t, True) for t in reversed(right)), *((t, False) for t in right),
             *((t, True) for t in reversed(left)), *((t, False) for t in middle), *((t, True) for t in middle)]
    return [(*t, turned) for t, turned in order]


def _turn(rows: np.ndarray) -> np.ndarray:
    """``decode`` rows of a window turned half round, in units of the window as it lies."""
    out = 1.0 - rows
    out[:, 0] = rows[:, 0]
    out[:, 1:5] = out[:, [3, 4, 1, 2]]  # the box's corners swap
    return out


def _clear(rows: np.ndarray, score: float = CLEAR_SCORE) -> bool:
    """A face in these rows (model-input units, 0..1) is scored at least ``score`` and not cut by the window's edges."""
    sure = rows[rows[:, 0] >= score]
    return bool(np.any((sure[:, 1] > 0.02) & (sure[:, 2] > 0.02) & (sure[:, 3] < 0.98) & (sure[:, 4] < 0.98)))


def _rows(model: Model, window: np.ndarray, turned: bool = False) -> np.ndarray:
    regressors, scores = model.run(window[:, ::-1, ::-1] if turned else window)
    rows = decode(regressors, scores, window.shape[1])
    return _turn(rows) if turned else rows


def _to_frame(rows: np.ndarray, x0: float, y0: float, side: float) -> np.ndarray:
    """``decode`` rows of the window (x0, y0, side) in pixels of the image the window was cut from (a copy)."""
    return np.concatenate([rows[:, :1], rows[:, 1:] * side + np.tile([x0, y0], 8)], 1)


def _found(rows: np.ndarray, turned: bool) -> np.ndarray:
    return np.concatenate([rows, np.full((len(rows), 1), float(turned))], 1)


def quality(rgb: np.ndarray, box: tuple[float, float, float, float]) -> dict[str, float]:
    """How good a crop the face gives: size (64 px wide is 1), centring in the frame, sharpness, overall."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    size = min(1.0, (x1 - x0) / 64.0)
    cx, cy = (x0 + x1) / 2 / w - 0.5, (y0 + y1) / 2 / h - 0.5
    centring = float(max(0.0, 1.0 - 2.0 * np.hypot(cx, cy)))
    crop = rgb[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    sharp = 0.0
    if crop.shape[0] >= 8 and crop.shape[1] >= 8:
        g = resize(grey(np.ascontiguousarray(crop)), 64, 64, reducing_gap=1.0).astype(np.float32)
        lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
        sharp = float(min(1.0, lap.var() / SHARP_LAPLACIAN_VAR))
    return {"size": size, "centring": centring, "sharpness": sharp,
            "overall": size * (0.5 + 0.5 * sharp) * (0.75 + 0.25 * centring)}  # fmt: skip


# An ICAO data page's portrait zone (Doc 9303 Parts 4 and 5: zone V, left of the printed data, above the MRZ),
# in lengths of the MRZ band: its centre along the band from its start and up from its top, and a window's side.
PORTRAIT_ALONG, PORTRAIT_UP, PORTRAIT_SIDE = 0.13, 0.36, 0.64


def portrait_zones(corners: tuple[tuple[float, float], ...], foot_up: bool = False) -> list[tuple[int, int, int, bool]]:
    """Square windows (x0, y0, side, turned) over the portrait of a data page whose MRZ band has ``corners``
    (top left, top right, bottom left, bottom right in image pixels, as the band lies in the image): above the
    band's left end and, for a page lying upside down, below its right end, turned; that one first when ``foot_up``
    (``Band.foot_up``: the page's ink lies below the band, so most likely upside down); none for a band shorter than
    64 pixels."""
    tl, tr, bl, br = (np.asarray(c, np.float64) for c in corners)
    length = float(np.hypot(*(tr - tl)))
    height = float(np.hypot(*(bl - tl)))
    if length < 64 or height <= 0:
        return []
    along, up = (tr - tl) / length, (tl - bl) / height
    side = round(PORTRAIT_SIDE * length)
    centres = [(tl + length * (PORTRAIT_ALONG * along + PORTRAIT_UP * up), False),
               (br - length * (PORTRAIT_ALONG * along + PORTRAIT_UP * up), True)]  # fmt: skip
    zones = [(round(c[0] - side / 2), round(c[1] - side / 2), side, turned) for c, turned in centres]
    return zones[::-1] if foot_up else zones


def whole_frame(rgb: np.ndarray, model: Model | None = None) -> np.ndarray:
    """The model's input of the frame ``rgb`` whole, letterboxed (``detect`` searches it after the portrait zones):
    a camera gate makes it beforehand, while the frame's MRZ is located (agent/vision/camera_reader.py)."""
    size = (model or shared_model(MODEL)).input_shape[1]
    return _square_input(rgb, *_whole_window(rgb), size)


def _whole_window(rgb: np.ndarray) -> tuple[int, int, int]:
    """The square window (x0, y0, side) letterboxing the frame ``rgb`` whole, centred."""
    h, w = rgb.shape[:2]
    side = max(w, h)
    return (w - side) // 2, (h - side) // 2, side


def detect(rgb: np.ndarray, model: Model | None = None, search_tiles: bool = True,
           portrait: list[tuple[int, int, int, bool]] | None = None,
           whole: Future[np.ndarray] | None = None) -> list[Face]:  # fmt: skip
    """Faces in ``rgb`` (HxWx3 uint8), best score first, boxes in its pixels (all on the model's worker).
    ``portrait``: windows (``portrait_zones``) searched first; a face in one, away from its edges, ends the search
    there at any score kept (MIN_SCORE), not only a clear one: the portrait is where the zone is. On 800 generated
    pages (640 with a photo) and 85 real specimens, what the frame and its tiles, searched after a zone's face
    scored under CLEAR_SCORE, found was that same face, at two to ten inferences more (a camera gate's face search
    took 19-28 ms so, beside a read of 25). When the zones show no face at all, the page has no portrait on this
    side (a card's MRZ side) and only the whole frame is searched after them, not the tiles. ``whole``: the frame's
    ``whole_frame`` input, being made beforehand."""
    model = model or shared_model(MODEL)
    return model.call(_detect, rgb, model, search_tiles, portrait or [], whole)


def _detect(rgb: np.ndarray, model: Model, search_tiles: bool, portrait: list[tuple[int, int, int, bool]] | None = None,
            whole: Future[np.ndarray] | None = None) -> list[Face]:  # fmt: skip
    size = model.input_shape[1]
    h, w = rgb.shape[:2]
    found = []
    for x0, y0, side, turned in portrait or []:
        if x0 + side < side // 4 or y0 + side < side // 4 or x0 > w - side // 4 or y0 > h - side // 4:
            continue  # under a quarter of the window's side in the frame: the page's portrait is not there
        rows = _rows(model, _square_input(rgb, x0, y0, side, size), turned)
        found.append(_found(_to_frame(rows, x0, y0, side), turned))
        if _clear(rows, MIN_SCORE):
            return _faces(rgb, found)
    if found and not any(len(window) for window in found):  # no face at all in the zones
        search_tiles = False
    x0, y0, side = _whole_window(rgb)
    rows = _rows(model, whole_frame(rgb, model) if whole is None else whole.result())
    found.append(_found(_to_frame(rows, x0, y0, side), False))
    windows = searches(w, h) if search_tiles and not len(rows) else []
    if windows:  # one reduction of the frame to the tiles' scale, then each tile is a cut of it
        scale = size / windows[0][2]
        small = resize(rgb, max(size, round(w * scale)), max(size, round(h * scale)))
        sw, sh = small.shape[1] / w, small.shape[0] / h
    for tx, ty, _, turned in windows:
        sx, sy = min(round(tx * sw), small.shape[1] - size), min(round(ty * sh), small.shape[0] - size)
        rows = _rows(model, _square_input(small, sx, sy, size, size), turned)
        found.append(_found(_to_frame(rows, sx, sy, size) / np.array([1.0] + [sw, sh] * 8), turned))
        if _clear(rows):
            break
    return _faces(rgb, found)


def _faces(rgb: np.ndarray, found: list[np.ndarray]) -> list[Face]:
    """The ``_found`` rows of every window searched, merged, as faces in pixels of ``rgb``, best first."""
    h, w = rgb.shape[:2]
    merged = weighted_nms(np.concatenate(found))
    faces = []
    for row in merged:
        box = (float(max(0, row[1])), float(max(0, row[2])), float(min(w, row[3])), float(min(h, row[4])))
        if box[2] - box[0] < 4 or box[3] - box[1] < 4:
            continue
        marks = tuple((float(row[5 + 2 * k]), float(row[6 + 2 * k])) for k in range(6))
        faces.append(Face(box, float(row[0]), marks, quality(rgb, box), turned=bool(row[-1] > 0.5)))
    return sorted(faces, key=lambda f: -f.score)


def best_face(faces: list[Face]) -> Face | None:
    """The face that gives the best crop (quality x score), or None."""
    return max(faces, key=lambda f: f.quality.get("overall", 0.0) * f.score, default=None)


CROP_MARGIN = 0.25  # of the face box, on every side of an evidence crop
CROP_SIDE = 256  # pixels, the longer side of an evidence crop at most (a JPEG of ~10 KB)


def evidence(rgb: np.ndarray, *, attach: bool, model: Model | None = None,
             portrait: list[tuple[int, int, int, bool]] | None = None,
             whole: Future[np.ndarray] | None = None) -> dict[str, object]:  # fmt: skip
    """What a decision records of the camera frame: whether a face is there (its score and crop quality)
    and, with ``attach``, the best face as a JPEG crop of at most CROP_SIDE pixels (``portrait``, ``whole``: see
    detect)."""
    best = best_face(detect(rgb, model, portrait=portrait, whole=whole))
    if best is None:
        return {"present": False}
    out: dict[str, object] = {"present": True, "score": round(best.score, 3),
                              "quality": round(best.quality["overall"], 3)}  # fmt: skip
    if attach:
        x0, y0, x1, y1 = best.box
        mx, my = (x1 - x0) * CROP_MARGIN, (y1 - y0) * CROP_MARGIN
        h, w = rgb.shape[:2]
        crop = rgb[max(0, int(y0 - my)) : min(h, int(y1 + my)), max(0, int(x0 - mx)) : min(w, int(x1 + mx))]
        out["jpeg"] = jpeg_bytes(np.ascontiguousarray(crop[::-1, ::-1] if best.turned else crop), CROP_SIDE)
    return out
