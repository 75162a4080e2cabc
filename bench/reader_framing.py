"""Reader framing cost: how long the framer takes per document, and swipe-to-read() over a real pty.

    python bench/reader_framing.py [--docs 5000]

Prints microseconds per document for each framing mode (pure framer, one read per document), the
same for a peer (splitting on CR LF with bytes.split, which does no checking at all), and the
latency from the last byte written to the pty master to ``read()`` returning the document.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from hal import open_reader
from hal.reader.framing import parse_framing

TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
MODES = ("lines", "lines&prefix=]o1", "stx-etx&bcc=xor", "rte", "tlv")


def best_of(repeats: int, run) -> float:
    """The fastest of ``repeats`` runs (least disturbed by other load on the machine)."""
    return min(run() for _ in range(repeats))


def framer_cost(mode: str, docs: int) -> float:
    spec, _ = parse_framing(dict(item.split("=") for item in f"framing={mode}".split("&")))
    framer = spec.framer()
    data = spec.encode(TD3)

    def run() -> float:
        start = time.perf_counter()
        for _ in range(docs):
            (doc,) = framer.feed(data, 0.0)
        return (time.perf_counter() - start) / docs * 1e6

    return best_of(5, run)


def peer_cost(docs: int) -> float:
    data = ("\r\n".join(TD3) + "\r\n").encode()

    def run() -> float:
        start = time.perf_counter()
        for _ in range(docs):
            rows = data.split(b"\r\n")[:2]
            tuple(r.decode() for r in rows)
        return (time.perf_counter() - start) / docs * 1e6

    return best_of(5, run)


def pty_latency(mode: str, docs: int) -> list[float]:
    samples = []
    with open_reader(f"sim://reader?framing={mode}") as reader:
        for _ in range(docs):
            reader.device.swipe(TD3)
            written = time.perf_counter()
            item = reader.read(timeout=1.0)
            samples.append((time.perf_counter() - written) * 1e6)
            if item is None or not hasattr(item, "lines"):
                raise SystemExit(f"{mode}: expected a document, got {item!r}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; framer figures are the best of 5 runs")
    peer = peer_cost(args.docs)
    print(f"peer (bytes.split on CR LF, no checks): {peer:.2f} us/document")
    for mode in MODES:
        cost = framer_cost(mode, args.docs)
        lat = sorted(pty_latency(mode, min(args.docs, 2000)))
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
        print(
            f"{mode:18} framer {cost:6.2f} us/document ({cost / peer:4.1f}x peer); "
            f"pty swipe->read() p50 {p50:6.1f} us, p99 {p99:6.1f} us, max {lat[-1]:7.1f} us"
        )


if __name__ == "__main__":
    main()
