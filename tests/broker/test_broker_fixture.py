"""The test broker itself: it starts fast, enrols gates before and after start, and restarts keep sessions."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agent.protocol import ids
from agent.protocol.topics import check_id
from tests.support.broker import Broker, BrokerError, MqttTestClient, mqtt_connect_probe
from tests.support.wait import wait_until
from tools.broker_setup import BrokerSetupError, check_gate_id, password_line


def test_enrolled_gate_is_accepted_and_wrong_password_refused(broker: Broker):
    user, password = broker.add_gate("gate-a")
    assert mqtt_connect_probe(broker.host, broker.port, user, password) == 0
    assert mqtt_connect_probe(broker.host, broker.port, user, password + "x") == 5
    assert mqtt_connect_probe(broker.host, broker.port, "gate-unknown", password) == 5


def test_probe_handles_long_credentials(broker: Broker):
    """A CONNECT over 127 bytes needs a two-byte remaining length."""
    user, password = broker.add_gate("g" * 64, password="p" * 200)
    assert mqtt_connect_probe(broker.host, broker.port, user, password) == 0


def test_gate_enrolled_before_start_is_accepted(tmp_path: Path):
    b = Broker(tmp_path)
    user, password = b.add_gate("gate-early")
    with b:
        assert mqtt_connect_probe(b.host, b.port, user, password) == 0


def test_removed_gate_is_refused_after_reload(broker: Broker):
    user, password = broker.add_gate("gate-a")
    broker.remove_account(user)
    assert mqtt_connect_probe(broker.host, broker.port, user, password) == 5


def test_password_line_has_mosquitto_passwd_layout(tmp_path: Path):
    """Our $7$ line has the layout mosquitto_passwd writes (that Mosquitto accepts it is proven end to end
    by every broker test, which all log in with these hashes)."""
    ours = password_line("gate-a", "secret", salt=bytes(range(12)))
    ref = tmp_path / "ref"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(ref), "gate-a", "secret"], check=True)
    theirs = ref.read_text().strip()
    assert ours.split("$")[:3] == theirs.split("$")[:3] == ["gate-a:", "7", "101"]
    assert len(ours) == len(theirs)


@pytest.mark.parametrize(
    "gate_id",
    ["", "gate/b", "gate+", "gate#", "central", "central-2", "-gate", "gate a", "g" * 65, "gate\n"],
    ids=[
        "empty",
        "slash",
        "plus",
        "hash",
        "central",
        "central-prefix",
        "leading-dash",
        "space",
        "too-long",
        "newline",
    ],
)
def test_invalid_gate_id_refused_before_it_reaches_the_acl(broker: Broker, gate_id: str):
    with pytest.raises(BrokerSetupError, match="gate id"):
        broker.add_gate(gate_id)


def test_restart_keeps_port_and_persistent_session(broker: Broker):
    """A persistent subscriber's queued message survives a broker restart (SIGTERM saves the db)."""
    user, password = broker.add_gate("gate-a")
    port = broker.port
    _queue_one_ack_for_offline_gate(broker, user, password, clean_start=False)
    broker.restart()
    assert broker.port == port
    sub = MqttTestClient(broker, user, password, clean_start=False, session_expiry=3600)
    with sub:
        assert sub.connect()
        assert sub.wait_for_message("sharaka/v1/gates/gate-a/ack").payload == b"queued"


def test_session_begun_with_clean_start_is_lost_on_broker_restart(broker: Broker):
    """Mosquitto 2.0 quirk: a session created with clean_start=1 (paho's default first connect) and a session
    expiry is kept while the broker runs but is not saved to the persistence file, so a broker restart
    loses its subscriptions and queue. Clients that need their session across restarts connect with
    clean_start=0 every time (docs/broker.md)."""
    user, password = broker.add_gate("gate-a")
    _queue_one_ack_for_offline_gate(broker, user, password, clean_start=True)
    broker.restart()
    _assert_queue_lost(broker, user, password)


def _assert_queue_lost(broker: Broker, user: str, password: str) -> None:
    """The gate reconnects to its session and finds nothing queued for it."""
    with MqttTestClient(broker, user, password, clean_start=False, session_expiry=3600) as sub:
        assert sub.connect()
        with pytest.raises(TimeoutError):
            sub.wait_for_message("sharaka/v1/gates/gate-a/ack", timeout=0.5)


def _queue_one_ack_for_offline_gate(broker: Broker, user: str, password: str, *, clean_start: bool) -> None:
    sub = MqttTestClient(broker, user, password, clean_start=clean_start, session_expiry=3600)
    assert sub.connect()
    assert sub.subscribe("sharaka/v1/gates/gate-a/ack")[0].value == 1
    sub.close()
    with MqttTestClient(broker, *broker.central) as central:
        assert central.connect()
        assert central.publish("sharaka/v1/gates/gate-a/ack", b"queued").value == 0


def test_killed_broker_loses_what_was_not_saved(broker: Broker):
    """kill() is a crash: the persistent session made since the last save is gone (autosave 30 min)."""
    user, password = broker.add_gate("gate-a")
    _queue_one_ack_for_offline_gate(broker, user, password, clean_start=False)
    broker.kill()
    broker.start()
    _assert_queue_lost(broker, user, password)


def test_bad_config_fails_start_with_log(tmp_path: Path):
    b = Broker(tmp_path, extra_conf="no_such_option 1")
    with pytest.raises(BrokerError, match="no_such_option"):
        b.start(timeout=5)


@given(st.from_regex(ids.ID_PATTERN, fullmatch=True))
def test_every_enrollable_gate_id_is_a_valid_link_gate_id(gate_id: str):
    """Enrolment accepts only ids the link's topic builder accepts too (one identity on both sides)."""
    assume(not gate_id.lower().startswith("central"))
    assert check_gate_id(gate_id) == check_id(gate_id) == gate_id


def test_a_refused_client_closes_at_once_and_does_not_try_again(broker: Broker):
    """``MqttTestClient.close`` does not wait out paho's reconnect delay (a second per refusal test); the network
    thread, asleep in it, ends when it wakes, with no second connection."""
    before = set(threading.enumerate())
    client = MqttTestClient(broker, "gate-x", "guess")
    assert not client.connect()
    (network,) = set(threading.enumerate()) - before
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 0.5
    assert wait_until(lambda: not network.is_alive(), 5)
    assert broker.log_text().count("not authorised") == 1


def test_mosquitto_main_stops_on_sigterm_and_gives_back_the_handler_it_found(tmp_path: Path):
    """``python -m tools.mosquitto`` runs a broker until SIGTERM. Run in-process (``tools.mosquitto.main``) it left
    its handler installed: the caller's SIGTERM then set an event nobody waited on. Now it holds it only while it
    runs (agent/signals.py: stop_on)."""
    import os
    import signal

    from tools.mosquitto import main

    def callers(_signo: int, _frame: object) -> None:
        """The caller's own handler; a SIGTERM that comes after main gave it back lands here, harmless."""

    found = signal.signal(signal.SIGTERM, callers)
    try:

        def stop_it() -> None:  # once main's handler is in (it is installed before the broker starts)
            if wait_until(lambda: signal.getsignal(signal.SIGTERM) is not callers, 60):
                os.kill(os.getpid(), signal.SIGTERM)

        stopper = threading.Thread(target=stop_it)
        stopper.start()
        assert main(["--dir", str(tmp_path / "mq"), "--gate", "gate-1"]) == 0
        stopper.join(10)
        assert signal.getsignal(signal.SIGTERM) is callers, "main left its SIGTERM handler"
    finally:
        signal.signal(signal.SIGTERM, found)
