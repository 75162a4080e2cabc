"""Device URLs: one grammar per backend, one query parser, ``hal.check_url`` without opening anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hal
from hal.errors import BadUrlError
from hal.reader.framing import FRAMERS, parse_framing

DOCS = Path(__file__).parents[2] / "docs"
PLACEHOLDERS = re.compile(r"…|\[|\b(?:DIR|FILE|BUS|ADDR|OPTIONS|NAME|PATH|QUERY|CAPTURE)\b")
KIND_OF_SIM = {"reader": "reader", "pca9685": "indicators", "camera": "camera", "plate": "plate"}
KIND_OF_SCHEME = {"serial": "reader", "replay": "reader", "i2c": "indicators", "file": "camera", "v4l2": "camera"}


def documented_urls() -> list[str]:
    """Every concrete device URL in the operator docs (grammar forms with placeholders left out)."""
    found = set()
    for name in ("readers.md", "indicators.md", "config.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        for url in re.findall(r"\b(?:serial|sim|replay|i2c|file|v4l2)://[^\s`'\")|,]*", text):
            url = url.rstrip(".")
            if url.split("://", 1)[1] and not PLACEHOLDERS.search(url):
                found.add(url)
    return sorted(found)


def kind_of(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return KIND_OF_SIM[re.split(r"[/?]", rest)[0]] if scheme == "sim" else KIND_OF_SCHEME[scheme]


def test_the_docs_hold_device_urls_of_every_kind():
    assert {kind_of(url) for url in documented_urls()} == {"reader", "indicators", "camera", "plate"}


@pytest.mark.parametrize("url", documented_urls())
def test_every_backend_url_in_the_docs_parses(url):
    hal.check_url(kind_of(url), url)


UNKNOWN_OPTIONS = {
    "serial-reader": ("reader", "serial:///dev/ttyUSB0?speed=9600",
                      r"unknown reader option speed='9600'.*grammar: serial:///dev/serial/by-id/NAME.*baud=50-4000000"),
    "replay-reader": ("reader", "replay://x.hex?colour=1",
                      r"unknown reader option colour='1'.*grammar: replay://FILE.*framing=lines\|stx-etx\|rte\|tlv"),
    "file-camera": ("camera", "file:///tmp?fps=30", r"unknown camera option fps='30'.*grammar: file://PATH.*loop=1\|0"),
    "v4l2-camera": ("camera", "v4l2:///dev/video0?zoom=2", r"unknown camera option zoom='2'.*grammar: v4l2://.*fps="),
    "i2c-indicators": ("indicators", "i2c://1/0x40?colour=red",
                       r"unknown indicator option colour='red'.*grammar: i2c://BUS.*relay_active=low\|high"),
    "malformed-item": ("camera", "sim://camera?width", r"malformed query item 'width'.*expected name=value; grammar:"),
}  # fmt: skip


@pytest.mark.parametrize(("kind", "url", "message"), UNKNOWN_OPTIONS.values(), ids=UNKNOWN_OPTIONS.keys())
def test_unknown_option_is_refused_quoting_the_grammar(kind, url, message):
    with pytest.raises(BadUrlError, match=message):
        hal.check_url(kind, url)


def test_unknown_framing_mode_is_refused_listing_every_mode_with_its_options():
    with pytest.raises(BadUrlError) as err:
        hal.check_url("reader", "sim://reader?framing=slip")
    message = str(err.value)
    assert "framing='slip'" in message
    for mode, framer in FRAMERS.items():
        assert mode in message and all(f"{name}={values}" in message for name, values in framer.OPTIONS.items())


@pytest.mark.parametrize("mode", FRAMERS)
def test_each_framing_mode_makes_its_own_framer_class(mode):
    spec, rest = parse_framing({"framing": mode, "idle": "1"})
    assert type(spec.framer()) is FRAMERS[mode] and rest == {"idle": "1"}


@pytest.mark.parametrize(("kind", "url"), [
    ("reader", "serial:///dev/serial/by-id/absent?baud=115200&framing=stx-etx&bcc=xor"),
    ("reader", "replay:///absent/capture.hex?framing=rte&length=etx"),
    ("camera", "file:///absent/frames?loop=0"),
    ("camera", "v4l2:///dev/video99?width=640"),
    ("indicators", "i2c://99/0x41?relay=none"),
], ids=["serial", "replay", "file", "v4l2", "i2c"])  # fmt: skip
def test_check_url_accepts_a_valid_url_whose_device_is_absent(kind, url):
    hal.check_url(kind, url)  # checking the grammar touches no device


@pytest.mark.parametrize(("kind", "url", "message"), [
    ("reader", "usb://reader", "unknown reader URL scheme 'usb'.*known: replay, serial, sim"),
    ("reader", "sim://reader?baud=fast", "baud='fast'"),
    ("reader", "serial://ttyUSB0", "expected serial:///dev/serial/by-id/"),
    ("camera", "v4l2://video0", "expected v4l2:///dev/videoN"),
    ("indicators", "sim://pca9685?red=16", "red='16' invalid"),
    # found by the config fuzzer: urlsplit's own ValueError escaped as a traceback
    ("indicators", "sim://pc[9685", "'sim://pc\\[9685' is not a URL: Invalid IPv6 URL"),
    ("camera", "file://[frames", "is not a URL"),
    ("indicators", "i2c://1]/0x40", "is not a URL"),
], ids=["unknown-scheme", "backend-value", "relative-serial-path", "relative-v4l2-path", "indicator-value",
        "unbalanced-bracket-sim", "unbalanced-bracket-file", "unbalanced-bracket-i2c"])  # fmt: skip
def test_check_url_refuses_what_opening_would_refuse(kind, url, message):
    with pytest.raises(BadUrlError, match=message):
        hal.check_url(kind, url)
