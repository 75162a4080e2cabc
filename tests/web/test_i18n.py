"""The pages' catalogues (agent/web/i18n.py, tools/catalogues.py): every string the pages use is translated in
French and Arabic, the committed .mo files are compiled from the committed .po sources, Arabic is right to left."""

from __future__ import annotations

import pytest

from agent.web.i18n import LOCALE_DIR, Catalogues, listing, negotiate
from tests.support.paths import REPO
from tools.catalogues import LOCALE_DIRS, compile_mo, main, parse_po, po_files


def test_every_used_string_is_translated_and_every_mo_is_up_to_date(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().err


def test_compiled_catalogue_round_trips_through_stdlib_gettext(tmp_path):
    import gettext

    mo = tmp_path / "x.mo"
    mo.write_bytes(compile_mo({"": "Content-Type: text/plain; charset=UTF-8\n", "Sign in": "تسجيل الدخول",
                               "untranslated": ""}))
    with mo.open("rb") as f:
        t = gettext.GNUTranslations(f)
    assert t.gettext("Sign in") == "تسجيل الدخول"
    assert t.gettext("untranslated") == "untranslated"


@pytest.mark.parametrize("locale_dir", LOCALE_DIRS, ids=["gate", "console"])
def test_catalogues_cover_arabic_french_english(locale_dir):
    langs = sorted(p.parent.parent.name for p in po_files(locale_dir))
    assert langs == ["ar", "en", "fr"]
    for p in po_files(locale_dir):
        assert parse_po(p.read_text(encoding="utf-8"))


def test_console_reads_its_own_catalogue_then_the_gates():
    from tools.central.console import HERE

    c = Catalogues([HERE / "locale", LOCALE_DIR])
    assert c.get("fr").gettext("Live hits") == "Signalements en direct"  # the console's own
    assert c.get("fr").gettext("Sign in") == "Se connecter"  # the foundation's, from the gate's catalogue
    assert c.get("ar").gettext("Federation") != "Federation" and c.direction("ar") == "rtl"


def test_a_console_string_left_untranslated_is_reported(tmp_path, monkeypatch, capsys):
    """The check can fail: a console template string missing from the French catalogue is named."""
    from tools import catalogues

    console = tmp_path / "console"
    (console / "templates").mkdir(parents=True)
    (console / "templates" / "x.html").write_text('{{ _("A string nobody translated") }}')
    monkeypatch.setitem(catalogues.SOURCES, catalogues.CONSOLE, [console])
    assert main(["--check"]) == 1
    assert "fr/LC_MESSAGES/sharaka.po: no translation of 'A string nobody translated'" in capsys.readouterr().err


def test_arabic_is_rtl_and_translated():
    c = Catalogues()
    assert c.direction("ar") == "rtl" and c.direction("fr") == "ltr"
    assert c.get("ar").gettext("Sign in") != "Sign in"
    assert c.get("fr").gettext("Sign in") == "Se connecter"
    assert c.get("xx").gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(("header", "lang"), [
    ("ar-MA,ar;q=0.9,fr;q=0.8", "ar"), ("de-DE,fr;q=0.5,en;q=0.7", "en"), ("de", "fr"), ("", "fr"),
    ("fr;q=0,en;q=0.1", "en"), ("ar;q=bad,fr", "fr"),
], ids=["arabic_first", "quality_order", "none_of_ours", "no_header", "zero_quality_excluded", "bad_quality"])
def test_accept_language_negotiation(header, lang):
    assert negotiate(header, default="fr") == lang


def test_a_failed_check_digit_is_named_in_the_officers_language():
    """A REFER for a check digit names the field whose check failed (``check_digit:NAME``, agent/screening/
    decision.py) in words, not as the stored code (agent/web/codes.py REASONS)."""
    from agent.web.codes import REASONS, label

    fr = Catalogues().get("fr").gettext
    assert label(str, REASONS, "check_digit:document_number") == "Check digit wrong: document number"
    assert label(fr, REASONS, "check_digit:birth_date") == "Chiffre de contrôle erroné: date de naissance"
    assert label(str, REASONS, "check_digit:composite") == "Check digit wrong: overall check digit"


def test_every_reason_a_refer_can_give_has_a_next_step_for_the_officer():
    """Each reason docs/config.md "Reasons" lists (a REFER can give any of them: an exact match too, in a list
    whose policy refers), the weak match of a list whose names cannot be searched, and the qualifiers of a
    decision made without the centre each tell the officer what to do next (agent/web/codes.py NEXT_STEPS), in
    French and Arabic too (the catalogue check above)."""
    import re
    from pathlib import Path

    from agent.web.codes import NEXT_STEPS, QUALIFIERS, next_steps

    table = Path(__file__).parents[2].joinpath("docs", "config.md").read_text().split("Reasons (an event lists")[1]
    rows = [line.split("|")[1] for line in table.split("\n\n")[1].splitlines()[2:]]
    reasons = {code.split(":")[0] for row in rows for code in re.findall(r"`([a-z_:<>]+)`", row)}
    assert {"check_digit", "unreadable", "expired", "possible_person_match", "list_stale"} <= reasons, reasons
    for code in (*sorted(reasons), "possible_person_match:normaliser_mismatch", *QUALIFIERS):
        assert next_steps(str, [code]), f"no next step for {code!r}"
    assert next_steps(str, ["check_digit:birth_date", "check_digit:composite", "expired"]) == [
        NEXT_STEPS["check_digit"], NEXT_STEPS["expired"]], "each step once, in the order of the reasons"
    assert next_steps(str, ["possible_person_match:normaliser_mismatch"]) != next_steps(str, ["possible_person_match:"
                                                                                                "wanted"])
    fr = Catalogues().get("fr").gettext
    assert next_steps(fr, ["unreadable"]) == ["Vérifiez le document à la main et saisissez sa bande MRZ"]


@pytest.mark.parametrize(("lang", "joined"), [("ar", "أ، ب"), ("fr", "a, b"), ("en", "a, b")], ids=["ar", "fr", "en"])
def test_a_list_of_words_is_joined_as_the_language_joins_it(lang, joined):
    """Arabic lists were joined with the ASCII ", " where Arabic writes "، "."""
    items = ["أ", "ب"] if lang == "ar" else ["a", "b"]
    assert listing(Catalogues().get(lang).gettext, items) == joined


def test_a_listing_escapes_plain_words_and_keeps_markup():
    from markupsafe import Markup

    assert listing(str, ["<b>", Markup("<i>x</i>")]) == "&lt;b&gt;, <i>x</i>"
    assert listing(str, ["a", "b"], str.upper) == "A, B"


def test_no_page_joins_a_list_with_a_bare_comma():
    """Every list on the officer's screen and the console goes through ``listing`` (its separator translated)."""
    import re

    bare = re.compile(r"""join\(\s*["'], ["']\s*\)|["'], ["'] if not loop\.last""")
    offenders = [str(p.relative_to(REPO)) for d in ("agent/web", "agent/screen", "tools/central/console")
                 for p in sorted((REPO / d).rglob("*.html")) if bare.search(p.read_text())]
    assert offenders == []
