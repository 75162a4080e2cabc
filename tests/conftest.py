"""Shared pytest fixtures. Broker fixtures: a real Mosquitto per test (see tests/support/broker.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import Broker, Pki
from tests.support.notify import NotifySocket


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A started Mosquitto on a free loopback port: password listener, per-gate ACL, persistence.
    Enrol gates with ``broker.add_gate(gate_id) -> (username, password)``; ``broker.central`` is the
    central node's ``(username, password)``."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, a foreign CA and the broker's server certificate (made once per test process)."""
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    """Like ``broker`` plus a TLS listener (``tls_port``) that requires a client certificate from ``pki.ca``;
    the certificate's CN is the username and client id. ``pki.client_cert(gate_id)`` makes one."""
    b = Broker(tmp_path / "broker", tls=pki)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    """A datagram socket standing in for systemd's ``$NOTIFY_SOCKET`` (tests/support/notify.py)."""
    ns = NotifySocket()
    yield ns
    ns.close()


def _signal_state() -> tuple[Any, Any, set[signal.Signals]]:
    """SIGINT's and SIGTERM's handlers and the blocked signals: what a test must leave as it found them."""
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.fixture(autouse=True)
def _signals_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves this process's SIGINT or SIGTERM handler or blocked signals changed: an ignored or
    blocked signal is inherited by every child a later test starts (a `reader capture` then sat past Ctrl-C in CI),
    and a command's handler left installed (agent/signals.py) swallows the SIGTERM or Ctrl-C that should stop this
    run."""
    before = _signal_state()
    yield
    after = _signal_state()
    if after != before:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
        signal.pthread_sigmask(signal.SIG_SETMASK, before[2])
        pytest.fail(f"{request.node.nodeid} left SIGINT's and SIGTERM's handlers and blocked signals {after}, "
                    f"found {before}")
