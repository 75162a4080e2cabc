"""The gate app with [link] enabled: swipes become events and hits at the central node, through the real
pipeline on simulated hardware, the real link and a real Mosquitto."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.app import GateApp, SystemdNotifier
from agent.config import load_config
from hal.indicators import SAFE_OUTPUT
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, write_app_config
from tests.support.link import make_central
from tests.support.wait import wait_until
from tools.central.cli import main as central_cli
from tools.central.node import CentralNode


def linked_gate_config(broker, tmp_path, keys) -> tuple[Path, CentralNode]:
    """gate-a's config with [link] to ``broker`` and the three command keys, and a started central node."""
    from agent.durable import atomic_write

    atomic_write(tmp_path / "node.pub", bytes(keys.node.verify_key))
    for i, k in enumerate(keys.commands):
        atomic_write(tmp_path / f"cmd{i}.pub", bytes(k.verify_key))
    _, password = broker.add_gate("gate-a")
    (tmp_path / "pw").write_text(password)
    config = write_app_config(tmp_path, link={
        "enabled": True, "port": broker.port, "password_file": "pw", "node_pub": "node.pub",
        "command_pubs": ["cmd0.pub", "cmd1.pub", "cmd2.pub"]})
    return config, make_central(broker, tmp_path / "central.db", keys)


def test_gate_app_with_link_delivers_swipes_and_hits_and_obeys_policy_and_relay_commands(broker, tmp_path, keys):
    config, central = linked_gate_config(broker, tmp_path, keys)
    app = GateApp(load_config(config))
    app.open()
    assert central_cli(["enrol", "--db", str(tmp_path / "central.db"), "--gate", "gate-a",
                        "--pub", str(tmp_path / "state" / "device.key.pub")]) == 0
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert app.link.wait_for_connected(10)
        app.reader.device.swipe(CLEAR_DOC)
        app.reader.device.swipe(LISTED_DOC)
        assert wait_until(lambda: central.store.count_events() == 2, 10), app.link.stats
        assert len(central.store.events("gate-a", hits_only=True)) == 1
        assert wait_until(lambda: central.store.gates()[0]["online"] == 1, 5)
        assert wait_until(lambda: app.outbox.depth() == 0, 5)

        def result(cmd_id):
            wait_until(lambda: any(c["cmd_id"] == cmd_id and c["ok"] is not None for c in central.store.commands()), 10)
            return next(c for c in central.store.commands() if c["cmd_id"] == cmd_id)

        assert result(central.send_command("gate-a", "set_policy", {"stale_policy": "clear-flag"}))["ok"] == 1
        assert app.screener.rules.stale_policy == "clear-flag"
        bad = result(central.send_command("gate-a", "set_policy", {"stale_policy": "open-the-gate"}))
        assert bad["ok"] == 0 and "stale_policy" in bad["detail"]
        assert app.screener.rules.stale_policy == "clear-flag", "a refused policy changed the rules"
        assert result(central.send_command("gate-a", "pulse_relay", {"seconds": 1}))["detail"] == "relay pulsed 1 s"
        assert result(central.send_command("gate-a", "pulse_relay", {"seconds": 3600}))["ok"] == 0
    finally:
        stop.set()
        runner.join(15)
        central.stop()
    assert app.indicators.shown == SAFE_OUTPUT


def test_watchdog_pings_stop_while_the_link_worker_is_wedged(broker, tmp_path, keys, notify_socket):
    """RELIABILITY 35 for the link's worker, which also drains the outbox: its command handler hangs on the I2C
    bus (a signed pulse_relay while the driver's write never returns), and the pings stop within one interval;
    they were sent on, since only the reader reported to the watchdog. An idle worker, waiting up to 5 s for
    work, is no wedge (the interval here is 0.6 s)."""
    config, central = linked_gate_config(broker, tmp_path, keys)
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "600000"})
    app = GateApp(load_config(config), notifier=notifier)
    app.open()
    assert central_cli(["enrol", "--db", str(tmp_path / "central.db"), "--gate", "gate-a",
                        "--pub", str(tmp_path / "state" / "device.key.pub")]) == 0
    stop, release = threading.Event(), threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert app.link.wait_for_connected(10)
        notify_socket.messages(2.0)  # idle: the worker waits for work longer than the interval
        assert "WATCHDOG=1" in notify_socket.messages(1.2)
        app.indicators.bus.on_write = lambda *_: release.wait(30)  # the I2C driver hangs
        central.send_command("gate-a", "pulse_relay", {"seconds": 1})
        assert wait_until(lambda: not app.link.alive(0.5), 10), "the command never reached the worker"
        notify_socket.messages(0.7)  # pings sent before the wedge was noticed
        assert "WATCHDOG=1" not in notify_socket.messages(1.2)
        release.set()
        assert notify_socket.wait_for("WATCHDOG=1", 3.0) >= 0  # alive again
    finally:
        release.set()
        stop.set()
        runner.join(15)
        central.stop()
