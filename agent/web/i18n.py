"""The pages' languages: stdlib ``gettext`` catalogues compiled from the committed ``.po`` sources.

    >>> catalogues = Catalogues([Path(agent.web.__file__).parent / "locale"])
    >>> t = catalogues.get("ar"); t.gettext("Sign in"), catalogues.direction("ar")
    ('تسجيل الدخول', 'rtl')

Arabic, French and English (the languages of the countries the system serves); Arabic pages are laid
out right to left. Each directory given holds ``LANG/LC_MESSAGES/sharaka.po`` and the ``.mo`` that
``python -m tools.catalogues`` compiles from it (both committed; tests/web/test_i18n.py checks they agree
and that every string the pages use is translated). A console built on this package passes its own
locale directory first; later directories fill in what it does not translate.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

DOMAIN = "sharaka"
LANGUAGES: dict[str, tuple[str, str]] = {  # code -> (name in that language, text direction)
    "ar": ("العربية", "rtl"),
    "fr": ("Français", "ltr"),
    "en": ("English", "ltr"),
}
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Unicode's bidirectional marks, embeddings, overrides and isolates (UAX #9). In a value a page shows they would
reorder what surrounds them: U+202E before a name shows it reversed, an RLM between digits swaps their groups, so a
document number or an account name reads as another. No translation uses them (``dir`` does their work)."""
_NEUTRALISED = dict.fromkeys(map(ord, BIDI_CONTROLS), "\ufffd")


class Catalogues:
    """The compiled catalogues of every language, loaded once; see the module docstring."""

    def __init__(self, dirs: list[Path] | None = None) -> None:
        dirs = dirs if dirs is not None else [LOCALE_DIR]
        self._translations: dict[str, gettext.NullTranslations] = {}
        for lang in LANGUAGES:
            chain: gettext.NullTranslations | None = None
            for d in dirs:
                t = gettext.translation(DOMAIN, localedir=d, languages=[lang], fallback=True)
                if chain is None:
                    chain = t
                else:
                    chain.add_fallback(t)
            self._translations[lang] = chain or gettext.NullTranslations()

    def get(self, lang: str) -> gettext.NullTranslations:
        """The translations of ``lang`` (an unknown code gets the default language)."""
        return self._translations.get(lang, self._translations[DEFAULT])

    @staticmethod
    def direction(lang: str) -> str:
        """``rtl`` or ``ltr`` for ``lang``."""
        return LANGUAGES.get(lang, LANGUAGES[DEFAULT])[1]


def listing(gettext: Callable[[str], str], items: Iterable[Any], each: Callable[[Any], Any] | None = None) -> Markup:
    """``each`` of ``items`` joined with the language's list separator (its translation of ``", "``: Arabic's is
    ``"، "``), as the pages list reasons, kinds and gates (``{{ listing(d.reasons, reason) }}``); what ``each``
    gives that is not ``Markup`` is escaped."""
    return Markup(escape(gettext(", "))).join(each(item) if each else item for item in items)


def shown(value: Any) -> Any:
    """``value`` as every page shows it (the templates' ``finalize``): each of ``BIDI_CONTROLS`` as U+FFFD, in sight
    and reordering nothing, whoever wrote the value (a gate's event, a list, a peer centre, a refused sign-in's
    name); ``Markup`` stays ``Markup``, what is not text stays as it is."""
    if isinstance(value, Markup):
        return Markup(str.translate(value, _NEUTRALISED))
    return value.translate(_NEUTRALISED) if isinstance(value, str) else value


def negotiate(accept_language: str | None, default: str = DEFAULT) -> str:
    """The first of our languages named in an ``Accept-Language`` header (quality order), else ``default``."""
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().lower().split("-")[0]
        if code in LANGUAGES and q > 0:
            choices.append((-q, i, code))
    return min(choices)[2] if choices else default
