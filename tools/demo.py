"""Sharaka Gate demo (first stage): read the sample MRZs shipped in tools/samples/ and show what the engine
decides for each, as a border-police technician would see it.

    python -m tools.demo [--today YYYY-MM-DD] [FILE ...]

Each sample file holds the MRZ lines of one document (a few layouts, one OCR read with letter/digit
confusions that the check digits repair, one tampered document, one cut-off read that is not an MRZ).
Later stages turn this into a whole gate on simulated hardware; the sample files stay reusable.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from agent.mrz import MrzFormatError, parse_mrz
from agent.mrz.describe import describe

SAMPLES = Path(__file__).resolve().parent / "samples"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help=f"MRZ files (default: {SAMPLES}/*.mrz)")
    ap.add_argument("--today", type=datetime.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                    help="reference date for expiry (default: the system date)")  # fmt: skip
    args = ap.parse_args(argv)
    today = args.today or datetime.date.today()
    files = args.files or sorted(SAMPLES.glob("*.mrz"))
    if not files:
        print(f"no sample files in {SAMPLES}", file=sys.stderr)
        return 1
    print(f"Sharaka Gate MRZ engine demo: {len(files)} documents, today is {today.isoformat()}\n")
    tally = {"valid": 0, "repaired": 0, "invalid": 0, "not an MRZ": 0}
    for path in files:
        print(f"== {path.name}")
        text = path.read_text(encoding="utf-8")
        print("   " + "\n   ".join(text.strip().splitlines()))
        try:
            result = parse_mrz(text, today=today)
        except MrzFormatError as exc:
            print(f"NOT AN MRZ: {exc}\n  -> the officer must look at the document\n")
            tally["not an MRZ"] += 1
            continue
        print(describe(result, today), end="")
        if not result.valid:
            tally["invalid"] += 1
            action = "check digits fail: the officer must look at the document"
        elif result.is_expired(today):
            tally["repaired" if result.corrections else "valid"] += 1
            action = "authentic-looking but expired: the officer must look at the document"
        else:
            tally["repaired" if result.corrections else "valid"] += 1
            action = "MRZ consistent and in date: ready for hit-list screening"
        print(f"  -> {action}\n")
    print("Summary: " + ", ".join(f"{n} {what}" for what, n in tally.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
