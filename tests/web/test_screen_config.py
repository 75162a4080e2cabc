"""[screen] is checked when the config loads (agent/config.py): off loopback only over HTTPS."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, load_config
from tests.support.gatesim import write_app_config


@pytest.mark.parametrize(("screen", "problem"), [
    ({"enabled": True, "listen": "10.0.0.5"}, "[screen] listen = '10.0.0.5': not loopback, and no certificate"),
    ({"enabled": True, "listen": "booth.local"}, "[screen] listen = 'booth.local': expected an IP address"),
    ({"enabled": True, "port": 70000}, "[screen] port = 70000: expected 0..65535"),
    ({"enabled": True, "language": "de"}, "[screen] language = 'de': expected one of 'ar', 'fr', 'en'"),
    ({"enabled": True, "session_idle_s": 1}, "[screen] session_idle_s = 1: expected a number >= 30"),
], ids=["interface_without_certificate", "host_name_not_address", "port_out_of_range", "unknown_language",
        "idle_timeout_too_short"])
def test_bad_screen_config_is_refused_at_load(tmp_path, screen, problem):
    with pytest.raises(ConfigError) as exc:
        load_config(write_app_config(tmp_path, screen=screen))
    assert problem in str(exc.value)


def test_interface_with_the_links_device_certificate_is_accepted(tmp_path):
    (tmp_path / "gate.crt").write_text("cert")
    (tmp_path / "gate.key").write_text("key")
    (tmp_path / "ca.crt").write_text("ca")
    cfg = load_config(write_app_config(tmp_path, screen={"enabled": True, "listen": "10.0.0.5"},
                                       link={"cert_file": "gate.crt", "key_file": "gate.key", "ca_file": "ca.crt"}))
    assert cfg.screen.listen == "10.0.0.5" and cfg.screen.cert_file is None


def test_screen_that_cannot_listen_is_a_fault_and_the_gate_screens_on(tmp_path):
    import socket

    from tests.support.gatesim import LISTED_DOC
    from tests.support.screen import running_gate_unchecked
    from tests.support.wait import wait_until

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with running_gate_unchecked(tmp_path, screen={"port": taken.getsockname()[1]}) as app:
            assert wait_until(lambda: "screen" in app.status()["faults"], 10)
            app.reader.device.swipe(LISTED_DOC)
            assert wait_until(lambda: app.screener.counts["HIT"] == 1, 5)
    finally:
        taken.close()
