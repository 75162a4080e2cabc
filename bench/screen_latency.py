"""Swipe-to-screen latency of the officer's screen: from the swipe on the simulated reader to the decision on
the page in a real headless Chromium, over the live stream, without a reload.

    python bench/screen_latency.py [--count 100] [--browsers 1]

A lab gate (the real agent: pty reader, outbox with fsync, indicators on the register-level chip model) serves
its screen on loopback; ``--browsers`` officers are signed in (each a Chromium page with its own session and
stream). Each document is swiped, one at a time, alternating a listed and a clear passport with distinct
numbers (no duplicate suppression), and the time runs from just before the swipe to the moment the page's
script swaps in the new decision (``data-updated``, the browser's clock, the same machine's). Printed: p50,
p99 and max of swipe-to-screen and of its screen part (decision committed and shown on the indicators, to the
page), per browser. Needs Debian's chromium (``./tools/dev`` installs it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.gatesim import VALID_UNTIL  # noqa: E402
from tests.support.screen import OFFICER, PASSWORD, running_gate  # noqa: E402
from tools.officer_demo import CHROMIUM  # noqa: E402
from tools.specimens import td3  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--browsers", type=int, default=1)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    total: list[float] = []
    screen_part: list[float] = []
    with tempfile.TemporaryDirectory(prefix="screen-bench-") as tmp, running_gate(Path(tmp)) as app, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pages = []
        for _ in range(args.browsers):
            page = browser.new_context().new_page()
            page.goto(app.screen.url + "/login")
            page.fill("#user", OFFICER)
            page.fill("#password", PASSWORD)
            page.click("#signin")
            page.wait_for_selector("#live:not(.down)")  # CSS, not a JS predicate: the page's CSP forbids eval
            pages.append(page)
        decided: list[float] = []
        notify = app.screener.on_decided
        app.screener.on_decided = lambda passage: (decided.append(time.time()), notify(passage))
        for i in range(args.count):
            listed = i % 2 == 0
            number = "L898902C3" if listed and i % 4 == 0 else f"B{i:08d}"
            lines = td3("UTO", "ERIKSSON" if listed else "SPECIMEN", "ANNA", number, "740812", "F", VALID_UNTIL)
            before = [p.get_attribute("#current", "data-updated") for p in pages]
            t0 = time.time()
            app.reader.device.swipe(lines)
            for page, old in zip(pages, before, strict=True):
                page.wait_for_selector(f"#current[data-updated]:not([data-updated='{old}']) .current")
                shown = int(page.get_attribute("#current", "data-updated")) / 1000
                total.append(shown - t0)
                screen_part.append(shown - decided[-1])
            time.sleep(0.05)
        browser.close()
    for name, values in (("swipe to screen", total), ("screen part (decision to page)", screen_part)):
        print(f"{name:32s} n={len(values)} p50={statistics.median(values) * 1e3:.1f} ms "
              f"p99={pct(values, 0.99) * 1e3:.1f} ms max={max(values) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
