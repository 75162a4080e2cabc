"""Coverage-guided fuzzing of the gate's parsers with atheris (libFuzzer), a separate command:

    .venv/bin/pip install -e '.[fuzz]'             # atheris 2.3.0 (a wheel for CPython 3.11 x86_64)
    .venv/bin/python -m tests.fuzz.atheris_main TARGET [-max_total_time=60] [-runs=N] [CORPUS_DIR]

TARGET is one of ``mrz``, ``framer-lines``, ``framer-stx-etx``, ``framer-rte``, ``framer-tlv``, ``envelope``,
``hitlist``, ``config``, ``event``. Each target feeds the fuzzer's bytes to the parser and lets only the
parser's documented refusal pass (``BadDataError``, ``ProtocolError``, ``HitListRejected``, ``ConfigError``,
``ValueError`` for events); anything else is a crash that atheris reports with the input that caused it.
The agent and hal modules are instrumented for coverage. docs/reliability.md "Fuzzing" records the runs.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

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


def _mrz(data: bytes) -> None:
    try:
        parse_mrz(data.decode("latin-1"), today=TODAY)
    except BadDataError:
        pass


def _framer(mode: str) -> Callable[[bytes], None]:
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
    return run


def _envelope() -> Callable[[bytes], None]:
    from nacl.signing import SigningKey

    keys = trusted([SigningKey(b"\x01" * 32).verify_key])
    types = sorted(MESSAGES)

    def run(data: bytes) -> None:
        if not data:
            return
        try:
            open_signed(types[data[0] % len(types)], data[1:], keys)
        except ProtocolError:
            pass
    return run


def _hitlist() -> Callable[[bytes], None]:
    from tests.support.hitlist_central import T0, Central, doc

    central = Central()
    v1 = central.snapshot([doc(i) for i in range(20)], 1)
    tmp = Path(tempfile.mkdtemp())
    store = HitListStore(tmp / "gate", central.root_pub)
    store.install(v1, now=T0)
    identity = store.identity

    def run(data: bytes) -> None:
        try:
            store.install(data, now=T0)
        except HitListRejected:
            if store.identity != identity:
                raise AssertionError("a refused file changed the installed list") from None
    return run


def _config() -> Callable[[bytes], None]:
    path = Path(tempfile.mkdtemp()) / "gate.toml"

    def run(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError:
            pass
    return run


def _event() -> Callable[[bytes], None]:
    from nacl.signing import SigningKey

    opener = EventOpener(SigningKey(b"\x02" * 32))

    def run(data: bytes) -> None:
        try:
            opener.open_body(data)
        except ValueError:
            pass
    return run


def targets() -> dict[str, Callable[[], Callable[[bytes], None]]]:
    """Target name -> factory of the one-input function."""
    table: dict[str, Callable[[], Callable[[bytes], None]]] = {
        "mrz": lambda: _mrz, "envelope": _envelope, "hitlist": _hitlist, "config": _config, "event": _event}
    for mode in FRAMERS:
        table[f"framer-{mode}"] = lambda mode=mode: _framer(mode)
    return table


def main() -> None:
    table = targets()
    if len(sys.argv) < 2 or sys.argv[1] not in table:
        sys.exit(f"usage: python -m tests.fuzz.atheris_main {{{','.join(table)}}} [libFuzzer options]")
    one_input = table[sys.argv[1]]()
    atheris.Setup([sys.argv[0], *sys.argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
