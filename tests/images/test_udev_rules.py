"""The image's udev rules parse and give the agent its devices (docs/image.md "Devices").

udev (systemd 252, Debian 12) has no `udevadm verify` yet (systemd 254 added it); where it exists it
runs too. Always: a checker of the rule grammar in udev(7) (KEY[{attr}] OP "value", match keys only
with ==/!=, assignment-only keys never with ==/!=), which is shown to reject broken rules.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.support.paths import IMAGES

RULE_FILES = sorted((IMAGES / "udev").glob("*.rules"))
MATCH_ONLY = {
    "ACTION",
    "DEVPATH",
    "KERNEL",
    "SUBSYSTEM",
    "DRIVER",
    "KERNELS",
    "SUBSYSTEMS",
    "DRIVERS",
    "ATTRS",
    "TAGS",
    "CONST",
    "TEST",
    "PROGRAM",
    "RESULT",
}
ASSIGN_ONLY = {"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS"}
EITHER = {"NAME", "SYMLINK", "ATTR", "SYSCTL", "ENV", "TAG"}
WITH_ATTR = {"ATTR", "ATTRS", "SYSCTL", "ENV", "TEST", "IMPORT", "RUN", "SECLABEL", "CONST"}
TOKEN = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]+)\})?(?P<op>==|!=|\+=|-=|:=|=)"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)'
)


def rule_errors(text: str) -> list[str]:
    """Every grammar error in a rules file, as 'line N: why'."""
    errors = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pos, keys = 0, []
        while pos < len(line):
            m = TOKEN.match(line, pos)
            if not m:
                errors.append(f"line {n}: cannot parse {line[pos:]!r}")
                break
            key, attr, op = m["key"], m["attr"], m["op"]
            if key not in MATCH_ONLY | ASSIGN_ONLY | EITHER:
                errors.append(f"line {n}: unknown key {key!r}")
            elif key in MATCH_ONLY and op not in ("==", "!="):
                errors.append(f"line {n}: {key} is a match key, got {op!r}")
            elif key in ASSIGN_ONLY and op in ("==", "!="):
                errors.append(f"line {n}: {key} can only be assigned, got {op!r}")
            elif key in WITH_ATTR - {"IMPORT", "RUN", "TEST"} and not attr:
                errors.append(f"line {n}: {key} needs {{attribute}}")
            keys.append((key, op))
            pos = m.end()
        if keys and not any(op in ("==", "!=") for _, op in keys):
            errors.append(f"line {n}: rule has no match, applies to every device")
    return errors


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_udev_rules_follow_the_grammar(path):
    assert rule_errors(path.read_text()) == []


BROKEN_RULES = {
    "assign-to-match-key": 'SUBSYSTEM="tty", GROUP="dialout"',
    "compare-assign-key": 'SUBSYSTEM=="tty", GROUP=="dialout"',
    "unknown-key": 'SUBSYTEM=="tty", GROUP="dialout"',
    "unquoted-value": 'SUBSYSTEM==tty, GROUP="dialout"',
    "attr-without-name": 'SUBSYSTEM=="usb-serial", ATTR="1"',
    "no-match": 'GROUP="dialout", MODE="0666"',
}


@pytest.mark.parametrize("text", BROKEN_RULES.values(), ids=BROKEN_RULES.keys())
def test_rule_checker_rejects_broken_rule(text):
    assert rule_errors(text) != []


def udevadm_has_verify() -> bool:
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        return False
    return subprocess.run([udevadm, "verify", "--help"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not udevadm_has_verify(), reason="udevadm verify is not available here (needs systemd >= 254)"
)
def test_udevadm_verify_accepts_rules():
    out = subprocess.run(["udevadm", "verify", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def rules_text() -> str:
    return "\n".join(p.read_text() for p in RULE_FILES)


def test_ftdi_latency_timer_set_to_1ms():
    rule = next(line for line in rules_text().splitlines() if "latency_timer" in line)
    assert 'DRIVERS=="ftdi_sio"' in rule and 'ATTR{latency_timer}="1"' in rule


def test_reader_by_vendor_product_gets_stable_name_in_dialout():
    rule = next(line for line in rules_text().splitlines() if "SYMLINK" in line)
    assert re.search(r'ATTRS\{idVendor\}=="[0-9a-f]{4}"', rule) and re.search(
        r'ATTRS\{idProduct\}=="[0-9a-f]{4}"', rule
    )
    assert 'SYMLINK+="sharaka-reader"' in rule and 'GROUP="dialout"' in rule


@pytest.mark.parametrize(("subsystem", "group"), [("i2c-dev", "i2c"), ("video4linux", "video")])
def test_device_group_permissions(subsystem, group):
    assert re.search(rf'SUBSYSTEM=="{subsystem}".*GROUP="{group}", MODE="0660"', rules_text())
