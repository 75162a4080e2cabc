"""Re-extract the vendored BlazeFace model from the ``mediapipe==0.10.21`` wheel and check its sha256.

The wheel is only downloaded (``pip download --no-deps``), never installed:

    pip download --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 -d /tmp/mp mediapipe==0.10.21
    python -m tools.vision.extract_face_model /tmp/mp/mediapipe-0.10.21-*.whl [--out models]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
LICENCE = "mediapipe-0.10.21.dist-info/LICENSE"
SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"


def extract(wheel: Path, out: Path) -> Path:
    """Write the model and the wheel's licence into ``out``; ValueError when the model's hash differs."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(MEMBER)
        licence = zf.read(LICENCE)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{MEMBER} in {wheel} has sha256 {digest}; expected {SHA256}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / Path(MEMBER).name
    target.write_bytes(data)
    (out / "LICENSE.mediapipe").write_bytes(licence)
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=Path, help="the downloaded mediapipe-0.10.21 wheel")
    ap.add_argument("--out", type=Path, default=Path("models"))
    args = ap.parse_args(argv)
    try:
        print(extract(args.wheel, args.out))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as exc:
        print(f"extract_face_model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
