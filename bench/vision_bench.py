"""On-device vision benchmark: MRZ from page photographs vs Tesseract on the same band, faces, camera gate.

    ./tools/dev vision-bench [--docs 100] [--seed N | --seeds N,N,...] [--no-second-look] [--locate 100] [--compare OTHER.tflite] [--tesseract 40] [--faces 40] [--full-range FILE]

The evaluation set is generated here from a fixed seed (tools/vision/synth.py; seeds apart from the
training run's): full pages of TD1, TD2, TD3, MRV-A and MRV-B turned up to 10 degrees (one in five upside
down), damaged, half with a face photo from scikit-image's sample data (tests/data/vision). It is never
used for training. Figures:

- documents fully right: the reading is trusted (every check passes, confident) and equals the truth;
  REFER: not trusted (the gate would refer it); WRONG: trusted but not the truth (must be 0);
- characters right: of the best reading, position by position, where the layout was found;
- the peer approach on the same located band: Tesseract 5 (``--psm 7``, MRZ alphabet, OMP_THREAD_LIMIT=1),
  as PassportEye does, lines exactly right and ms per line, against the line model's ms per line;
- faces: the top face inside the pasted photo, false faces, ms per frame; searched in the frame alone (``face
  detect``) and, as the camera gate does, in the portrait zones of the located MRZ first;
- camera gate: frame -> MRZ read -> screened -> event durably committed, p50/p99 ms.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import hashlib
import io
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.vision import face, mrz_read
from agent.vision.image import grey, read_image, resize
from agent.vision.locate import candidates, locate
from agent.vision.mrz_read import MODEL, Reading, line_probs, read_image_mrz
from agent.vision.runtime import Model, shared_model
from tools.vision.synth import document_sample

SEED = 777_000
FORMATS = ("TD1", "TD2", "TD3", "MRVA", "MRVB")
TODAY = datetime.date(2026, 12, 1)
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "vision"
WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
INT8_DOT = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX", "asimddp": "Arm dot product"}
NATIVE_BF16 = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX", "bf16": "Arm BF16"}


def evaluation_set(n: int, faces: list[np.ndarray], seed: int = SEED):  # type: ignore[no-untyped-def]
    for i in range(n):
        rng = random.Random(seed + i)
        angle = rng.uniform(-10, 10) + (180 if i % 5 == 4 else 0)
        yield document_sample(rng, FORMATS[i % len(FORMATS)], angle=angle, face=faces[i % len(faces)] if i % 2 else None)


def machine(cpuinfo: str) -> str:
    """The CPU the figures are measured on (``cpuinfo``: /proc/cpuinfo's text), the cores this process may use, and
    the instructions int8 inference and bfloat16 training rest on: without an int8 dot product the int8 line
    models run no faster than float ones (4.5x slower on an AVX2 machine than on an AVX-512 VNNI one), and
    bfloat16 autocast is emulated (docs/vision.md, Figures, sessions of 2026-12-06 11:30 and 13:34)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    name = fields.get("model name") or fields.get("Model") or "an unnamed CPU"
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    dot = ", ".join(v for k, v in INT8_DOT.items() if k in flags) or "none"
    bf16 = ", ".join(v for k, v in NATIVE_BF16.items() if k in flags) or "none"
    return (f"machine: {name}, {len(os.sched_getaffinity(0))} cores for this process; int8 dot product: {dot}; "
            f"native bfloat16: {bf16}")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (a dropped or doubled character counts once, not for every character after it)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def miss_cause(reading: Reading, truth: tuple[str, ...]) -> str:
    """Why a document was not fully right: the locator (no band, or not the MRZ's lines), the recogniser
    (characters misread), or the threshold (read right, every check passing, but not sure enough)."""
    if reading.result is None:
        return "locator: no band read"
    if tuple(len(line) for line in reading.lines) != tuple(len(line) for line in truth):
        return "locator: wrong lines or layout"
    if reading.lines == truth:
        return "threshold: right, below MIN_CONFIDENCE"
    edits = sum(edit_distance(got, want) for got, want in zip(reading.lines, truth, strict=True))
    if edits > 0.3 * sum(len(line) for line in truth):
        return "locator: band not the MRZ, or read the wrong way round"
    return "recogniser: characters misread" + (" (a wrong reading passes the checks: REFER by confidence)"
                                               if reading.result.valid else "")


def bench_mrz(n: int, faces: list[np.ndarray], seed: int = SEED,
              models: Sequence[Model | None] = (None,)) -> list[tuple[int, int, int]]:  # fmt: skip
    """Documents fully right (right, REFER, WRONG) with the shipped line model (None) and each other line model
    of ``models``, every page rendered once and read with each (the same pages, compared page by page)."""
    tallies = [_Tally() for _ in models]
    for doc in evaluation_set(n, faces, seed):
        for tally, model in zip(tallies, models, strict=True):
            tally.add(doc, model)
    for tally, model in zip(tallies, models, strict=True):
        tally.report(n, seed, model)
    for tally, model in zip(tallies[1:], models[1:], strict=True):
        differ = [f"{i}: {tallies[0].outcome[i]} -> {tally.outcome[i]}" for i in range(n)
                  if tally.outcome[i] != tallies[0].outcome[i]]  # fmt: skip
        print(f"\npages {Path(model.path).name if model else MODEL} reads otherwise than {MODEL} (seed {seed}): "
              f"{', '.join(differ) or 'none'}")
    return [t.counts for t in tallies]


def outcome(reading: Reading, lines: tuple[str, ...]) -> str:
    """A page's reading judged against its ``lines``: right (trusted, the truth), REFER or WRONG (trusted, not)."""
    return "REFER" if not reading.trusted else "right" if reading.lines == lines else "WRONG"


class _Tally:
    """One line model's readings of a seed's pages: outcomes, characters, times and why pages were missed."""

    def __init__(self) -> None:
        self.causes: dict[str, list[int]] = collections.defaultdict(list)
        self.chars = self.chars_right = 0
        self.times: list[float] = []
        self.parts = {"locate": 0.0, "recognise": 0.0, "decode": 0.0}
        self.outcome: list[str] = []  # per page, in the seed's order: right, REFER or WRONG

    @property
    def counts(self) -> tuple[int, int, int]:
        """Pages right, REFER and WRONG."""
        return self.outcome.count("right"), self.outcome.count("REFER"), self.outcome.count("WRONG")

    def add(self, doc: Any, model: Model | None) -> None:
        t0 = time.perf_counter()
        reading = read_image_mrz(doc.image, today=TODAY, model=model)
        self.times.append((time.perf_counter() - t0) * 1000)
        for k, v in reading.timings_ms.items():
            self.parts[k] += v
        truth = "".join(doc.lines)
        got = "".join(reading.lines)
        self.chars += len(truth)
        if len(got) == len(truth):
            self.chars_right += sum(a == b for a, b in zip(got, truth, strict=True))
        kind = outcome(reading, doc.lines)
        if kind != "right":
            self.causes[miss_cause(reading, doc.lines)].append(len(self.outcome))  # the page's index from the seed
        self.outcome.append(kind)

    def report(self, n: int, seed: int, model: Model | None) -> None:
        name = Path((model or shared_model(MODEL)).path)
        right, refer, wrong = self.counts
        print(f"\n## MRZ from page photographs ({n} documents, {', '.join(FORMATS)}; seed {seed}; line model "
              f"{name.name}, sha256 {hashlib.sha256(name.read_bytes()).hexdigest()[:12]})\n")
        print("| documents fully right | REFER | WRONG (trusted, not the truth) | characters right | ms per image p50 / p99 |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| {right}/{n} ({100 * right / n:.1f} %) | {refer} | {wrong} | "
              f"{100 * self.chars_right / self.chars:.2f} % | {pct(self.times, 0.5):.0f} / {pct(self.times, 0.99):.0f} |")
        print("\nmean ms per image: " + ", ".join(f"{k} {v / n:.1f}" for k, v in self.parts.items()))
        if self.causes:
            print("\n| documents not fully right, by cause | count | documents (index from the seed) |\n| --- | --- | --- |")
            for cause, docs in sorted(self.causes.items(), key=lambda c: -len(c[1])):
                print(f"| {cause} | {len(docs)} | {', '.join(map(str, docs))} |")


def bench_locate(n: int, faces: list[np.ndarray], seeds: list[int]) -> None:
    """The locator alone on ``n`` evaluation pages per seed: CPU ms per page, and a fingerprint of every band it
    hands on (angle, line boxes, crops' maps and pixels), so a change meant to be faster only can be shown to
    give the same bands (run the bench of both commits, compare the fingerprints)."""
    digest = hashlib.sha256()
    cpu: list[float] = []
    for seed in seeds:
        for doc in evaluation_set(n, faces, seed):
            g = grey(doc.image)
            c0 = time.process_time()
            bands = candidates(g)
            cpu.append((time.process_time() - c0) * 1000)
            for band in bands:
                digest.update(repr((band.angle, band.boxes, band.edges, band.cuts)).encode())
                for line in band.lines:
                    digest.update(line.tobytes())
    print(f"\n## Locator alone ({n} pages each of seeds {', '.join(map(str, seeds))})\n")
    print(f"CPU ms per page p50 {pct(cpu, 0.5):.1f}, p99 {pct(cpu, 0.99):.1f}; bands' fingerprint {digest.hexdigest()[:16]}")


def tesseract_line(crop: np.ndarray, tmp: Path) -> str:
    path = tmp / "line.png"
    Image.fromarray(crop).save(path)
    out = subprocess.run(
        ["tesseract", str(path), "stdout", "--psm", "7", "-c", f"tessedit_char_whitelist={WHITELIST}"],
        capture_output=True, text=True, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    return "".join(out.stdout.split())


def bench_peer(n: int, faces: list[np.ndarray]) -> None:
    """Tesseract and the line model on the same located, upright band lines."""
    if shutil.which("tesseract") is None:
        print("\n(tesseract not installed: ./tools/dev vision-bench installs Debian's tesseract-ocr)")
        return
    model = shared_model(MODEL)
    lines = tess_right = ours_right = 0
    tess_ms: list[float] = []
    ours_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for doc in evaluation_set(n, faces):
            band = locate(grey(doc.image))
            if band is None or len(band.lines) != len(doc.lines):
                continue
            upside_down = doc.angle > 90  # given upright to both readers
            crops = [c[::-1, ::-1] for c in band.lines[::-1]] if upside_down else band.lines
            t0 = time.perf_counter()
            probs = line_probs(crops, model)
            ours_ms.append((time.perf_counter() - t0) * 1000 / len(crops))
            for i, (crop, truth) in enumerate(zip(crops, doc.lines, strict=True)):
                lines += 1
                if probs is not None:
                    ours_right += "".join("<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[k] for k in probs[i].argmax(1)) == truth
                t1 = time.perf_counter()
                text = tesseract_line(crop, Path(tmp))
                tess_ms.append((time.perf_counter() - t1) * 1000)
                tess_right += text == truth
    print(f"\n## The same located band: line model vs Tesseract ({lines} lines)\n")
    print("| reader | lines exactly right (before check digits) | ms per line p50 |")
    print("| --- | --- | --- |")
    print(f"| line model (models/mrz_line.tflite, incl. exact-width decoding) | {ours_right}/{lines} | "
          f"{statistics.median(ours_ms):.1f} |")
    print(f"| Tesseract 5 --psm 7, MRZ whitelist | {tess_right}/{lines} | {statistics.median(tess_ms):.1f} |")
    print(f"\nspeed-up: {statistics.median(tess_ms) / statistics.median(ours_ms):.0f}x; line model inference p50 "
          f"{model.stats()['p50_ms']} ms")


def bench_faces(n: int, faces: list[np.ndarray], full_range: Path | None) -> None:
    shipped_model = shared_model(face.MODEL)
    models = [("short range (shipped), the frame alone (`face detect`)", shipped_model, face.ANCHORS, False),
              ("short range, the located MRZ's portrait zones first (camera gate)", shipped_model, face.ANCHORS, True)]
    if full_range is not None:
        models.append(("full range", Model.load(full_range), face.anchors(192, (4,))[::2], False))
    print(f"\n## Faces on {n} pages with a pasted photo, {n // 4} without; every third page upside down\n")
    print("| model | top face in the photo | of which upside down | false faces | faces on pages without photo "
          "| inferences per page | ms per frame p50 / p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    shipped = face.ANCHORS
    for name, model, anchors, by_mrz in models:
        face.ANCHORS = anchors
        hits = false = blank = turned = turned_hits = 0
        ms: list[float] = []
        runs = model.stats()["runs"]
        for i in range(n + n // 4):
            rng = random.Random(SEED + 50_000 + i)
            with_face, upside_down = i < n, i % 3 == 2
            angle = rng.uniform(-10, 10) + (180.0 if upside_down else 0.0)
            doc = document_sample(rng, angle=angle, face=faces[i % len(faces)] if with_face else None)
            bands = candidates(grey(doc.image)) if by_mrz else []  # located for the MRZ read: not timed here
            zones = face.portrait_zones(bands[0].corners(), bands[0].foot_up) if bands else []
            t0 = time.perf_counter()
            found = face.detect(doc.image, model, portrait=zones)
            ms.append((time.perf_counter() - t0) * 1000)
            if not with_face:
                blank += len(found)
                continue
            fb = doc.face_box
            assert fb is not None
            good = [f for f in found if fb[0] <= (f.box[0] + f.box[2]) / 2 <= fb[2]
                    and fb[1] <= (f.box[1] + f.box[3]) / 2 <= fb[3] and f.box[2] - f.box[0] <= fb[2] - fb[0]]  # fmt: skip
            hits += bool(found) and found[0] in good
            turned += upside_down
            turned_hits += upside_down and bool(found) and found[0] in good
            false += len(found) - len(good)
        per_page = (model.stats()["runs"] - runs) / (n + n // 4)
        print(f"| {name} | {hits}/{n} | {turned_hits}/{turned} | {false} | {blank} | {per_page:.2f} "
              f"| {pct(ms, 0.5):.1f} / {pct(ms, 0.99):.1f} |")
    face.ANCHORS = shipped
    booth = np.zeros((480, 640, 3), np.uint8)
    booth[40:440, 160:480] = resize(faces[0], 320, 400)
    ms, cpu = [], []
    for _ in range(200):
        t0, c0 = time.perf_counter(), time.process_time()
        face.detect(booth)
        ms.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    print(f"\nbooth frame 640x480, face found whole-frame (200 frames): {pct(ms, 0.5):.1f} ms p50, {pct(ms, 0.99):.1f} ms "
          f"p99; CPU time {pct(cpu, 0.5):.1f} ms p50, {pct(cpu, 0.99):.1f} ms p99")


def bench_gate(n: int, faces: list[np.ndarray]) -> None:
    """Camera frame -> read (the face searched meanwhile on the same frame) -> screened -> event with the face
    durably committed, as a camera gate does it, step by step; then frames of the decided document still lying
    there; and what grabbing the frame from a V4L2 camera adds (decoding it, MJPEG or YUYV, at the page's size)."""
    import hal
    from agent.app import settle_for_travellers
    from agent.config import ScreeningConfig
    from agent.hitlist.memory import MemoryHitList
    from agent.outbox import Outbox
    from agent.screening import Screener
    from agent.vision.camera_reader import CameraReader
    from hal.camera.v4l2 import decode_mjpeg, decode_yuyv

    steps: dict[str, list[float]] = {name: [] for name in (
        "grab: MJPEG frame decoded (Pillow)", "grab: YUYV frame decoded (numpy)", "locate (grey, bands; then the face search starts)",
        "recognise", "decode (check digits)", "decide (parse, lists)", "wait for the face search",
        "event committed (outbox, fsync)", "frame -> decision -> durable event, total",
        "a frame of the decided document still lying there",
        "face search alone, after the read (the serial path before: added to the total)",
        "a further frame of a document not decided on its first frame (band tracked, not located again)")}  # fmt: skip
    names = list(steps)
    cpu: list[float] = []  # CPU time of every thread of this process per frame (locate, recognise, face, commit)
    face_cpu: list[float] = []  # of which the face search's threads
    path_cpu: list[float] = []  # and the other threads: the decision's path
    decided = faces_found = tracked = 0
    rng = np.random.default_rng(SEED)
    CameraReader(None).prepare()  # as a camera gate starts (agent/app.py camera_reader)
    settle_for_travellers()  # and as `sharaka-gate run` then settles the process (start-up objects frozen)
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite3")
        indicators = hal.open_indicators("sim://pca9685", background=False)
        screener = Screener(gate_id="bench", site="s", reader_id="cam", rules=ScreeningConfig(duplicate_window_s=0.0),
                            hitlist=MemoryHitList([], version=1), outbox=outbox, indicators=indicators)  # fmt: skip
        for doc in evaluation_set(n, faces):
            image = doc.image[:, : doc.image.shape[1] // 2 * 2]
            steps[names[0]].append(_ms(decode_mjpeg, _jpeg(image), "bench"))
            steps[names[1]].append(_ms(decode_yuyv, _yuyv(image), image.shape[1], image.shape[0], 0, "bench"))
            reader = CameraReader(None, max_frames=1, today=lambda: TODAY)
            threads = _thread_cpu()
            t0, c0 = time.perf_counter(), time.process_time()
            item = reader.look(doc.image)
            if item is not None:
                screener.handle(item)
                decided += 1
                faces_found += bool(screener.last and screener.last.face and screener.last.face.get("present"))
                t = screener.times
                for name, (a, b) in zip(names[5:8], ((t.start, t.decided), (t.decided, t.evidence),
                                                     (t.evidence, t.committed)), strict=True):  # fmt: skip
                    steps[name].append((b - a) / 1e6)
            steps[names[8]].append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            split = _face_and_rest_ms(threads)
            face_cpu.append(split[0])
            path_cpu.append(split[1])
            for name, key in zip(names[2:5], ("locate", "recognise", "decode"), strict=True):
                if key in reader.timings_ms:
                    steps[name].append(reader.timings_ms[key])
            for _ in range(3):  # the document still lying there
                steps[names[9]].append(_ms(reader.look, doc.image))
            reader.close()
            steps[names[10]].append(_ms(lambda img: face.evidence(img, attach=True), doc.image))
            voter = CameraReader(None, max_frames=4, today=lambda: TODAY)  # one that reads further frames
            if voter.look(doc.image) is None:  # not decided on the first frame: a second, with sensor noise
                noisy = np.clip(doc.image + rng.normal(0, 2, doc.image.shape), 0, 255).astype(np.uint8)
                steps[names[11]].append(_ms(voter.look, noisy))
                tracked += voter.frames_tracked
            voter.close()
        indicators.close()
        outbox.close()
    print(f"\n## Camera gate: frame -> read -> decision -> durable event ({n} frames, {decided} decided, "
          f"{faces_found} with a face)\n")
    print("| step | frames | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for name, ms in steps.items():
        print(f"| {name} | {len(ms)} | {pct(ms, 0.5):.1f} | {pct(ms, 0.99):.1f} |")
    print(f"\nfurther frames read with the band tracked: {tracked} of {len(steps[names[11]])}")
    print(f"\nCPU time per frame, every thread of the process (read, face search, decision, commit): "
          f"{pct(cpu, 0.5):.1f} ms p50, {pct(cpu, 0.99):.1f} ms p99 (on a loaded machine the wall-clock figures "
          f"above include waiting for a core; this does not)")
    print(f"of which the face search (its own threads, beside the rest): {pct(face_cpu, 0.5):.1f} ms p50, "
          f"{pct(face_cpu, 0.99):.1f} ms p99; every other thread (locate, recognise, decode, decide, commit): "
          f"{pct(path_cpu, 0.5):.1f} ms p50, {pct(path_cpu, 0.99):.1f} ms p99")


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every live thread of this process so far, by thread id, with its name."""
    import threading

    out = {}
    for t in threading.enumerate():
        if t.ident is not None:
            try:
                out[t.ident] = (t.name, time.clock_gettime(time.pthread_getcpuclockid(t.ident)))
            except (OSError, ValueError):  # ended meanwhile
                continue
    return out


def _face_and_rest_ms(before: dict[int, tuple[str, float]]) -> tuple[float, float]:
    """CPU ms since ``before`` of the face search's threads (the reader's face thread and the face model's
    worker) and of all the others (reading, recognising, deciding, committing: the decision's path)."""
    face_ms = rest_ms = 0.0
    for ident, (name, cpu) in _thread_cpu().items():
        used = (cpu - before.get(ident, (name, 0.0))[1]) * 1000
        if name.startswith(("face", "vision-face")):
            face_ms += used
        else:
            rest_ms += used
    return face_ms, rest_ms


def _ms(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _yuyv(rgb: np.ndarray) -> bytes:
    """BT.601 limited-range YUYV, as a UVC camera sends (chroma of the left pixel of each pair)."""
    f = rgb.astype(np.float32)
    y = 16 + 0.257 * f[..., 0] + 0.504 * f[..., 1] + 0.098 * f[..., 2]
    u = 128 - 0.148 * f[..., 0] - 0.291 * f[..., 1] + 0.439 * f[..., 2]
    v = 128 + 0.439 * f[..., 0] - 0.368 * f[..., 1] - 0.071 * f[..., 2]
    quads = np.stack([y[:, 0::2], u[:, 0::2], y[:, 1::2], v[:, 0::2]], -1)
    return np.clip(quads + 0.5, 0, 255).astype(np.uint8).tobytes()


RUNTIME_SCRIPT = """
import sys, numpy as np
from agent.vision.runtime import Model, MODELS_DIR
for name in sys.argv[1:]:
    m = Model.load(MODELS_DIR / name)
    x = np.random.default_rng(0).uniform(0, 1, m.input_shape).astype(np.float32)
    for _ in range(210):
        m.run(x)
    s = m.stats()
    print(f"| {name} | {s['runtime']} (numpy {np.__version__}) | {s['load_ms']:.1f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} |")
"""


def bench_runtimes() -> None:
    """Each shipped model in ai-edge-litert (this environment), tflite-runtime 2.14 (.venv-tflite) and the image's
    pins, ai-edge-litert 1.4.0 (.venv-litert-image), both made by tests/vision/test_runtimes.py; 210 runs each."""
    root = Path(__file__).resolve().parents[1]
    names = sorted(p.name for p in (root / "models").glob("*.tflite"))
    print("\n## Runtimes\n\n| model | runtime | load ms | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |")
    import sys

    for python in (sys.executable, *(str(root / env / "bin" / "python") for env in (".venv-tflite", ".venv-litert-image"))):
        if not Path(python).exists():
            print(f"| (no {python}: run tests/vision/test_runtimes.py once) | | | | |")
            continue
        out = subprocess.run([python, "-c", RUNTIME_SCRIPT, *names], capture_output=True, text=True, cwd=root,
                             env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)  # fmt: skip
        print(out.stdout.strip() or f"| failed: {out.stderr.strip()[-200:]} | | | | |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=SEED, help=f"first seed of the MRZ evaluation pages (default {SEED})")
    ap.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=None,
                    help="several first seeds (comma-separated): a table each, then their total; seeds never "
                         "looked at before measure the reader, not ones whose misses it was changed for")
    ap.add_argument("--locate", type=int, default=0, help="pages per seed (--seed, 4242000, 900000) timed through the locator alone")
    ap.add_argument("--tesseract", type=int, default=30, help="documents whose band Tesseract also reads")
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--gate", type=int, default=30)
    ap.add_argument("--runtimes", type=int, default=1, help="1: compare ai-edge-litert and tflite-runtime 2.14")
    ap.add_argument("--compare", type=Path, action="append", default=[],
                    help="another first line model (.tflite) reading every MRZ page too, in the same run, the "
                         "pages it reads otherwise listed (repeatable)")
    ap.add_argument("--no-second-look", action="store_true",
                    help="read the MRZ pages again without mrz_read.second_look, in the same run, to compare")
    ap.add_argument("--full-range", type=Path, default=None,
                    help="face_detection_full_range_sparse.tflite from the mediapipe wheel, to compare")  # fmt: skip
    args = ap.parse_args(argv)
    faces = [read_image(DATA / "astronaut.jpg"), read_image(DATA / "cameraman.jpg")]
    stats = shared_model(MODEL).stats()
    with contextlib.suppress(OSError):
        print(machine(Path("/proc/cpuinfo").read_text()))
    print(f"runtime {stats['runtime']}; models: "
          + ", ".join(f"{p.name} {p.stat().st_size // 1024} KB" for p in sorted(Path(shared_model(MODEL).path).parent.glob("*.tflite"))))
    if args.docs:
        seeds = args.seeds or [args.seed]
        args.seed = seeds[0]  # --no-second-look reads the first seed's pages
        models = [None, *(Model.load(other) for other in args.compare)]
        totals = [bench_mrz(args.docs, faces, seed, models) for seed in seeds]
        if len(seeds) > 1:
            n = args.docs * len(seeds)
            for k, model in enumerate(models):
                right, refer, wrong = (sum(t[k][j] for t in totals) for j in range(3))
                name = Path(model.path).name if model else MODEL
                print(f"\n## MRZ, {len(seeds)} seeds together ({', '.join(map(str, seeds))}), line model {name}\n")
                print("| documents fully right | per seed | REFER | WRONG |\n| --- | --- | --- | --- |")
                print(f"| {right}/{n} ({100 * right / n:.1f} %) | {', '.join(str(t[k][0]) for t in totals)} | {refer} | "
                      f"{wrong} |")
        if args.no_second_look:
            looks, mrz_read.LOOK_WIDTHS = mrz_read.LOOK_WIDTHS, {}
            print("\n(the same pages without the second look: mrz_read.second_look disabled)")
            bench_mrz(args.docs, faces, args.seed)
            mrz_read.LOOK_WIDTHS = looks
    if args.locate:
        bench_locate(args.locate, faces, list(dict.fromkeys([args.seed, 4_242_000, 900_000])))
    if args.tesseract:
        bench_peer(args.tesseract, faces)
    if args.faces:
        bench_faces(args.faces, faces, args.full_range)
    if args.gate:
        bench_gate(args.gate, faces)
    if args.runtimes:
        bench_runtimes()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
