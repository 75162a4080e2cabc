"""The Host check against DNS rebinding (agent/web/hosts.py): which names a site answers to, by listening
address and configured names. Over HTTP: tests/web/test_web_security.py, the browser: test_screen_browser.py."""

from __future__ import annotations

import pytest

from agent.web.hosts import accepted_hosts, is_accepted, is_host_name

CASES = [
    ("127.0.0.1", (), "127.0.0.1:8080", True),
    ("127.0.0.1", (), "localhost:8080", True),
    ("127.0.0.1", (), "LOCALHOST.", True),
    ("127.0.0.1", (), "[::1]:8080", True),
    ("127.0.0.1", (), "rebind.attacker.example:8080", False),
    ("127.0.0.1", (), "10.0.0.5:8080", False),
    ("127.0.0.1", ("gate-7",), "Gate-7:8443", True),
    ("localhost", (), "127.0.0.1", True),
    ("10.0.0.5", ("gate-7",), "10.0.0.5:8443", True),
    ("10.0.0.5", ("gate-7",), "localhost:8443", False),
    ("10.0.0.5", ("gate-7",), "gate-7.attacker.example", False),
    ("::1", (), "[0:0:0:0:0:0:0:1]:8080", True),
    ("0.0.0.0", ("gate-7",), "192.0.2.9:8443", True),
    ("0.0.0.0", ("gate-7",), "gate-7:8443", True),
    ("0.0.0.0", ("gate-7",), "rebind.attacker.example", False),
    ("127.0.0.1", (), "evil.example:80:80", False),
    ("127.0.0.1", (), "", False),
]


@pytest.mark.parametrize(("listen", "names", "host", "accepted"), CASES, ids=[
    "loopback_address", "localhost_on_loopback", "localhost_any_case_final_dot", "ipv6_loopback_on_loopback",
    "rebinding_name", "another_address", "configured_name", "listening_as_localhost", "interface_address",
    "localhost_off_loopback", "name_under_an_attackers_domain", "ipv6_long_form", "any_address_takes_an_address",
    "any_address_takes_its_names", "any_address_refuses_other_names", "two_ports", "empty"])
def test_a_site_answers_only_to_its_own_names(listen, names, host, accepted):
    assert is_accepted(host, accepted_hosts(listen, names)) is accepted


@pytest.mark.parametrize(("name", "ok"), [
    ("gate-7", True), ("gate-7.border.example", True), ("10.0.0.5", True), ("::1", True),
    ("-gate", False), ("gate_7", False), ("gate 7", False), ("", False), ("a" * 64, False),
], ids=["name", "dotted_name", "ipv4", "ipv6", "leading_hyphen", "underscore", "space", "empty", "long_label"])
def test_configured_names_are_dns_names_or_addresses(name, ok):
    assert is_host_name(name) is ok
