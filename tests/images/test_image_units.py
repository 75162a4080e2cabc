"""The image's systemd units pass `systemd-analyze verify` in a fake root laid out like the image.

The fake root holds the host's own unit files (targets, nftables stand-in) plus stub executables at the
paths the image provides (/opt/sharaka/venv/bin/sharaka-gate, /usr/lib/sharaka/sharaka-firstboot), so
verify checks our units' syntax, dependencies and commands without an arm64 build. Warnings count as
failures: systemd-analyze exits 0 on an unknown key or a bad value, it only prints them.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import IMAGES

UNITS = sorted(p.name for p in (IMAGES / "systemd").glob("*") if p.suffix in (".service", ".path"))
IMAGE_EXECUTABLES = ("opt/sharaka/venv/bin/sharaka-gate", "usr/lib/sharaka/sharaka-firstboot", "usr/sbin/nft",
                     "usr/bin/chronyc", "usr/lib/systemd/systemd-networkd-wait-online", "usr/bin/rm",
                    "usr/bin/systemctl")
HOST_UNIT_DIR = Path("/usr/lib/systemd/system")

def fake_root(root: Path, units: dict[str, str]) -> Path:
    """A root with the host's units, the given units, an nftables.service stand-in and stub executables."""
    unit_dir = root / "usr/lib/systemd/system"
    unit_dir.parent.mkdir(parents=True)
    if HOST_UNIT_DIR.is_dir():
        shutil.copytree(HOST_UNIT_DIR, unit_dir, symlinks=True)
    unit_dir.mkdir(exist_ok=True)
    (unit_dir / "nftables.service").write_text(
        "[Unit]\nDescription=nftables (stand-in)\n[Service]\nType=oneshot\nExecStart=/usr/sbin/nft -f /etc/nftables.conf\n"
    )
    for rel in IMAGE_EXECUTABLES:
        exe = root / rel
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    for name, text in units.items():
        (unit_dir / name).write_text(text)
    return root


def verify(root: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *names],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_image_units_verify_clean(tmp_path):
    root = fake_root(tmp_path, {name: (IMAGES / "systemd" / name).read_text() for name in UNITS})
    out = verify(root, UNITS)
    assert out.returncode == 0, out.stderr
    ours = [line for line in out.stderr.splitlines() if any(name in line for name in UNITS)]
    assert ours == [], "\n".join(ours)


BROKEN_UNITS = {
    "bad-type": "[Service]\nType=notifyy\nExecStart=/opt/sharaka/venv/bin/sharaka-gate run\n",
    "unknown-key": "[Service]\nType=notify\nWatchdogSecs=10\nExecStart=/opt/sharaka/venv/bin/sharaka-gate run\n",
    "missing-binary": "[Service]\nType=notify\nExecStart=/opt/sharaka/venv/bin/no-such-agent run\n",
}


@pytest.mark.parametrize("text", BROKEN_UNITS.values(), ids=BROKEN_UNITS.keys())
def test_verify_check_catches_a_broken_unit(tmp_path, text):
    root = fake_root(tmp_path, {"broken.service": "[Unit]\nDescription=broken\n" + text})
    out = verify(root, ["broken.service"])
    assert out.returncode != 0 or "broken.service" in out.stderr


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((IMAGES / "systemd" / name).read_text())
    return parser["Service"]


def test_agent_unit_is_notify_with_watchdog_as_sharaka_user():
    svc = service("sharaka-gate.service")
    assert svc["Type"] == "notify"
    assert 0 < int(svc["WatchdogSec"]) <= 30
    assert svc["User"] == "sharaka"
    assert set(svc["SupplementaryGroups"].split()) == {"dialout", "i2c", "video"}
    assert svc["ExecStart"].startswith(
        "/opt/sharaka/venv/bin/sharaka-gate run --appliance --config /etc/sharaka/gate.toml"
    )
    assert svc["ProtectSystem"] == "strict" and svc["ReadWritePaths"] == "/var/lib/sharaka"


def test_agent_goes_ahead_of_the_update_for_cpu_and_disk_without_a_realtime_policy():
    """docs/online-query.md "Priority": the agent's threads (a traveller waits on them) before the update
    install's bulk writes; the benches run their gate with the agent's values (bench/appliance.py)."""
    from bench.appliance import unit_priority

    agent, update = service("sharaka-gate.service"), service("sharaka-update-local.service")
    assert unit_priority() == (-5, "best-effort", 0)
    assert int(agent["Nice"]) < 0 < int(update["Nice"])
    assert update["IOSchedulingClass"] == "idle"
    assert "CPUSchedulingPolicy" not in agent and agent["RestrictRealtime"] == "yes"
    # Each service is a session: with the kernel's autogroup on, Nice= would rank threads within their own
    # service only, and the update would share the CPU with the agent half and half.
    sysctl = (IMAGES / "rootfs/etc/sysctl.d/10-sharaka.conf").read_text().splitlines()
    assert "-kernel.sched_autogroup_enabled = 0" in sysctl


def test_firstboot_unit_runs_until_provisioned_or_new_bundle():
    text = (IMAGES / "systemd/sharaka-firstboot.service").read_text()
    assert "ConditionPathExists=|!/var/lib/sharaka/.provisioned" in text
    assert "ConditionPathExists=|/boot/firmware/sharaka" in text
    assert "Before=sharaka-gate.service" in text


def test_enrolment_refreshes_the_firewall_from_the_gate_toml_it_wrote_before_the_agent_starts():
    """First boot let MQTT out to the enrolment listener's host only (provision.toml), and sharaka-firewall.service
    had not run (no gate.toml yet): a broker the centre named at enrolment on another host, or a screen on the
    booth's network, stayed shut until the next boot. Provision writes the appliance's config, so it restarts that
    unit itself once gate.toml is written (agent/provision/firewall.py, tested in tests/provision/test_provision.py),
    with the tools where the image has them; the agent is started after it."""
    from agent.provision.firewall import UNIT, ApplianceFirewall
    from agent.provision.wipe import APPLIANCE_CONFIG

    service = (IMAGES / "systemd/sharaka-provision.service").read_text()
    assert f"provision --answers /etc/sharaka/provision.toml --yes --config {APPLIANCE_CONFIG} " in service
    assert "ExecStartPost=/usr/bin/systemctl --no-block restart sharaka-gate.service" in service
    assert f"ExecStartPost={ApplianceFirewall.systemctl} " in service
    unit = (IMAGES / "systemd" / UNIT).read_text()
    assert "ConditionPathExists=/etc/sharaka/gate.toml" in unit
    assert "ExecStart=/usr/lib/sharaka/sharaka-firstboot firewall" in unit
    assert f"ExecStart={ApplianceFirewall.nft} -f /etc/nftables.conf" in unit


def test_agent_waits_for_clock_sync_when_a_network_exists_and_offline_gates_still_start():
    gate = (IMAGES / "systemd/sharaka-gate.service").read_text()
    assert "After=local-fs.target time-sync.target sharaka-time-wait.service" in gate
    assert "Wants=time-sync.target sharaka-time-wait.service" in gate
    wait = configparser.ConfigParser(strict=False, interpolation=None)
    wait.read_string((IMAGES / "systemd/sharaka-time-wait.service").read_text())
    assert "sharaka-gate.service" in wait["Unit"]["Before"] and "time-sync.target" in wait["Unit"]["Before"]
    svc = wait["Service"]
    # no network within a bound: the wait is skipped; a sync that never comes does not block the agent
    assert svc["ExecCondition"].endswith("systemd-networkd-wait-online --any --timeout=20")
    assert svc["ExecStart"].startswith("-/usr/bin/chronyc waitsync 60 ")
    assert int(svc["TimeoutStartSec"]) <= 120 and svc["Type"] == "oneshot"
    assert "sharaka-time-wait.service" in (IMAGES / "mkosi.postinst").read_text()


def ordered_after(start: str) -> set[str]:
    """Every unit ``start`` waits for through the image's own units' After= and Before= (transitively)."""
    edges: dict[str, set[str]] = {}
    for name in UNITS:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read_string((IMAGES / "systemd" / name).read_text())
        for after in unit["Unit"].get("After", "").split():
            edges.setdefault(name, set()).add(after)
        for before in unit["Unit"].get("Before", "").split():
            edges.setdefault(before, set()).add(name)
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in edges.get(todo.pop(), set()) - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_an_offline_gate_screens_without_waiting_for_the_network():
    # Ordering holds even for a unit whose condition is false: sharaka-provision.service (After=
    # network-online.target) ordered before the agent held every offline boot for the 2 min network-online wait.
    assert "network-online.target" not in ordered_after("sharaka-gate.service")
    assert "network-online.target" in ordered_after("sharaka-provision.service"), "the check sees the chain"


def test_a_local_update_is_installed_before_the_boot_is_judged():
    # RAUC answers neither `rauc status` nor mark-good while it installs (rauc 1.8 src/service.c: "already
    # processing a different method"): a commit judged during the install would fail
    assert "sharaka-update-local.service" in ordered_after("sharaka-update-commit.service")


@pytest.mark.parametrize("unit", ["sharaka-update-local.service", "sharaka-update-commit.service"])
def test_update_units_call_rauc_once_its_service_is_up(unit):
    # D-Bus activation gives rauc.service 25 s; on a loaded emulated boot it took longer and the install failed
    assert "rauc.service" in ordered_after(unit)
    wants = configparser.ConfigParser(strict=False, interpolation=None)
    wants.read_string((IMAGES / "systemd" / unit).read_text())
    assert "rauc.service" in wants["Unit"]["Wants"].split()
