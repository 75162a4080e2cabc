"""Coverage-guided fuzzing of the gate's parsers with atheris (libFuzzer), a separate command:

    .venv/bin/pip install -e '.[fuzz]'             # atheris 2.3.0 (a wheel for CPython 3.11 x86_64)
    .venv/bin/python -m tests.fuzz.atheris_main TARGET [-max_total_time=60] [-runs=N] [CORPUS_DIR]
    .venv/bin/python -m tests.fuzz.atheris_main TARGET --empty [...]   # no seeds: from nothing

TARGET is one of ``mrz``, ``framer-lines``, ``framer-stx-etx``, ``framer-rte``, ``framer-tlv``, ``envelope``,
``hitlist``, ``config``, ``event``. Each target feeds the fuzzer's bytes to the parser and lets only the
parser's documented refusal pass (``BadDataError``, ``ProtocolError``, ``HitListRejected``, ``ConfigError``,
``ValueError`` for events); anything else is a crash that atheris reports with the input that caused it.
The agent and hal modules are instrumented for coverage. Unless ``--empty`` is given, the fuzzer starts from
valid inputs of its target (documents, framed reads, a signed message, list files signed by the target's own
centre, a gate config, a sealed event), written into ``CORPUS_DIR`` or a temporary directory: random bytes
rarely get past a parser's first check, mutations of a valid input do. docs/reliability.md "Fuzzing"
records the runs.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

try:
    import atheris
except ImportError:  # the optional extra, not the test environment: say how to get it, not a traceback
    sys.exit("atheris is not installed: .venv/bin/pip install -e '.[fuzz]' (atheris 2.3.0)")

with atheris.instrument_imports(include=["agent", "hal"]):
    from agent.config import load_config
    from agent.errors import BadDataError, ConfigError
    from agent.hitlist.errors import HitListRejected
    from agent.hitlist.store import HitListStore
    from agent.keys import trusted
    from agent.mrz import parse_mrz
    from agent.protocol.envelope import ProtocolError, open_signed
    from agent.protocol.schema import MESSAGES
    from agent.screening.events import EventOpener
    from hal.reader.framing import FRAMERS

TODAY = datetime.date(2026, 12, 3)


Target = tuple[Callable[[bytes], None], list[bytes]]
"""A target's one-input function and its seeds."""


def _documents() -> list[list[str]]:
    from tests.support.gatesim import BAD_CHECK_DOC, CLEAR_DOC, LISTED_DOC

    return [list(CLEAR_DOC), list(LISTED_DOC), list(BAD_CHECK_DOC)]


def _mrz() -> Target:
    def run(data: bytes) -> None:
        try:
            parse_mrz(data.decode("latin-1"), today=TODAY)
        except BadDataError:
            pass
    return run, ["\n".join(d).encode() for d in _documents()]


def _reads(wire: bytes) -> bytes:
    """``wire`` as the framer target's input: reads of up to 64 bytes, each preceded by its length - 1."""
    return b"".join(bytes([len(wire[i:i + 64]) - 1]) + wire[i:i + 64] for i in range(0, len(wire), 64))


def _framer(mode: str) -> Target:
    def run(data: bytes) -> None:
        framer = FRAMERS[mode]()
        fdp = atheris.FuzzedDataProvider(data)
        t = 0.0
        while fdp.remaining_bytes():
            framer.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64)), t)
            if framer.buffered > framer.max_buffered:
                raise AssertionError(f"{mode} framer holds {framer.buffered} bytes")
            t += 0.01
        framer.idle(t + 10)
    return run, [_reads(FRAMERS[mode]().encode(d)) for d in _documents()]


def _envelope() -> Target:
    from nacl.signing import SigningKey

    from agent.protocol.envelope import seal

    key = SigningKey(b"\x01" * 32)
    keys = trusted([key.verify_key])
    types = sorted(MESSAGES)
    ack = seal("ack", {"id": "a1", "ts": 1.0, "gate": "gate-f", "ids": ["e1", "e2"]}, [key])

    def run(data: bytes) -> None:
        if not data:
            return
        try:
            open_signed(types[data[0] % len(types)], data[1:], keys)
        except ProtocolError:
            pass
    return run, [bytes([types.index("ack")]) + ack]


def _hitlist() -> Target:
    from tests.support.hitlist_central import T0, Central, doc

    central = Central()
    v1 = central.snapshot([doc(i) for i in range(20)], 1)
    tmp = Path(tempfile.mkdtemp())
    store = HitListStore(tmp / "gate", central.root_pub)
    store.install(v1, now=T0)

    def run(data: bytes) -> None:
        identity = store.identity  # a seed (a genuine v2) may have been installed by an earlier input
        try:
            store.install(data, now=T0)
        except HitListRejected:
            if store.identity != identity:
                raise AssertionError("a refused file changed the installed list") from None
    v2 = central.snapshot([doc(i) for i in range(5, 30)], 2)
    return run, [v2, central.delta(1, 2), central.head(2), central.keyring]


def _config() -> Target:
    from tests.support.gatesim import write_app_config

    path = Path(tempfile.mkdtemp()) / "gate.toml"
    seed = write_app_config(path.parent).read_bytes()

    def run(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError:
            pass
    return run, [seed]


def _event() -> Target:
    from nacl.signing import SigningKey

    from agent.screening.events import EventSealer, encode_event, seal_private

    key = SigningKey(b"\x02" * 32)
    opener = EventOpener(key)
    event = {"v": 2, "type": "decision", "id": "e1", "seq": 1, "decision": "HIT",
             "mrz": {"document_number": "L898902C3", "surname": "ERIKSSON"}, "hit": {"ref": "SLTD-1"}}
    seed = encode_event(seal_private(event, EventSealer(key.verify_key)))

    def run(data: bytes) -> None:
        try:
            opener.open_body(data)
        except ValueError:
            pass
    return run, [seed]


def targets() -> dict[str, Callable[[], Target]]:
    """Target name -> factory of the one-input function and its seeds."""
    table: dict[str, Callable[[], Target]] = {
        "mrz": _mrz, "envelope": _envelope, "hitlist": _hitlist, "config": _config, "event": _event}
    for mode in FRAMERS:
        table[f"framer-{mode}"] = lambda mode=mode: _framer(mode)
    return table


def main() -> None:
    table = targets()
    if len(sys.argv) < 2 or sys.argv[1] not in table:
        sys.exit(f"usage: python -m tests.fuzz.atheris_main {{{','.join(table)}}} [libFuzzer options]")
    one_input, seeds = table[sys.argv[1]]()
    args = [a for a in sys.argv[2:] if a != "--empty"]
    if "--empty" not in sys.argv:
        corpus = next((Path(a) for a in args if not a.startswith("-")), None)
        if corpus is None:
            corpus = Path(tempfile.mkdtemp(prefix=f"atheris-{sys.argv[1]}-"))
            args.append(str(corpus))
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
