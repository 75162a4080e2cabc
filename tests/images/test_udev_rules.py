"""The image's udev rules parse and give the agent its devices (docs/image.md "Devices").

Two checks, each shown to reject broken rules:

- udev's own rule parser. `udevadm verify` needs systemd >= 254 and Debian 12 has 252, so the same parser
  runs through `udevadm test`: in a private mount namespace the rules directories are replaced by a tmpfs
  holding only the files under test (and /etc/group gains the groups the image's sysusers.d creates, as on
  the gate), then `udevadm test` loads them and logs every rule it rejects as `FILE:LINE why`. Any such
  line for our files fails the test. /dev/char and /run/udev are private too, so the host is not touched.
- A checker of the rule grammar in udev(7) (KEY[{attr}] OP "value", match keys only with ==/!=,
  assignment-only keys never with ==/!=), which is stricter than udev on rules that match nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

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


# What udev itself rejects (a rule that matches every device is legal to udev, so not here).
UDEV_REJECTS = {k: v for k, v in BROKEN_RULES.items() if k != "no-match"} | {
    "unknown-group": 'SUBSYSTEM=="tty", GROUP="no-such-group"',
}


SYSUSERS = IMAGES / "rootfs/usr/lib/sysusers.d/sharaka.conf"
# A device with a node no rule of ours matches: `udevadm test` needs one to run, and the rules are
# parsed in full before any is applied.
PROBE_DEVICE = "/sys/class/mem/null"


def udev_parser_complaints(rule_files: list[Path], tmp_path: Path) -> list[str]:
    """What udev's own parser (`udevadm test`, systemd 252) says about ``rule_files``: ``FILE:LINE why`` lines."""
    rules = tmp_path / "rules.d"
    rules.mkdir()
    for path in rule_files:
        shutil.copy(path, rules / path.name)
    groups = [line.split()[1] for line in SYSUSERS.read_text().splitlines() if line.startswith("g ")]
    group = tmp_path / "group"
    group.write_text(Path("/etc/group").read_text() + "".join(f"{g}:x:{900 + i}:\n" for i, g in enumerate(groups)))
    script = f"""set -e
for d in /usr/lib/udev/rules.d /lib/udev/rules.d /etc/udev/rules.d /run/udev /dev/char; do
    [ -d "$d" ] && [ ! -L "$d" ] && mount -t tmpfs sharaka-udev-check "$d"
done
cp {rules}/*.rules /usr/lib/udev/rules.d/
mount --bind {group} /etc/group
exec udevadm test {PROBE_DEVICE}
"""
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--mount", "--map-root-user"]
    out = subprocess.run([*unshare, "sh", "-c", script], capture_output=True, text=True, timeout=60)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log
    read = [line for line in log.splitlines() if line.startswith("Reading rules file: /usr/lib/udev/rules.d/")]
    assert len(read) == len(rule_files), f"udevadm did not read the rules under test:\n{log}"
    names = tuple(f"/usr/lib/udev/rules.d/{p.name}:" for p in rule_files)
    return [line for line in log.splitlines() if line.startswith(names)]


def test_udev_parser_accepts_rules(tmp_path):
    assert udev_parser_complaints(RULE_FILES, tmp_path) == []


@pytest.mark.parametrize("text", UDEV_REJECTS.values(), ids=UDEV_REJECTS.keys())
def test_udev_parser_check_rejects_broken_rule(tmp_path, text):
    broken = tmp_path / "99-broken.rules"
    broken.write_text(text + "\n")
    (tmp_path / "check").mkdir()
    assert udev_parser_complaints([broken], tmp_path / "check") != []


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
