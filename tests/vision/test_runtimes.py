"""Every shipped model: its card (sha256), every runtime a gate may use (ai-edge-litert here; tflite-runtime 2.14
and the image's pinned ai-edge-litert each in its own environment, made on first use), load time and latency in
the stats; the image's wheel lock pins the vision extra as the image's Python resolves it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest

from agent.vision.image import read_image, resize
from agent.vision.lines import line_input, widened
from agent.vision.runtime import MODELS_DIR, Model, VisionUnavailableError, shared_model
from tools.vision.synth import line_sample

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "images" / "wheels-arm64.lock"
IMAGE_MARKERS = {"python_version": "3.11", "python_full_version": "3.11.2", "platform_machine": "aarch64",
                 "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "extra": "vision"}  # fmt: skip
SHIPPED = sorted(p.name for p in MODELS_DIR.glob("*.tflite"))


def test_the_face_and_mrz_models_ship():
    assert SHIPPED == ["face_detection_short_range.tflite", "mrz_line.tflite", "mrz_line_second.tflite",
                       "mrz_line_third.tflite"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_model_has_a_card_naming_its_sha256_licence_and_tensors(name):
    card = (MODELS_DIR / name).with_suffix(".md").read_text()
    digest = hashlib.sha256((MODELS_DIR / name).read_bytes()).hexdigest()
    assert re.search(rf"^sha256: `{digest}`$", card, re.M), f"{name}: card sha256 is not the file's"
    for heading in ("Source", "Licence", "Training data", "Input", "Output", "Accuracy", "Latency"):
        assert f"## {heading}" in card, f"{name}: card has no {heading} section"


def _inputs(model: Model) -> np.ndarray:
    """A real input: a face photo for the face model, a rendered damaged MRZ line for the line model."""
    if model.path.name.startswith("face"):
        photo = resize(read_image(ROOT / "tests/data/vision/astronaut.jpg"), 128, 128)
        return (photo.astype(np.float32) / 127.5 - 1.0)[None]
    crop, _ = line_sample(random.Random(7))
    return line_input(crop).reshape(model.input_shape)


def _lock_pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    specs = (line.split(" ", 1)[0] for line in LOCK.read_text().splitlines() if line and not line.startswith("#"))
    return {canonicalize_name(name): version for name, _, version in (s.partition("==") for s in specs)}


# name -> (its environment, what it installs, the runtime_name() it reports, the numpy major it runs with)
RUNTIME_ENVS = {
    "tflite-runtime 2.14": (".venv-tflite", lambda: ["tflite-runtime==2.14.0", "numpy<2"], "tflite-runtime", "1."),
    "the image's pins": (".venv-litert-image", lambda: [f"{n}=={_lock_pins()[n]}" for n in ("ai-edge-litert", "numpy")],
                         "ai-edge-litert", "2."),
}


def _runtime_env(which: str) -> Path:
    """A small environment with one runtime (Python 3.11), made once."""
    folder, packages, _, _ = RUNTIME_ENVS[which]
    env = ROOT / folder
    python = env / "bin" / "python"
    with open(ROOT / f"{folder}.lock", "w") as lock:  # test workers in parallel: one makes it
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = env / ".installed"
        if not stamp.exists() or stamp.read_text() != " ".join(packages()):
            # no pip of its own (ensurepip took most of the time): this interpreter's pip installs into it
            subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(env)], check=True)
            subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", *packages()],
                           check=True, timeout=600)
            stamp.write_text(" ".join(packages()))
    return python


SCRIPT = """
import json, sys, numpy as np
from pathlib import Path
from agent.vision.lines import widened
from agent.vision.runtime import Model, runtime_name
x = np.load(sys.argv[2])
model = (Model.load(sys.argv[1], content=widened(Path(sys.argv[1]).read_bytes(), x.shape[-1]), input_shape=x.shape)
         if sys.argv[1].endswith("mrz_line.tflite") and x.shape[-1] != 448 else Model.load(sys.argv[1]))
out = model.run(x)
np.savez(sys.argv[3], *out)
print(json.dumps({"runtime": runtime_name(), "numpy": np.__version__, **model.stats()}))
"""


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="tflite-runtime 2.14 has wheels up to Python 3.11 only")
@pytest.mark.parametrize("runtime", list(RUNTIME_ENVS))
@pytest.mark.parametrize("name", SHIPPED)
def test_every_model_gives_the_same_outputs_in_every_runtime(name, runtime, tmp_path: Path):
    """tflite-runtime 2.14 (the 32-bit OS), and the ai-edge-litert and numpy the image pins (the same release's
    x86-64 wheel here: the lock's aarch64 wheel cannot run on this machine)."""
    model = Model.load(MODELS_DIR / name)
    x = _inputs(model)
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run(
        [str(_runtime_env(runtime)), "-c", SCRIPT, str(MODELS_DIR / name), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npz")], capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[-1])
    _, _, runtime_name, numpy_major = RUNTIME_ENVS[runtime]
    assert info["runtime"] == runtime_name and info["numpy"].startswith(numpy_major)
    theirs = np.load(tmp_path / "y.npz")
    ours = model.run(x)
    if name.startswith("mrz_line"):  # int8: the runtimes' kernels round differently; compare probabilities
        p_theirs, p_ours = np.exp(theirs["arr_0"][0]), np.exp(ours[0][0])
        # int8 models, tflite-runtime 2.14 against ai-edge-litert: 1-2 of 4256 probabilities 0.03-0.07 apart (in
        # columns between blank and a character), the rest within 0.03; the image's runtime within 0.03
        apart = np.abs(p_theirs - p_ours)
        assert (apart <= 0.03).mean() >= 0.998 and apart.max() < 0.15
        assert (p_theirs.argmax(1) == p_ours.argmax(1)).mean() >= 0.98
    else:
        for i, out in enumerate(ours):
            np.testing.assert_allclose(theirs[f"arr_{i}"], out, rtol=1e-3, atol=2e-3)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="tflite-runtime 2.14 has wheels up to Python 3.11 only")
@pytest.mark.parametrize("runtime", list(RUNTIME_ENVS))
def test_the_line_model_read_wider_gives_the_same_outputs_in_every_runtime(runtime, tmp_path: Path):
    """The reader runs the line model at 656 pixels too (agent/vision/lines.py: widened, mrz_read.reread_wider):
    every runtime a gate may use loads it so and gives the same probabilities, 99.9 % of them within 0.05 and
    all within 0.25, and the same best class in 98 % of columns."""
    path = MODELS_DIR / "mrz_line.tflite"
    model = Model.load(path, content=widened(path.read_bytes(), 656), input_shape=(1, 1, 32, 656))
    crop, _ = line_sample(random.Random(7))
    x = line_input(resize(crop, 656, 32)).reshape(model.input_shape)
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([str(_runtime_env(runtime)), "-c", SCRIPT, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npz")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    p_theirs, p_ours = np.exp(np.load(tmp_path / "y.npz")["arr_0"][0]), np.exp(model.run(x)[0][0])
    assert p_ours.shape == (164, 38)
    # tflite-runtime 2.14 against ai-edge-litert: the model shipped 2026-12-04, 4 of 6232 probabilities 0.05-0.16
    # apart (blank against a character in 3 columns), the rest within 0.05; the model of 2026-12-03 (now the
    # second model), 1 of 6232 0.043 apart
    # the int8 first line model of 2026-12-06: 10 of 6232 0.03-0.08 apart, 3 over 0.05
    apart = np.abs(p_theirs - p_ours)
    assert (apart <= 0.05).mean() >= 0.999 and apart.max() < 0.25
    assert (p_theirs.argmax(1) == p_ours.argmax(1)).mean() >= 0.98


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.startswith("mrz_line")])
def test_a_line_model_in_int8_takes_the_float_line_quantised_by_its_input_s_scale_and_zero_point(name):
    """The line models are int8 in all, activations too (tools/vision/train_mrz.py: export): their input is the
    stretched line's 0..1 as int8, one step a grey level (scale 1/255, zero point -128). ``Model.run`` quantises
    a float line by them; an int8 one goes in as it is."""
    model = Model.load(MODELS_DIR / name)
    assert model.input_dtype == np.int8 and model.input_quantisation is not None
    scale, zero = model.input_quantisation
    assert scale == pytest.approx(1 / 255, rel=0.01) and zero == -128
    crop, _ = line_sample(random.Random(7))
    x = line_input(crop).reshape(model.input_shape)
    by_hand = np.clip(np.rint(x / np.float32(scale)) + zero, -128, 127).astype(np.int8)
    assert by_hand.min() == -128 and by_hand.max() == 127
    np.testing.assert_array_equal(model.run(x)[0], model.run(by_hand)[0])
    dark = model.run(np.zeros_like(x))[0]  # an all-dark line is another input: the quantisation is no constant
    assert not np.array_equal(dark, model.run(x)[0])


def test_stats_report_load_time_and_latency():
    model = shared_model("face_detection_short_range.tflite")
    for _ in range(3):
        model.run(_inputs(model))
    stats = model.stats()
    assert stats["runtime"] == "ai-edge-litert" and stats["load_ms"] > 0 and stats["runs"] >= 3
    assert 0 < stats["p50_ms"] <= stats["p99_ms"]


def test_a_missing_or_corrupt_model_is_a_clear_error(tmp_path: Path):
    with pytest.raises(VisionUnavailableError, match="missing"):
        shared_model("no_such_model.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(VisionUnavailableError, match="cannot be loaded"):
        Model.load(bad)


def test_a_wrong_input_shape_is_refused():
    model = shared_model("face_detection_short_range.tflite")
    with pytest.raises(ValueError, match="takes shape"):
        model.run(np.zeros((1, 64, 64, 3), np.float32))


def test_the_image_lock_pins_the_vision_extra_as_the_image_python_resolves_it():
    """images/wheels-arm64.lock (Debian 12: CPython 3.11, aarch64) holds every requirement of the vision extra
    that applies there, at a version it allows, and what the pinned ai-edge-litert itself requires."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = _lock_pins()
    with (ROOT / "pyproject.toml").open("rb") as f:
        vision = [Requirement(r) for r in tomllib.load(f)["project"]["optional-dependencies"]["vision"]]
    applies = [r for r in vision if r.marker is None or r.marker.evaluate(IMAGE_MARKERS)]
    assert {canonicalize_name(r.name) for r in applies} == {"ai-edge-litert", "pillow"}
    for req in applies:
        assert req.specifier.contains(pins.get(canonicalize_name(req.name), "absent")), f"lock misses {req}"
    python = _runtime_env("the image's pins")
    requires = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                               "print('\\n'.join(m.requires('ai-edge-litert')))"],
                              capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    for line in requires:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({**IMAGE_MARKERS, "extra": ""}):
            assert req.specifier.contains(pins.get(canonicalize_name(req.name), "absent")), f"lock misses {req}"


def test_each_model_runs_on_its_own_thread_so_a_busy_model_does_not_hold_up_another():
    """A camera frame's face search runs beside its MRZ recognition, not queued behind it (one worker thread
    per model, agent/vision/runtime.py): the line model busy on its thread, the face model still answers."""
    lines, faces = shared_model("mrz_line.tflite"), shared_model("face_detection_short_range.tflite")
    release, answered = threading.Event(), threading.Event()
    busy = threading.Thread(target=lines.call, args=(release.wait, 60))
    busy.start()
    face = threading.Thread(target=lambda: faces.call(faces.run, _inputs(faces)) and answered.set())
    face.start()
    try:
        assert answered.wait(20)  # behind a worker shared with the busy line model it would wait for ``release``
    finally:
        release.set()
        busy.join(60)
        face.join(60)
    assert lines.call(threading.get_ident) != faces.call(threading.get_ident) != threading.get_ident()


def test_a_frame_s_lines_are_read_by_the_model_and_its_twin_each_in_its_place(monkeypatch):
    """``Model.run_each(..., spread=True)`` spreads a frame's lines over the model and its twin (a second
    interpreter of the same model on its own thread: two cores at once); every line's outputs come back in its
    place, the same as read alone, and both interpreters' runs count in the model's stats. Not spread, or in a
    process that may run on one core only (its CPU affinity), every line is read on the model alone."""
    model = Model.load(MODELS_DIR / "mrz_line.tflite")
    lines = [line_input(line_sample(random.Random(seed))[0]).reshape(model.input_shape) for seed in (1, 2, 3)]
    alone = [model.run(x)[0] for x in lines]
    threads: list[int] = []
    invoke = Model._invoke
    monkeypatch.setattr(Model, "_invoke", lambda self, x: threads.append(threading.get_ident()) or invoke(self, x))
    model.run_each(lines)
    assert len(set(threads)) == 1 and model.stats()["interpreters"] == 1
    threads.clear()
    spread = [out[0] for out in model.run_each(lines, spread=True)]
    for read_alone, read_spread in zip(alone, spread, strict=True):
        np.testing.assert_array_equal(read_alone, read_spread)
    assert len(set(threads)) == 2 and model.stats()["interpreters"] == 2 and model.stats()["runs"] == 9
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    one_core = Model.load(MODELS_DIR / "mrz_line.tflite")
    threads.clear()
    one_core.run_each(lines, spread=True)
    assert len(set(threads)) == 1 and one_core.twin() is None and one_core.stats()["interpreters"] == 1


def test_the_benchmark_names_the_machine_and_the_instructions_its_figures_rest_on():
    """The line models ran 4.5x slower on a CPU without an int8 dot product (docs/vision.md, Figures): the
    benchmark says which kind of CPU its figures come from, from /proc/cpuinfo as x86 and Arm write it."""
    from bench.vision_bench import machine

    epyc = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx fma avx2\n\nprocessor\t: 1\nmodel name\t: other\n"
    xeon = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8\n"
    pi5 = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    assert machine(epyc).startswith("machine: AMD EPYC, ")
    assert machine(epyc).endswith("int8 dot product: none; native bfloat16: none")
    assert machine(xeon).endswith("int8 dot product: AVX-512 VNNI, AMX; native bfloat16: AVX-512 BF16, AMX")
    assert machine(pi5).startswith("machine: Raspberry Pi 5 Model B Rev 1.0, ")
    assert machine(pi5).endswith("int8 dot product: Arm dot product; native bfloat16: none")
    assert machine("").startswith("machine: an unnamed CPU, ")
    cores = int(machine(epyc).split(", ")[1].split()[0])
    assert cores == len(os.sched_getaffinity(0))


def test_the_benchmark_reads_every_seed_s_pages_with_each_compared_model_and_lists_the_pages_read_otherwise(capsys):
    """``--compare`` reads every page of every seed with each other first line model (a new model is judged on
    thousands of pages: models/mrz_line.md "Accuracy"); before, only the first seed's. The shipped model compared
    with itself reads no page otherwise, and its total is the shipped one's."""
    from bench.vision_bench import main

    assert main(["--docs", "2", "--seeds", "777000,4242000", "--compare", str(MODELS_DIR / "mrz_line.tflite"),
                 "--tesseract", "0", "--faces", "0", "--gate", "0", "--runtimes", "0"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for seed in (777000, 4242000):
        assert f"mrz_line.tflite reads otherwise than mrz_line.tflite (seed {seed}): none" in out
        assert out.count(f"seed {seed}; line model mrz_line.tflite") == 2
    totals = [line for line in out.splitlines() if "seeds together" in line]
    assert len(totals) == 2
    rows = out.split(totals[0])[1].splitlines()[4], out.split(totals[1])[1].splitlines()[4]
    assert rows[0] == rows[1] and rows[0].startswith("| ") and "/4 (" in rows[0]


def test_the_small_pages_bench_reads_each_layout_of_a_seed_as_the_tests_page_makes_it(capsys):
    """``bench/vision_small_pages.py``: the pages are ``tests/vision/conftest.py: page`` with the seed's size, angle
    and damage (so a page it lists is found again in a test), five a seed, each read and counted."""
    from bench.vision_small_pages import main, small_pages
    from tests.vision.conftest import page

    pages = list(small_pages(61, 1))
    assert [name.split(", ")[1] for name, _ in pages] == ["'TD1'", "'TD2'", "'TD3'", "'MRVA'", "'MRVB'"]
    assert pages[1][1].lines == page(61, "TD2", -2.0, px_per_mm=5.0, strength=0.6).lines
    assert main(["--first", "61", "--count", "1"]) == 0
    counts = re.search(r"5 pages, right (\d+), REFER (\d+), WRONG (\d+)", capsys.readouterr().out)
    assert counts is not None and sum(int(n) for n in counts.groups()) == 5
