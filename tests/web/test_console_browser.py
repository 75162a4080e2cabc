"""The operators' console in real headless Chromium (Debian's chromium driven by Playwright), against a real
gate on simulated hardware, a real Mosquitto and the real central node: signing in, a hit appearing on the
console after the swipe without a reload, acknowledging it, issuing an alert, the picture's charts."""

from __future__ import annotations

import time
from pathlib import Path

from nacl.signing import SigningKey

from agent.durable import atomic_write
from tests.support.console import OFFICER, running_console, sign_in
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC
from tests.support.link import Keys, make_central
from tests.support.screen import running_gate
from tools.central.cli import main as central_cli


def _gate_and_centre(broker, tmp_path: Path):  # type: ignore[no-untyped-def]
    """(central node, link section of the gate config, on_open enrolling the gate at the centre)."""
    keys = Keys(node=SigningKey.generate())
    atomic_write(tmp_path / "node.pub", bytes(keys.node.verify_key))
    _, password = broker.add_gate("gate-a")
    (tmp_path / "pw").write_text(password)
    central = make_central(broker, tmp_path / "central.db", keys)

    def enrol(app):  # type: ignore[no-untyped-def]
        assert central_cli(["enrol", "--db", str(tmp_path / "central.db"), "--gate", "gate-a",
                            "--pub", str(tmp_path / "state" / "device.key.pub")]) == 0

    link = {"enabled": True, "port": broker.port, "password_file": "pw", "node_pub": "node.pub"}
    return central, link, enrol


def test_hit_at_a_real_gate_appears_on_the_console_within_a_second_and_is_acknowledged(broker, tmp_path, page, shots):
    central, link, enrol = _gate_and_centre(broker, tmp_path)
    try:
        with running_gate(tmp_path, link=link, on_open=enrol) as app, \
                running_console(tmp_path / "central.db", tmp_path / "operators.sqlite3") as console:
            assert app.link.wait_for_connected(10)
            url = console.server.url
            page.goto(url + "/")
            assert page.url.endswith("/login"), "the console was shown without signing in"
            sign_in(page, url, OFFICER)
            page.wait_for_selector("#live:not(.down)")  # CSS, not a JS predicate: the CSP forbids eval
            decided: list[float] = []
            notify = app.screener.on_decided
            app.screener.on_decided = lambda passage: (decided.append(time.time()), notify(passage))
            page.evaluate("window.sameDocument = true")  # gone if the page reloads
            swiped = time.time()
            app.reader.device.swipe(LISTED_DOC)
            page.wait_for_selector(".hit[data-gate=gate-a] .ref", timeout=5000)
            shown = int(page.get_attribute("#hits", "data-updated")) / 1000  # the browser's Date.now()
            assert page.evaluate("window.sameDocument === true"), "the page reloaded"
            assert page.inner_text(".hit .ref") == "SLTD-0001"
            assert page.inner_text(".hit .reason") == "stolen"
            assert page.inner_text(".hit .site") == "site-a"
            assert "L898902C3" in page.inner_text(".hit .who")
            print(f"swipe to console {shown - swiped:.3f} s, decision to console {shown - decided[0]:.3f} s")
            assert shown - decided[0] < 1.0, f"decision to console {shown - decided[0]:.3f} s"
            shots(page, "console-hit")
            page.click(".hit button.ack")
            page.wait_for_selector("#notice")
            assert page.inner_text(".hit .acked") == f"acknowledged by {OFFICER}"
            page.select_option(".hit select[name=outcome]", "intercepted")
            page.click(".hit button.record")
            page.wait_for_selector(".hit .outcome")
            assert page.inner_text(".hit .outcome") == "Intercepted"
            shots(page, "console-acknowledged")
            actions = [e["action"] for e in console.records.audit_log()]
            assert actions[:3] == ["hit_outcome", "hit_acknowledge", "sign_in"], actions
            page.goto(url + "/gates")
            page.wait_for_selector("tr[data-gate=gate-a].online")
            app.reader.device.swipe(CLEAR_DOC)  # a search without a hit: on the picture
            page.wait_for_selector("h3.site:has-text('site-a')", timeout=15_000)  # the site its events name
            shots(page, "console-gates")
            page.goto(url + "/picture")
            page.wait_for_selector("#chart-day[data-drawn='1'] canvas")
            page.wait_for_selector("#chart-site[data-drawn='1'] canvas")
            assert page.evaluate("document.querySelector('#chart-day canvas').width") > 0
            shots(page, "console-picture")
    finally:
        central.stop()
