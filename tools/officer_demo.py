"""The demo's officer's-screen step: a real headless Chromium signs in to gate-1's screen, a listed passport is
swiped, the HIT appears without a reload, the officer acknowledges it and the acknowledgement is stored at the
centre; a screenshot of the hit is saved in the demo's directory.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``./tools/dev``) driven by Playwright, as the browser
tests do (tests/web/conftest.py); nothing is downloaded.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

CHROMIUM = "/usr/bin/chromium"
OFFICER, PASSWORD = "amina", "demo officer passphrase"


def enrol_officer(app: Any) -> None:
    """Give gate ``app`` the demo officer's account (what ``sharaka-gate officer add`` does)."""
    from agent.screen import accounts_for

    accounts = accounts_for(app.config)
    try:
        accounts.add(OFFICER, PASSWORD)
    finally:
        accounts.close()


def officer_acks_at_centre(central_db: Path, gate_id: str) -> list[dict[str, Any]]:
    """The ``ack_hit`` officer events the centre stored for ``gate_id`` (read-only look at its SQLite file)."""
    db = sqlite3.connect(f"file:{central_db}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT body FROM events WHERE gate_id=? AND kind='officer'", (gate_id,)).fetchall()
    finally:
        db.close()
    events = [msgpack.unpackb(body, raw=False) for (body,) in rows]
    return [e for e in events if e.get("action") == "ack_hit"]


def run(app: Any, swipe: Callable[[], Any], central_db: Path, screenshot: Path,
        wait_until: Callable[[Callable[[], Any], float], bool]) -> tuple[bool, str, list[str]]:
    """Drive the step; returns (passed, the CHECK line's detail, ids of the officer events it made)."""
    if app.screen is None:
        return False, "gate-1 serves no officer's screen (see its status faults)", []
    if not Path(CHROMIUM).exists():
        return False, f"{CHROMIUM} missing: install Debian's chromium (./tools/dev demo does)", []
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            page.goto(app.screen.url + "/login")
            page.fill("#user", OFFICER)
            page.fill("#password", PASSWORD)
            page.click("#signin")
            page.wait_for_selector("#live:not(.down)")  # CSS, not a JS predicate: the page's CSP forbids eval
            page.evaluate("window.sameDocument = true")  # gone if the page reloads
            t0 = time.perf_counter()
            swipe()
            page.wait_for_selector("#verdict.HIT")
            shown_ms = (time.perf_counter() - t0) * 1e3
            ref = page.inner_text("#hit-ref")
            reloaded = not page.evaluate("window.sameDocument === true")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            event_id = page.get_attribute(".current", "data-event")
            page.click("#ack-hit")
            page.wait_for_selector("#acknowledged")
        finally:
            browser.close()
    at_centre = wait_until(lambda: any(e.get("event") == event_id for e in officer_acks_at_centre(
        central_db, app.config.gate.id)), 10)
    acks = [str(e["id"]) for e in officer_acks_at_centre(central_db, app.config.gate.id)]
    passed = not reloaded and at_centre and screenshot.exists()
    return passed, (f"HIT {ref} on the screen {shown_ms:.0f} ms after the swipe"
                    f"{' (the page RELOADED)' if reloaded else ' without a reload'}, acknowledged by {OFFICER}, "
                    f"acknowledgement {'stored' if at_centre else 'NOT stored'} at the centre; "
                    f"screenshot {screenshot}"), acks
