"""ICAO 9303 specimen MRZs (fictional state UTO) for the reader tests (tests/hal/reader), and a stream helper."""

from __future__ import annotations

from hal.reader.framing import Framer, Output

TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
TD3_B = (
    "P<UTOSPECIMEN<<KARL<<<<<<<<<<<<<<<<<<<<<<<<<",
    "X123456785UTO8001014M3001019<<<<<<<<<<<<<<02",
)
TD2 = (
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
)
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
MRVA = (
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
)
ALL = {"td3": TD3, "td3b": TD3_B, "td2": TD2, "td1": TD1, "mrva": MRVA}


def run(framer: Framer, chunks: list[bytes], *, idle: bool = True) -> list[Output]:
    """Feed ``chunks`` as separate reads, then let the line go idle; returns everything emitted."""
    out: list[Output] = []
    for chunk in chunks:
        out += framer.feed(chunk, 0.0)
    if idle:
        out += framer.idle(0.0)
    return out


def docs(out: list[Output]) -> list[tuple[str, ...]]:
    """The documents in ``out``, as row tuples."""
    return [o.lines for o in out if hasattr(o, "lines")]


def misreads(out: list[Output]) -> list[str]:
    """The misread reasons in ``out``."""
    return [o.reason for o in out if hasattr(o, "reason")]
