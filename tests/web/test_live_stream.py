"""The pages' live stream across outages, in real headless Chromium (agent/web/static/live.js with GET /session,
shared by the officer's screen and the operators' console): the page reached through a TCP proxy that the test
takes down (connections reset, as a gate rebooting its network or a cable pulled) or points at a front that
answers 502 (a reverse proxy whose upstream is out of reach). A session that ended meanwhile sends the page to
the sign-in form, which says why in the page's language; a session that lives gets its stream back by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.console import OFFICER as CONSOLE_OFFICER
from tests.support.console import add_search, running_console, sign_in
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC
from tests.support.netproxy import NetProxy
from tests.support.screen import OFFICER, PASSWORD, running_gate
from tests.support.wait import wait_until
from tests.support.webclient import BadGateway


def _out_of_reach(proxy: NetProxy) -> int:
    """Take the link down (the open stream reset, new connections refused); returns the refusals so far."""
    refused = proxy.refused
    proxy.refuse()
    proxy.cut()
    return refused


def test_officer_session_ending_while_the_stream_is_down_sends_the_page_to_sign_in_saying_so(tmp_path, page, shots):
    with running_gate(tmp_path) as app, NetProxy(app.screen.server.port) as proxy:
        url = f"http://{proxy.host}:{proxy.port}"
        sign_in(page, url, OFFICER, PASSWORD)
        page.click("button[lang=ar]")
        page.wait_for_selector("html[dir=rtl][lang=ar]")
        page.wait_for_selector("#live:not(.down)")  # CSS, not a JS predicate: the page's CSP forbids eval
        screen = page.url
        refused = _out_of_reach(proxy)
        page.wait_for_selector("#live.down")
        app.screen.site.sessions.idle_s = 0.0  # the officer's idle time runs out while the stream is down
        assert wait_until(lambda: proxy.refused >= refused + 2, 20), "the page stopped trying to reconnect"
        assert page.url == screen, "the page left while the gate was out of reach"
        proxy.passthrough()
        page.wait_for_url("**/login?ended=1")
        assert page.inner_text("#session-ended") == "انتهت جلستك: سجّل الدخول مجددًا."
        assert page.get_attribute("html", "dir") == "rtl"
        shots(page, "officer-screen-session-ended")


def test_officer_stream_outage_with_a_live_session_goes_live_again_and_shows_the_next_hit(tmp_path, page):
    with running_gate(tmp_path) as app, NetProxy(app.screen.server.port) as proxy:
        url = f"http://{proxy.host}:{proxy.port}"
        sign_in(page, url, OFFICER, PASSWORD)
        page.wait_for_selector("#live:not(.down)")
        page.evaluate("window.sameDocument = true")  # gone if the page reloads
        refused = _out_of_reach(proxy)
        page.wait_for_selector("#live.down")
        assert wait_until(lambda: proxy.refused >= refused + 2, 20), "the page stopped trying to reconnect"
        proxy.passthrough()
        page.wait_for_selector("#live:not(.down)")
        app.reader.device.swipe(LISTED_DOC)
        page.wait_for_selector("#verdict.HIT")
        assert page.evaluate("window.sameDocument === true"), "the page reloaded"
        assert page.query_selector("#live.down") is None


def test_officer_screen_with_its_stream_down_says_so_and_greys_the_old_decision_then_shows_the_current_one(tmp_path,
                                                                                                            page):
    """The link to the gate drops with a CLEAR on the screen: the page must not go on showing it as the current
    decision (the next traveller may be a HIT the page cannot hear of). It says so above the decision in plain
    words and greys the decision out; back on line, it shows the decision made meanwhile, not greyed."""
    with running_gate(tmp_path) as app, NetProxy(app.screen.server.port) as proxy:
        url = f"http://{proxy.host}:{proxy.port}"
        sign_in(page, url, OFFICER, PASSWORD)
        page.wait_for_selector("#live:not(.down)")
        app.reader.device.swipe(CLEAR_DOC)
        page.wait_for_selector("#verdict.CLEAR")
        assert not page.is_visible("#offline")
        opacity = "getComputedStyle(document.querySelector('.current')).opacity"
        assert page.evaluate(opacity) == "1"
        _out_of_reach(proxy)
        page.wait_for_selector("#live.down")
        page.wait_for_selector("#offline", state="visible")
        assert "No connection to the gate" in page.inner_text("#offline")
        assert float(page.evaluate(opacity)) < 0.5, "the old CLEAR still looks current"
        app.reader.device.swipe(LISTED_DOC)  # decided while the page cannot hear of it
        proxy.passthrough()
        page.wait_for_selector("#live:not(.down)", timeout=30_000)
        page.wait_for_selector("#verdict.HIT")
        assert "L898902C3" in page.inner_text("#document-fields") and "MUSTERMANN" not in page.inner_text("#current")
        assert not page.is_visible("#offline")
        assert page.evaluate(opacity) == "1"


def test_officer_stream_gone_silent_without_closing_is_noticed_and_replaced(tmp_path, page):
    """A half-open stream (the link drops everything, nothing is closed: a NAT or a switch losing its state)
    looks like a quiet one to the browser. The stream pings every ``heartbeat_s`` (1 s here, 15 s by default);
    three beats without a word and the page shows "reconnecting…" and opens a new stream once the link is back."""
    with running_gate(tmp_path) as app, NetProxy(app.screen.server.port) as proxy:
        app.screen.site.heartbeat_s = 1.0
        url = f"http://{proxy.host}:{proxy.port}"
        sign_in(page, url, OFFICER, PASSWORD)
        page.wait_for_selector("#live:not(.down)")
        page.evaluate("window.sameDocument = true")
        proxy.blackhole()
        page.wait_for_selector("#live.down")
        proxy.passthrough()
        page.wait_for_selector("#live:not(.down)", timeout=30_000)  # the probe waits out its back-off
        app.reader.device.swipe(LISTED_DOC)
        page.wait_for_selector("#verdict.HIT")
        assert page.evaluate("window.sameDocument === true"), "the page reloaded"


@contextmanager
def console_behind_a_failing_front(tmp_path: Path, page: Any, lang: str = "en") -> Iterator[tuple[Any, Callable[[], None]]]:
    """An operator's live console page (in ``lang``) reached through a proxy that then points at a front answering
    502, until the page has seen its stream fail and asked for its session (502 too); yields the console and
    ``restore()``, which points the proxy at the console again."""
    from tools.central.store import CentralStore

    store = CentralStore(tmp_path / "central.db")
    try:
        with running_console(store, tmp_path / "operators.sqlite3") as console, \
                NetProxy(console.server.port) as proxy, BadGateway() as front:
            sign_in(page, f"http://{proxy.host}:{proxy.port}", CONSOLE_OFFICER)
            if lang != "en":
                page.click(f"button[name=lang][value={lang}]")
                page.wait_for_selector(f"html[lang={lang}]")
            page.wait_for_selector("#live:not(.down)")
            page.evaluate("window.sameDocument = true")  # gone if the page reloads
            proxy.upstream = front.address
            proxy.cut()
            page.wait_for_selector("#live.down")
            assert wait_until(lambda: "/session" in front.paths, 20), front.paths
            yield console, lambda: setattr(proxy, "upstream", ("127.0.0.1", console.server.port))
    finally:
        store.close()


def test_console_behind_a_front_answering_502_goes_live_again_while_the_session_lives(tmp_path, page):
    """The browser gives up on a stream answered 502 (an HTTP error, not a network one): only the page's own
    check of its session (GET /session, 502 too, then 204) brings the stream back."""
    with console_behind_a_failing_front(tmp_path, page) as (console, restore):
        restore()
        page.wait_for_selector("#live:not(.down)")
        add_search(console.config.store, "gate-9", "port-b", time.time(), hit=True)
        page.wait_for_selector(".hit[data-gate=gate-9]")
        assert page.evaluate("window.sameDocument === true"), "the page reloaded"


def test_console_session_ending_behind_a_front_answering_502_sends_the_page_to_sign_in_saying_so(tmp_path, page):
    with console_behind_a_failing_front(tmp_path, page, "fr") as (console, restore):
        console.site.sessions.idle_s = 0.0  # the operator's idle time runs out while the console is unreachable
        restore()
        page.wait_for_url("**/login?ended=1")
        assert page.inner_text("#session-ended") == "Votre session a pris fin : reconnectez-vous."
