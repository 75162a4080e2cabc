"""`sharaka-gate face detect IMAGE... [--json]`: find faces in images (ARCHITECTURE.md, "Command line").

One result per image, best first: ``{"image": PATH, "faces": [{"box": [x0, y0, x1, y1], "score": s, ...}]}``
with boxes in pixels of the original image (plus landmarks and the crop quality figure). Exit 0 when every
image was read (with or without faces), 2 when an image cannot be read or no tflite runtime is installed.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``face detect`` to the ``sharaka-gate`` command line."""
    parser = subparsers.add_parser("face", help="face detection on images")
    sub = parser.add_subparsers(dest="face_command", required=True, metavar="ACTION")
    detect = sub.add_parser(
        "detect", help="find faces in JPEG/PNG images",
        description="Find faces with the on-device BlazeFace model; boxes in pixels of the image, best first.",
    )  # fmt: skip
    detect.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG, PPM/PGM or .npy image files")
    detect.add_argument("--json", action="store_true", help="one JSON object per image")
    detect.set_defaults(func=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    """Detect faces in every image; print one result each; 2 when an image could not be read."""
    from agent.errors import report
    from agent.vision import face
    from agent.vision.image import BadFrameError, read_image
    from agent.vision.runtime import VisionUnavailableError

    worst = EXIT_OK
    for path in args.images:
        try:
            faces = face.detect(read_image(path))
        except (BadFrameError, VisionUnavailableError) as exc:  # one bad image: say so, go on with the rest
            report("sharaka-gate", "face detect", exc)
            if args.json:
                print(json.dumps({"image": path, "error": str(exc)}))
            worst = EXIT_BAD_INPUT
            continue
        if args.json:
            print(json.dumps({"image": path, "faces": [f.as_json() for f in faces]}))
        else:
            print(f"{path}: {len(faces)} face(s)")
            for f in faces:
                x0, y0, x1, y1 = (round(v) for v in f.box)
                print(f"  box {x0},{y0}-{x1},{y1} score {f.score:.2f} quality {f.quality['overall']:.2f}")
    sys.stdout.flush()
    return worst
