"""Every shipped model: its card (sha256), both runtimes (ai-edge-litert here, tflite-runtime 2.14 in its
own environment, made on first use), load time and latency in the stats."""

from __future__ import annotations

import fcntl
import hashlib
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.vision.image import read_image, resize
from agent.vision.lines import line_input
from agent.vision.runtime import MODELS_DIR, Model, VisionUnavailableError, shared_model
from tools.vision.synth import line_sample

ROOT = Path(__file__).resolve().parents[2]
TFLITE_ENV = ROOT / ".venv-tflite"
SHIPPED = sorted(p.name for p in MODELS_DIR.glob("*.tflite"))


def test_the_face_and_mrz_models_ship():
    assert SHIPPED == ["face_detection_short_range.tflite", "mrz_line.tflite"]


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


def _tflite_env() -> Path:
    """A small environment with tflite-runtime 2.14 and numpy < 2 (Python 3.11), made once."""
    python = TFLITE_ENV / "bin" / "python"
    with open(ROOT / ".venv-tflite.lock", "w") as lock:  # test workers in parallel: one makes it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TFLITE_ENV / ".installed").exists():
            subprocess.run([sys.executable, "-m", "venv", str(TFLITE_ENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "tflite-runtime==2.14.0", "numpy<2"],
                           check=True, timeout=600)  # fmt: skip
            (TFLITE_ENV / ".installed").touch()
    return python


SCRIPT = """
import json, sys, numpy as np
from agent.vision.runtime import Model, runtime_name
model = Model.load(sys.argv[1])
out = model.run(np.load(sys.argv[2]))
np.savez(sys.argv[3], *out)
print(json.dumps({"runtime": runtime_name(), "numpy": np.__version__, **model.stats()}))
"""


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="tflite-runtime 2.14 has wheels up to Python 3.11 only")
@pytest.mark.parametrize("name", SHIPPED)
def test_every_model_gives_the_same_outputs_in_tflite_runtime_2_14(name, tmp_path: Path):
    model = Model.load(MODELS_DIR / name)
    x = _inputs(model)
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run(
        [str(_tflite_env()), "-c", SCRIPT, str(MODELS_DIR / name), str(tmp_path / "x.npy"), str(tmp_path / "y.npz")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[-1])
    assert info["runtime"] == "tflite-runtime" and info["numpy"].startswith("1.")
    theirs = np.load(tmp_path / "y.npz")
    ours = model.run(x)
    if name == "mrz_line.tflite":  # int8 weights, activations quantised on the fly: compare probabilities
        p_theirs, p_ours = np.exp(theirs["arr_0"][0]), np.exp(ours[0][0])
        np.testing.assert_allclose(p_theirs, p_ours, atol=0.03)
        assert (p_theirs.argmax(1) == p_ours.argmax(1)).mean() >= 0.98
    else:
        for i, out in enumerate(ours):
            np.testing.assert_allclose(theirs[f"arr_{i}"], out, rtol=1e-3, atol=2e-3)


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
