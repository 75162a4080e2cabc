"""What `pip install .` puts on a gate: `agent` and `hal` only, never the central node, the signer or the PKI
tools (those are the host tools' distribution, tools/pyproject.toml)."""

from __future__ import annotations

import fnmatch
import hashlib
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]
HOST_ONLY = ("tools", "tests", "bench")


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_gate_distribution_config_packs_agent_and_hal_only():
    cfg = _project(ROOT / "pyproject.toml")
    packages = setuptools.find_packages(str(ROOT), include=cfg["tool"]["setuptools"]["packages"]["find"]["include"])
    top = {p.split(".")[0] for p in packages}
    assert top == {"agent", "hal"}, f"the gate's wheel would ship {sorted(top)}"
    scripts = cfg["project"]["scripts"]
    assert all(target.split(".")[0] == "agent" for target in scripts.values()), scripts


def test_host_tools_distribution_provides_the_central_console_scripts_and_every_tools_package():
    cfg = _project(ROOT / "tools" / "pyproject.toml")
    assert set(cfg["project"]["scripts"]) == {"sharaka-hitlist", "sharaka-central", "sharaka-update"}
    assert any(dep.startswith("sharaka-gate") for dep in cfg["project"]["dependencies"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tools").rglob("__init__.py")}
    assert set(cfg["tool"]["setuptools"]["packages"]) == on_disk, "a tools package is missing from its distribution"


def test_every_file_in_models_is_package_data_of_agent_vision():
    """agent/vision/models is the repository's models/ (a symlink), and the wheel's package data takes every
    file in it: a model added there ships without touching pyproject.toml."""
    assert (ROOT / "agent" / "vision" / "models").resolve() == (ROOT / "models").resolve()
    patterns = _project(ROOT / "pyproject.toml")["tool"]["setuptools"]["package-data"]["agent.vision"]
    files = sorted(p.name for p in (ROOT / "models").iterdir())
    assert files and [f for f in files if not any(fnmatch.fnmatch(f"models/{f}", pat) for pat in patterns)] == []


@pytest.mark.slow
def test_a_wheel_install_loads_the_shipped_models(tmp_path):
    """Not editable: the wheel installed into a bare folder finds every model, byte for byte the repository's."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("sharaka_gate-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True, timeout=300)  # fmt: skip
    script = ("import hashlib; from agent.vision.runtime import MODELS_DIR, shared_model; "
              "print(MODELS_DIR); [print(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) "
              "for p in sorted(MODELS_DIR.iterdir())]; shared_model('mrz_line.tflite')")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         check=True, capture_output=True, text=True, timeout=120).stdout.splitlines()  # fmt: skip
    assert out[0] == str(tmp_path / "site" / "agent" / "vision" / "models")
    assert out[1:] == [f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in sorted((ROOT / "models").iterdir())]


@pytest.mark.slow
def test_built_gate_wheel_contains_no_host_tools(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("sharaka_gate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("agent/") for n in names) and any(n.startswith("hal/") for n in names)
    shipped = sorted({n.split("/")[0] for n in names if n.split("/")[0] in HOST_ONLY})
    assert not shipped, f"the gate's wheel ships {shipped}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "sharaka-gate" in text and "sharaka-central" not in text and "sharaka-hitlist" not in text
