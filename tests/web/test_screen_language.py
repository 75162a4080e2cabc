"""The officer's screen shows the codes a gate's status holds (device fault parts, a list's kind and policy, a
list problem's reason) in the officer's language, over real HTTP against a running lab gate; a code no table
knows (a part added by a newer agent, say) is shown as stored."""

from __future__ import annotations

import pytest

from tests.support.screen import OFFICER, PASSWORD, running_gate
from tests.support.webclient import Client

WORDS = {
    "fr": {"camera": "Caméra", "outbox_space": "Espace disque des événements", "document": "documents",
           "hit": "SIGNALÉ", "disk full": "disque plein"},
    "ar": {"camera": "الكاميرا", "outbox_space": "مساحة القرص للأحداث", "document": "الوثائق", "hit": "تطابق",
           "disk full": "القرص ممتلئ"},
}


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_device_faults_and_list_policy_are_shown_in_the_officers_language_and_unknown_codes_as_stored(tmp_path,
                                                                                                   lang):
    words = WORDS[lang]
    with running_gate(tmp_path, devices={"camera": "v4l2:///dev/video-missing"}) as app:
        assert app.screener is not None
        app.screener.set_fault("outbox_space", "disk full: the outbox's 64 KiB space reserve is used or missing")
        app.screener.set_fault("sonar", "echo lost")
        app.screen.refresh(app.status())
        c = Client(app.screen.url)
        csrf = c.sign_in(OFFICER, PASSWORD)
        assert c.request("/lang", {"lang": lang, "csrf": csrf}).status == 303
        page = c.request("/").read().decode()
    for code in ("camera", "outbox_space"):
        assert f'data-code="{code}" title="{code}">{words[code]}</span>' in page, code
    assert f"{words['disk full']}: the outbox&#39;s 64 KiB space reserve" in page, \
        "the kind of the fault is not translated, or the part's own detail is not shown"
    assert 'data-code="sonar" title="sonar">sonar</span>' in page
    assert f'title="document">{words["document"]}</span>' in page, "the list's kind is not shown"
    assert f'title="hit">{words["hit"]}</span>' in page, "the list's policy on a match is not shown"



def test_in_arabic_a_lists_kinds_are_joined_with_the_arabic_comma(tmp_path):
    """The kinds a list governs were joined with the ASCII ", " on the Arabic screen (agent/web/i18n.py listing)."""
    hitlist = {"records": "listed.jsonl", "version": 12, "governs": ["document", "person"]}
    with running_gate(tmp_path, hitlist=hitlist) as app:
        assert app.screen is not None
        c = Client(app.screen.url)
        csrf = c.sign_in(OFFICER, PASSWORD)
        assert c.request("/lang", {"lang": "ar", "csrf": csrf}).status == 303
        page = c.request("/").read().decode()
    assert 'title="document">الوثائق</span>، <span class="kind" data-code="person"' in page
