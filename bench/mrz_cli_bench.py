"""`sharaka-gate mrz parse --json` on stdin against the `mrz` package's checkers, whole processes compared.

    .venv/bin/python bench/mrz_cli_bench.py [--docs 10000] [--rounds 5]

Both processes get the same stdin: ``--docs`` valid made-up documents of every ICAO layout (fixed
seed; the `mrz` package has no French 1995 card), rows one per line, a blank line after each
document. Ours is the real command line (``python -m agent mrz parse --json``). The peer is the
smallest honest program around the `mrz` package (PyPI, a test dependency): it reads the same blocks,
picks the checker by row count and width (``TD1``/``TD2``/``TD3``/``MRVA``/``MRVB CodeChecker``), and
prints one JSON object per document with the verdict and the fields (``fields()``). Each figure is
the best wall time of ``--rounds`` runs, the two taking turns; start-up counts, because that is what
a user of the command waits for. The ratio is peer time / our time (higher is better for us).

Figures and what they mean: docs/mrz.md, "Speed".
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.mrz.specimens import FORMATS, random_fields, render  # noqa: E402

PEER = r"""
import json, sys
from mrz.checker.mrva import MRVACodeChecker
from mrz.checker.mrvb import MRVBCodeChecker
from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td2 import TD2CodeChecker
from mrz.checker.td3 import TD3CodeChecker

def checker(rows):
    visa = rows[0][0] == "V"
    width = len(rows[0])
    cls = {30: TD1CodeChecker, 36: MRVBCodeChecker if visa else TD2CodeChecker,
           44: MRVACodeChecker if visa else TD3CodeChecker}[width]
    return cls("\n".join(rows))

rows = []
for line in list(sys.stdin) + [""]:
    line = line.strip()
    if line:
        rows.append(line)
    elif rows:
        c = checker(rows)
        print(json.dumps({"valid": bool(c), **c.fields()._asdict()}))
        rows = []
"""


def stdin_text(docs: int) -> str:
    """``docs`` valid documents, the ICAO layouts in turn, as `mrz parse` reads them from stdin."""
    rng = random.Random(9303)
    formats = [fmt for fmt in FORMATS if fmt != "FRA_1995"]
    return "".join("\n".join(render(random_fields(rng, formats[i % len(formats)]))) + "\n\n" for i in range(docs))


def wall_time(cmd: list[str], stdin_path: str, expect_lines: int) -> float:
    """Seconds one whole process takes from start to exit, its stdout going to a pipe."""
    with open(stdin_path, "rb") as stdin:
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdin=stdin, capture_output=True, check=False, cwd=ROOT)
        seconds = time.perf_counter() - start
    lines = proc.stdout.count(b"\n")
    if proc.returncode != 0 or lines != expect_lines:
        raise SystemExit(f"{cmd[:4]} exit {proc.returncode}, {lines} lines: {proc.stderr.decode()[-500:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=10_000, help="documents on stdin (default 10000)")
    ap.add_argument("--rounds", type=int, default=5, help="runs of each process; the best counts (default 5)")
    args = ap.parse_args(argv)
    ours = [sys.executable, "-m", "agent", "mrz", "parse", "--json", "--today", "2026-11-23"]
    peer = [sys.executable, "-c", PEER]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(stdin_text(args.docs))
    try:
        best = {"ours": float("inf"), "mrz": float("inf")}
        for _ in range(args.rounds):
            best["ours"] = min(best["ours"], wall_time(ours, handle.name, args.docs))
            best["mrz"] = min(best["mrz"], wall_time(peer, handle.name, args.docs))
    finally:
        os.unlink(handle.name)
    print(f"python {sys.version.split()[0]}; {args.docs} documents on stdin; best of {args.rounds} whole processes")
    for name, seconds in best.items():
        print(f"{name:<5} {seconds * 1000:8.0f} ms  {args.docs / seconds:10,.0f} doc/s")
    print(f"ratio (mrz time / our time): {best['mrz'] / best['ours']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
