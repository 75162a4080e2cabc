"""The officer's screen on the booth's touchscreens, in real headless Chromium: the Raspberry Pi 7" display
(800x480), Touch Display 2 (720x1280 portrait), 1024x600 and 1280x800, in English, French (the longest words)
and Arabic (right to left). What is measured is what the officer at the gate relies on: the decision and its
acknowledgement on the screen without scrolling, nothing wider than the screen, controls a finger can hit,
boxes that do not cover each other, decision colours that can be read, and document values left to right."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.gatesim import CENTRE_KEY, CLEAR_DOC, LISTED_DOC
from tests.support.layout import box, contrast, horizontal_overflow, on_screen, overlap, small_targets, style
from tests.support.screen import OFFICER, PASSWORD, running_gate
from tools.specimens import break_check, td3, years_from_now

BOOTH_SCREENS = ((800, 480), (720, 1280), (1024, 600), (1280, 800))
LANGUAGES = ("en", "fr", "ar")
TOUCH_PX = 44  # WCAG 2.5.5 target size for touch (2.5.8's minimum is 24)
# an expired passport with a wrong check digit: a REFER with three reasons and three next steps
REFER_DOC = break_check(td3("UTO", "DOE", "JANE", "D23456780", "700101", "F", "250101"))
# the whole 39-character name field of a TD3, one unbreakable surname
LONG_NAME_DOC = td3("UTO", "WOLFESCHLEGELSTEINHAUSENBERGERDORFF", "AB", "X12345678", "800101", "F", years_from_now(5))


@contextmanager
def booth_gate(tmp_path: Path, *, online_query: bool = False) -> Iterator[Any]:
    """A lab gate whose camera gives a face crop (astronaut.jpg); ``online_query``: the online query on and the
    centre out of reach, so that a CLEAR or REFER carries a qualifier."""
    from agent.vision.image import read_image
    from hal.camera.pnm import write_pnm
    from tests.support.paths import REPO

    frames = tmp_path / "frames"
    frames.mkdir()
    write_pnm(frames / "0001.ppm", read_image(REPO / "tests" / "data" / "vision" / "astronaut.jpg"))
    sections: dict[str, Any] = {"devices": {"camera": f"file://{frames}"}}
    if online_query:
        (tmp_path / "centre.pub").write_bytes(bytes(CENTRE_KEY.verify_key))
        sections["link"] = {"enabled": True, "port": 1, "node_pub": "centre.pub", "query": True,
                            "query_deadline_ms": 200}  # nothing listens on port 1: the centre is not reached
    with running_gate(tmp_path, **sections) as app:
        yield app


def booth_page(browser: Any, url: str, size: tuple[int, int], lang: str) -> Any:
    """A signed-in page of its own (context, cookies) on a screen of ``size`` in language ``lang``."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url + "/login")
    if lang != "en":
        page.click(f"button[lang={lang}]")
        page.wait_for_selector(f"html[lang={lang}]")
    page.fill("#user", OFFICER)
    page.fill("#password", PASSWORD)
    page.click("#signin")
    page.wait_for_selector("#live:not(.down)")  # CSS, not a JS predicate: the page's CSP forbids eval
    return page


def test_on_every_booth_screen_and_language_a_hit_and_its_acknowledgement_show_without_scrolling(tmp_path, browser,
                                                                                                  shots):
    """A HIT with its face crop, on each booth screen in each language, the page at its top: the decision word,
    the acknowledge button and the outcome's are on the screen without scrolling, nothing is wider than the
    screen, and every control (language buttons, sign out, the hit's and the manual entry's) is at least 44 px
    each way."""
    with booth_gate(tmp_path) as app:
        pages = {(size, lang): booth_page(browser, app.screen.url, size, lang)
                 for size in BOOTH_SCREENS for lang in LANGUAGES}
        app.reader.device.swipe(LISTED_DOC)
        for (size, lang), page in pages.items():
            page.wait_for_selector("#verdict.HIT")
            page.wait_for_selector("img.face")
            where = f"{size[0]}x{size[1]} {lang}"
            for what in ("#verdict", "#ack-hit", "#record-outcome"):
                assert on_screen(page, what), f"{what} is not on the {where} screen without scrolling: {box(page, what)}"
            assert horizontal_overflow(page) <= 0, f"{where}: {horizontal_overflow(page)} px wider than the screen"
            page.click("#manual summary")  # the manual entry's fields and buttons count too
            assert small_targets(page, TOUCH_PX) == [], f"{where}: controls under {TOUCH_PX} px"
            if (size, lang) == ((800, 480), "ar"):
                page.evaluate("window.scrollTo(0, 0)")  # the fold: what the officer sees without scrolling
                shots(page, "officer-screen-800x480-hit-arabic", full_page=False)
        for page in pages.values():
            page.context.close()


def test_a_long_refer_and_a_39_character_name_fit_the_800x480_screen_in_french_and_arabic(tmp_path, browser, shots):
    """At 800x480 in French and Arabic: a REFER with three reasons, three next steps, a qualifier (the centre out
    of reach) and the face crop; then a CLEAR of a passport whose name fills the TD3's 39-character field. Nothing
    is wider than the screen, the verdict's dashed outline (which takes no room of its own) covers neither the
    time beside it nor the qualifier under it, the qualifier and next-step boxes do not run under the face, the
    name stays inside the decision's box, and each verdict's colours are readable (WCAG AA: 4.5:1 for its text,
    3:1 for the coloured frame against the card)."""
    with booth_gate(tmp_path, online_query=True) as app:
        pages = {lang: booth_page(browser, app.screen.url, (800, 480), lang) for lang in ("fr", "ar")}
        app.reader.device.swipe(REFER_DOC)
        for lang, page in pages.items():
            page.wait_for_selector("#verdict.REFER.qualified")
            page.wait_for_selector("img.face")
            assert page.locator("#next-steps li").count() == 3 and page.locator(".reasons li").count() == 3
            assert horizontal_overflow(page) <= 0, f"{lang}: {horizontal_overflow(page)} px wider than the screen"
            assert on_screen(page, "#verdict")
            verdict, face = box(page, "#verdict"), box(page, "img.face")
            outline = 6 + 3  # app.css .verdict.qualified: outline width + offset
            for what in (".current > .muted", "#qualifiers"):
                assert not overlap(verdict, box(page, what), outline), f"{lang}: the outline covers {what}"
            for what in ("#qualifiers", "#next-steps"):
                assert not overlap(face, box(page, what)), f"{lang}: {what} runs under the face crop"
            if lang == "fr":
                shots(page, "officer-screen-800x480-refer-french", full_page=False)
        frames = {"REFER": contrast(style(pages["fr"], ".current", "borderTopColor"), "rgb(255, 255, 255)")}
        words = {"REFER": contrast(style(pages["fr"], "#verdict", "color"), style(pages["fr"], "#verdict", "backgroundColor"))}
        app.reader.device.swipe(LONG_NAME_DOC)
        for lang, page in pages.items():
            page.wait_for_selector("#current:has-text('WOLFESCHLEGELSTEINHAUSENBERGERDORFF')")
            assert horizontal_overflow(page) <= 0, f"{lang}: {horizontal_overflow(page)} px wider than the screen"
            surname = page.locator("#document-fields dd", has_text="WOLFESCHLEGEL").bounding_box()
            current = page.locator(".current").bounding_box()
            assert current["x"] <= surname["x"] and surname["x"] + surname["width"] <= current["x"] + current["width"]
        for verdict, doc in (("CLEAR", None), ("HIT", LISTED_DOC)):
            if doc is not None:
                app.reader.device.swipe(doc)
            page = pages["fr"]
            page.wait_for_selector(f"#verdict.{verdict}")
            frames[verdict] = contrast(style(page, ".current", "borderTopColor"), "rgb(255, 255, 255)")
            words[verdict] = contrast(style(page, "#verdict", "color"), style(page, "#verdict", "backgroundColor"))
        assert min(words.values()) >= 4.5, words
        assert min(frames.values()) >= 3.0, frames
        for page in pages.values():
            page.context.close()


def test_in_arabic_what_is_typed_from_a_document_stays_left_to_right(tmp_path, browser):
    """A document number, a date or a VIN typed on the Arabic page is written left to right as the document
    prints it (in a right-to-left field "1234 AB 75" would show as "AB 75 1234" while typed); the override's free
    text follows its own words; the values shown from the document stay left to right too."""
    with booth_gate(tmp_path) as app:
        page = booth_page(browser, app.screen.url, (800, 480), "ar")
        app.reader.device.swipe(CLEAR_DOC)
        page.wait_for_selector("#verdict.CLEAR")
        page.click("#manual summary")
        for name in ("issuing_state", "document_number", "nationality", "surname", "given_names", "birth_date",
                     "expiry_date"):
            field = f"#manual-document input[name={name}]"
            assert style(page, field, "direction") == "ltr", f"{name} is typed right to left"
        page.fill("#override-actions input[name=reason]", "Passport C01X00T47 seen")
        assert style(page, "#override-actions input[name=reason]", "direction") == "ltr"  # dir="auto": its words
        page.fill("#override-actions input[name=reason]", "جواز السفر C01X00T47")
        assert style(page, "#override-actions input[name=reason]", "direction") == "rtl"
        assert all(d == "ltr" for d in page.eval_on_selector_all(
            "#document-fields dd", "dds => dds.map(d => getComputedStyle(d).direction)"))
        page.context.close()
