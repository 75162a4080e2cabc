"""Fixtures for the web tests: real headless Chromium (Debian's, driven by Playwright: no browser download)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module (root needs --no-sandbox)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: install Debian's chromium (./tools/dev test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context and page (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    p = context.new_page()
    p.set_default_timeout(10_000)
    yield p
    context.close()


@pytest.fixture
def shots(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``shots(page, name)`` saves a screenshot of the whole page (``full_page=False``: of what the screen shows,
    for a booth screen's fold) in the test's tmp dir; with ``SHARAKA_SCREENSHOTS=1`` in the environment also in
    docs/screenshots/ (docs/screen.md, "Screenshots")."""
    import os

    def take(page, name: str, *, full_page: bool = True) -> Path:  # type: ignore[no-untyped-def]
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if os.environ.get("SHARAKA_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)
        return path

    return take
