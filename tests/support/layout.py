"""Layout facts of a page in real Chromium (Playwright), measured as the user sees them: boxes in the viewport,
sideways overflow, target sizes, WCAG contrast of computed colours (tests/web/test_screen_layout.py)."""

from __future__ import annotations

import re
from typing import Any


def box(page: Any, selector: str) -> dict[str, float]:
    """The element's box in the viewport (before any scrolling)."""
    return page.evaluate("""s => { const b = document.querySelector(s).getBoundingClientRect();
                                   return {left: b.left, top: b.top, right: b.right, bottom: b.bottom}; }""", selector)


def on_screen(page: Any, selector: str) -> bool:
    """Whether ``selector`` is wholly in the viewport of a page scrolled to its top."""
    b, size = box(page, selector), page.viewport_size
    return b["left"] >= 0 and b["top"] >= 0 and b["right"] <= size["width"] and b["bottom"] <= size["height"]


def overlap(a: dict[str, float], b: dict[str, float], margin: float = 0) -> bool:
    """Whether boxes ``a`` (grown by ``margin`` each way) and ``b`` cover each other."""
    return (a["left"] - margin < b["right"] and b["left"] < a["right"] + margin
            and a["top"] - margin < b["bottom"] and b["top"] < a["bottom"] + margin)


def horizontal_overflow(page: Any) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def small_targets(page: Any, px: int) -> list[tuple[str, int, int]]:
    """The visible controls and links narrower or lower than ``px``: (what, width, height)."""
    return [tuple(t) for t in page.evaluate("""px => [...document.querySelectorAll(
        'button, select, input:not([type=hidden]), summary, a[href]')].filter(e => e.offsetParent)
        .map(e => { const b = e.getBoundingClientRect();
                    return [e.id || e.name || e.textContent.trim(), Math.round(b.width), Math.round(b.height)]; })
        .filter(t => t[1] < px || t[2] < px)""", px)]


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two computed CSS colours (``rgb(r, g, b)``)."""
    def luminance(css: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def style(page: Any, selector: str, prop: str) -> str:
    """The computed CSS property ``prop`` (camelCase) of the first element ``selector`` matches."""
    return str(page.evaluate("([s, p]) => getComputedStyle(document.querySelector(s))[p]", [selector, prop]))
