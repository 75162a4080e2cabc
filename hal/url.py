"""Device URLs: each backend declares its grammar once; one parser reads every query the same way.

    >>> grammar = UrlGrammar("camera", "sim://camera[?OPTIONS]", {"width": "64-4096", "seed": "N"})
    >>> grammar.parse("sim://camera?width=320")[1]
    {'width': '320'}
    >>> grammar.parse("sim://camera?colour=1")
    BadUrlError: unknown camera option colour='1' in 'sim://camera?colour=1'; grammar: sim://camera[?OPTIONS] …

Rules, the same for readers, cameras and indicators (docs/readers.md, docs/indicators.md): the query is
``name=value`` items joined by ``&`` (percent-encoding allowed); an item without ``=``, a name given
twice, and a name the backend does not know are errors that quote the backend's grammar. Values are
checked by the typed helpers below, whose messages name the option, the value and the expected form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import SplitResult, unquote_plus, urlsplit

from hal.errors import BadUrlError


def split_url(url: str) -> SplitResult:
    """``urlsplit(url)``, with its ValueError (an unbalanced ``[`` or ``]``: "Invalid IPv6 URL", found by
    the config fuzzer) raised as BadUrlError naming the URL."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise BadUrlError(f"{url!r} is not a URL: {exc}") from exc


@dataclass(frozen=True)
class UrlGrammar:
    """One backend's URL: its device class (``kind``), its form, and its options with their values."""

    kind: str  # "reader", "camera", "indicator": how messages name an option
    form: str  # e.g. "serial:///dev/serial/by-id/NAME[?OPTIONS]"
    options: Mapping[str, str]  # option name -> its values, e.g. {"baud": "50-4000000"}

    def __str__(self) -> str:
        options = "&".join(f"{name}={values}" for name, values in self.options.items())
        return f"{self.form}" + (f" with OPTIONS {options}" if options else " (no options)")

    def error(self, what: str) -> BadUrlError:
        """A BadUrlError saying ``what`` and quoting the grammar."""
        return BadUrlError(f"{what}; grammar: {self}")

    def parse(self, url: str) -> tuple[SplitResult, dict[str, str]]:
        """Split ``url``; its query as a dict (see ``parse_query``)."""
        parts = split_url(url)
        return parts, self.parse_query(url, parts.query)

    def parse_query(self, url: str, query: str) -> dict[str, str]:
        """``query`` (of ``url``, named in errors) as a dict. BadUrlError (quoting the grammar) for an
        unknown option, an option given twice, or an item that is not ``name=value``."""
        items: list[tuple[str, str]] = []
        for item in filter(None, query.split("&")):
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise self.error(f"malformed query item {item!r} in {url!r}: expected name=value")
            items.append((unquote_plus(name), unquote_plus(value)))
        names = [name for name, _ in items]
        for name, value in items:
            if name not in self.options:
                raise self.error(f"unknown {self.kind} option {name}={value!r} in {url!r}")
            if names.count(name) > 1:
                raise BadUrlError(f"{self.kind} option {name!r} given {names.count(name)} times in {url!r}; "
                                  "expected once")
        return dict(items)


def int_value(kind: str, options: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Option ``name`` as an integer in ``low..high`` (``default`` when absent)."""
    text = options.get(name, str(default))
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadUrlError(f"{kind} option {name}={text!r} invalid; expected an integer {low}-{high}")
    return int(text)


def seconds_value(kind: str, options: Mapping[str, str], name: str, default: float, low: float,
                  high: float) -> float:  # fmt: skip
    """Option ``name`` as seconds in ``low..high`` (``default`` when absent)."""
    text = options.get(name)
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not low <= seconds <= high:
        raise BadUrlError(f"{kind} option {name}={text!r}: expected seconds between {low:g} and {high:g}")
    return seconds


def bool_value(kind: str, options: Mapping[str, str], name: str, default: bool) -> bool:
    """Option ``name`` as a flag: 1/0, true/false, yes/no."""
    text = options.get(name, "1" if default else "0").lower()
    if text not in ("1", "0", "true", "false", "yes", "no"):
        raise BadUrlError(f"{kind} option {name}={text!r} invalid; expected 1 or 0")
    return text in ("1", "true", "yes")


def choice_value(kind: str, options: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """Option ``name`` as one of ``choices`` (the first is the default)."""
    text = options.get(name, choices[0])
    if text not in choices:
        raise BadUrlError(f"{kind} option {name}={text!r}: expected one of {', '.join(choices)}")
    return text


class UrlBackend:
    """A backend named by a URL (cameras, plate readers): its ``GRAMMAR``, and the URL checked without
    opening anything. A backend adds where its device lives (``_check_location``) and its option values
    (``_check_options``)."""

    GRAMMAR: ClassVar[UrlGrammar]

    @classmethod
    def parse_url(cls, url: str) -> tuple[SplitResult, dict[str, str]]:
        """The URL's parts and options, checked against the backend's grammar; opens nothing."""
        parts, options = cls.GRAMMAR.parse(url)
        cls._check_location(url, parts)
        return parts, options

    @classmethod
    def check_url(cls, url: str) -> None:
        """Raise BadUrlError unless ``url`` is a valid URL of this backend (no device is opened)."""
        cls._check_options(cls.parse_url(url)[1])

    @classmethod
    def _check_location(cls, url: str, parts: SplitResult) -> None:
        """Raise BadUrlError when the URL's host and path do not fit the backend."""

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> object:
        """Raise BadUrlError for a bad option value; return what the constructor takes from them."""
        return None
