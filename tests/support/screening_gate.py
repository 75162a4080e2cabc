"""The real gate (`sharaka-gate run`) as its own process on simulated hardware, for the fault tests that must
check three things at once: the decisions stay correct, every event reaches the central store once, and the
fault shows in the gate's status.

    gate = ScreeningGate(tmp_path, mq, keys, central.store)   # enrolled at the centre, link to mq
    gate.start()
    gate.screen(6)                       # six travellers of TRAVELLERS, each decided correctly (or it raises)
    gate.status()["outbox"]["depth"]     # what `sharaka-gate status --json` shows
    gate.kill9(); gate.start()           # the process dies without a word; a new one takes over the state
    assert_each_decision_stored_once(central.store, gate)

    with linked_app(tmp_path, mq, keys, central.store, port=proxy.port) as app:   # the same gate in process
        app.indicators.bus.fail()

The reader is a pty (``hal.reader.sim.SimReaderDevice``) the process opens by path; ``prefix`` runs the
process under another command (``ip netns exec NS``), ``env`` adds to its environment (libfaketime) and
further keyword arguments are config tables (``outbox={"reserve_kib": 512}``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent import keys as keyfiles
from agent.app import GateApp
from agent.config import load_config
from agent.durable import atomic_write
from agent.screening.events import decode_event
from hal.reader.sim import SimReaderDevice
from tests.support.gatesim import (
    BAD_CHECK_DOC,
    CLEAR_DOC,
    EXPIRED_DOC,
    LISTED_DOC,
    LISTED_PERSON,
    write_app_config,
)
from tests.support.paths import REPO
from tests.support.wait import wait_until

TRAVELLERS: list[tuple[list[str], str]] = [
    (CLEAR_DOC, "CLEAR"), (LISTED_DOC, "HIT"), (EXPIRED_DOC, "REFER"), (LISTED_PERSON, "HIT"), (BAD_CHECK_DOC, "REFER")]
"""Documents and the decision a healthy gate gives each: clear, listed by number, expired, listed by
person, a failed check digit."""


class ScreeningGate:
    """Gate ``gate-a`` with its state and log in ``directory``; see the module docstring."""

    def __init__(self, directory: Path, broker: Any, keys: Any, store: Any, *, host: str | None = None,
                 port: int | None = None, prefix: Sequence[str] = (), env: dict[str, str] | None = None,
                 **sections: Any) -> None:
        self.dir, self.prefix = Path(directory), list(prefix)
        gate_id = self.gate_id = "gate-a"  # tests/support/gatesim.py: write_app_config
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.env.pop("NOTIFY_SOCKET", None)
        self.state = self.dir / "state"
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        keyfiles.generate(self.state / "device.key")
        store.enrol(gate_id, (self.state / "device.key.pub").read_bytes(), time.time())
        atomic_write(self.dir / "node.pub", bytes(keys.node.verify_key))
        _, password = broker.add_gate(gate_id)
        (self.dir / "pw").write_text(password)
        self.reader = SimReaderDevice("lines", link=self.dir / "reader")
        self.config = write_app_config(
            self.dir, f"serial://{self.dir / 'reader'}?framing=lines",
            screening={"duplicate_window_s": 0.0, "lab_gate": True},
            link={"enabled": True, "host": host or broker.host, "port": port or broker.port, "password_file": "pw",
                  "node_pub": "node.pub", "keepalive_s": 5, "will_delay_s": 1}, **sections)
        self.log = self.dir / "gate.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._swiped = 0

    # --- the process --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and wait until it is ready to screen."""
        ready = self._count('"gate ready"')
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*self.prefix, sys.executable, "-m", "agent", "run", "--config",
                                          str(self.config)], stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                         cwd=REPO)
        if not wait_until(lambda: self._count('"gate ready"') > ready or self.proc.poll() is not None, 30):
            raise TimeoutError(f"the gate did not start: {self.log_tail()}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"the gate exited with {self.proc.returncode}: {self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no last words (the power cord pulled, as far as the process can tell)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit code (None when it was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def close(self) -> None:
        """Stop the process (SIGKILL if need be) and unplug the reader."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.close()

    # --- screening ----------------------------------------------------------------------------------

    def swipe(self, n: int) -> None:
        """Swipe the next ``n`` travellers of ``TRAVELLERS`` without waiting for their decisions."""
        for _ in range(n):
            lines, _verdict = TRAVELLERS[self._swiped % len(TRAVELLERS)]
            self.reader.swipe(lines)
            self._swiped += 1

    def screen(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Swipe the next ``n`` travellers one by one; each must be decided as a healthy gate decides it,
        within ``timeout`` s (screening never waits for the link). Returns their decision log lines."""
        out = []
        for _ in range(n):
            verdict = TRAVELLERS[self._swiped % len(TRAVELLERS)][1]
            before = len(self.decisions())
            self.swipe(1)
            if not wait_until(lambda before=before: len(self.decisions()) > before, timeout):
                raise AssertionError(f"no decision within {timeout} s: {self.log_tail()}")
            decision = self.decisions()[before]
            assert decision["decision"] == verdict, (decision, verdict)
            out.append(decision)
        return out

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision this gate's processes logged (each one shown on the indicators), in order."""
        lines = self.log.read_bytes().splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines if b'"msg":"decision"' in line]

    def status(self) -> dict[str, Any]:
        """What ``sharaka-gate status --json`` prints (status.json plus the live outbox figures)."""
        from agent.commands.status import gather

        return gather(str(self.config), time.time())

    def wait_until_quiet(self, quiet_s: float = 1.5, timeout: float = 20.0) -> None:
        """Wait until no new decision has been logged for ``quiet_s`` (swipes a killed process left in the
        reader's buffer are decided by the next one), then continue the travellers after them."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.decisions()), time.monotonic()
        while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
            time.sleep(0.2)
            if len(self.decisions()) != seen:
                seen, since = len(self.decisions()), time.monotonic()

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the gate's log other than decisions (for failure messages)."""
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join([t for t in text if '"msg":"decision"' not in t][-lines:])

    def _count(self, text: str) -> int:
        return self.log.read_bytes().count(text.encode()) if self.log.exists() else 0


def assert_each_decision_stored_once(store: Any, gate: ScreeningGate, timeout: float = 60.0, *,
                                     unlogged: int = 0) -> None:
    """Every decision ``gate`` logged is at the central store exactly once, with the same verdict, and the
    gate's sequence has no gap or repeat; waits up to ``timeout`` s for the backlog. ``unlogged``: how many
    stored decisions may lack a log line (a process killed between committing a decision and logging it:
    committed before shown, RELIABILITY 17, so it is delivered though nobody saw it)."""
    logged = gate.decisions()
    ids = {d["event"] for d in logged}

    def stored() -> list[dict[str, Any]]:
        return [e for e in store.events(gate.gate_id) if e["kind"] in ("decision", "hit")]

    assert wait_until(lambda: ids <= {e["msg_id"] for e in stored()}, timeout), (
        f"{len(ids - {e['msg_id'] for e in stored()})} of {len(ids)} decisions not at the centre; the gate's log "
        f"ends: {gate.log_tail()}")
    events = stored()
    assert len({e["msg_id"] for e in events}) == len(events), "an event stored twice"
    assert len({e["msg_id"] for e in events} - ids) <= unlogged, "the centre holds decisions nobody logged"
    seqs = sorted(e["seq"] for e in store.events(gate.gate_id))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"sequence gaps or repeats: {seqs}"
    bodies = {e["msg_id"]: decode_event(e["body"]) for kind in ("decision", "hit")
              for e in store.events(gate.gate_id, kind=kind)}
    for d in logged:
        assert bodies[d["event"]]["decision"] == d["decision"], (d, bodies[d["event"]])


@contextmanager
def linked_app(directory: Path, broker: Any, keys: Any, store: Any, *, port: int | None = None,
               **link: Any) -> Iterator[GateApp]:
    """The same gate (``gate-a``, ``TRAVELLERS``' lists) as a ``GateApp`` running in threads of this process,
    for faults injected from inside (the chip models' bus) or read from inside (``app.screener.last``):
    enrolled at ``store``, its link to ``broker`` (or ``port``, a proxy) with ``link`` settings, connected."""
    atomic_write(directory / "node.pub", bytes(keys.node.verify_key))
    _, password = broker.add_gate("gate-a")
    (directory / "pw").write_text(password)
    config = write_app_config(directory, screening={"duplicate_window_s": 0.0, "lab_gate": True}, link={
        "enabled": True, "port": port or broker.port, "password_file": "pw", "node_pub": "node.pub", **link})
    app = GateApp(load_config(config))
    app.open()
    store.enrol("gate-a", (directory / "state" / "device.key.pub").read_bytes(), time.time())
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    runner.start()
    try:
        if app.link is None or not app.link.wait_for_connected(10):
            raise TimeoutError("the gate's link did not connect")
        yield app
    finally:
        stop.set()
        runner.join(15)
