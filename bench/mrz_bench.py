"""MRZ parsing speed: documents per second per layout, ours against the peers, measured in the same run.

    .venv/bin/python bench/mrz_bench.py [--docs 2000] [--rounds 5]

Peers: the PyPI package ``mrz`` (a test dependency, ``mrz.checker.*CodeChecker``) and PassportEye's text
parser ``passporteye.mrz.text.MRZ``. PassportEye pulls in scikit-image and friends, so it is not a
project dependency: install it into the venv for a bench run only (``.venv/bin/pip install passporteye``);
without it its column reads "n/a". Neither peer knows the French 1995 card.

Every parser gets the same valid documents (made-up specimens, fixed seed), as the lines a reader
delivers; each figure is the best of ``--rounds`` passes over all of them, in CPU time of
the process, the parsers taking turns in each round. Ours does the complete work of
``parse_mrz``: layout detection, character-set check, every check digit, the digit-only positions,
country-code check, the result object. Our result cuts its fields from the text when they are read, while
both peers cut them while parsing, so a second figure, "+fields", is ``parse_mrz(...).to_dict()``: parsing
and reading every field. The ratios are ours / peer (higher is better for us).

Figures and what they mean: docs/mrz.md, "Speed".
"""

from __future__ import annotations

import argparse
import datetime
import functools
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.mrz import parse_mrz  # noqa: E402
from agent.mrz.specimens import FORMATS, random_fields, render  # noqa: E402

TODAY = datetime.date(2026, 11, 23)
Parser = Callable[[Sequence[str]], object]


def _peers() -> dict[str, Callable[[str], Parser | None]]:
    """Peer name -> factory giving that peer's parser for a layout (None when it does not support it)."""
    peers: dict[str, Callable[[str], Parser | None]] = {}
    try:
        from mrz.checker.mrva import MRVACodeChecker
        from mrz.checker.mrvb import MRVBCodeChecker
        from mrz.checker.td1 import TD1CodeChecker
        from mrz.checker.td2 import TD2CodeChecker
        from mrz.checker.td3 import TD3CodeChecker

        classes = {"TD1": TD1CodeChecker, "TD2": TD2CodeChecker, "TD3": TD3CodeChecker,
                   "MRVA": MRVACodeChecker, "MRVB": MRVBCodeChecker}  # fmt: skip

        def mrz_package(fmt: str) -> Parser | None:
            cls = classes.get(fmt)
            return None if cls is None else (lambda lines: cls("\n".join(lines)))

        peers["mrz"] = mrz_package
    except ImportError:
        pass
    try:
        from passporteye.mrz.text import MRZ

        peers["passporteye"] = lambda fmt: None if fmt == "FRA_1995" else MRZ
    except ImportError:
        pass
    return peers


def docs_per_second(parsers: dict[str, Parser], docs: list[tuple[str, ...]], rounds: int) -> dict[str, float]:
    """Best rate of each parser over ``rounds`` passes, the parsers taking turns within each round so that
    load from other processes hits them alike; CPU time of this process, not wall time."""
    best = dict.fromkeys(parsers, float("inf"))
    for _ in range(rounds):
        for name, parse in parsers.items():
            start = time.process_time()
            for lines in docs:
                parse(lines)
            best[name] = min(best[name], time.process_time() - start)
    return {name: len(docs) / seconds for name, seconds in best.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=2000, help="documents per layout (default 2000)")
    ap.add_argument(
        "--rounds", type=int, default=5, help="passes per measurement; the best counts (default 5)"
    )
    args = ap.parse_args(argv)
    peers = _peers()
    missing = [name for name in ("mrz", "passporteye") if name not in peers]
    print(f"python {sys.version.split()[0]}; {args.docs} documents per layout; best of {args.rounds}")
    if missing:
        print(f"peers not importable (column n/a): {', '.join(missing)}")
    header = f"{'layout':<9} {'ours doc/s':>11} {'+fields':>9}" + "".join(
        f" {name + ' doc/s':>17} {'ratio':>6} {'+fields':>7}" for name in peers
    )
    print(header)
    print("-" * len(header))
    rng = random.Random(9303)
    ours_parse: Parser = functools.partial(parse_mrz, today=TODAY)
    ours_fields: Parser = lambda lines: parse_mrz(lines, today=TODAY).to_dict()  # noqa: E731
    for fmt in FORMATS:
        docs = [render(random_fields(rng, fmt)) for _ in range(args.docs)]
        if not all(parse_mrz(d, today=TODAY).valid for d in docs):
            raise SystemExit(f"generated {fmt} specimens do not all parse valid: the bench would be unfair")
        parsers = {"ours": ours_parse, "ours+fields": ours_fields}
        for name, factory in peers.items():
            peer = factory(fmt)
            if peer is not None:
                parsers[name] = peer
        rates = docs_per_second(parsers, docs, args.rounds)
        ours, ours_all = rates["ours"], rates["ours+fields"]
        row = f"{fmt:<9} {ours:>11,.0f} {ours_all:>9,.0f}"
        for name in peers:
            if name not in rates:
                row += f" {'n/a':>17} {'':>6} {'':>7}"
            else:
                row += f" {rates[name]:>17,.0f} {ours / rates[name]:>5.1f}x {ours_all / rates[name]:>6.1f}x"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
