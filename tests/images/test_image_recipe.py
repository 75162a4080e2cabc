"""The image recipe (mkosi root tree + systemd-repart layout + static config) says what docs/image.md says.

Checked without building an arm64 image: the files parse, carry the keys the appliance depends on, and
where the real tool is installed (mkosi, systemd-repart) the tool itself accepts them.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.nft import nft_check
from tests.support.paths import IMAGES


def read_ini(path: Path) -> configparser.ConfigParser:
    """Parse a systemd/mkosi-style INI file keeping key case; duplicate keys are an error."""
    parser = configparser.ConfigParser(interpolation=None, strict=True, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(), source=str(path))
    return parser


REQUIRED_PACKAGES = {
    "raspi-firmware",
    "u-boot-rpi",
    "openssl",
    "linux-image-arm64",
    "python3",
    "python3-venv",
    "chrony",
    "nftables",
    "e2fsprogs",
}


def test_mkosi_conf_builds_bookworm_arm64_with_required_packages():
    conf = read_ini(IMAGES / "mkosi.conf")
    assert conf["Distribution"]["Distribution"] == "debian"
    assert conf["Distribution"]["Release"] == "bookworm"
    assert conf["Distribution"]["Architecture"] == "aarch64"
    assert "non-free-firmware" in conf["Distribution"]["Repositories"].split(",")
    packages = set(conf["Content"]["Packages"].split())
    assert packages >= REQUIRED_PACKAGES, REQUIRED_PACKAGES - packages
    assert "openssh-server" not in packages, "the production image must not listen (docs/image.md)"
    postinst = IMAGES / conf["Content"]["PostInstallationScript"]
    assert postinst.is_file() and postinst.stat().st_mode & 0o111


def test_postinst_installs_agent_from_wheelhouse_only():
    text = (IMAGES / "mkosi.postinst").read_text()
    assert "python3 -m venv /opt/sharaka/venv" in text
    assert re.search(r'pip install --no-index .*--find-links /opt/sharaka/wheelhouse "sharaka-gate\[vision\]"', text), \
        "the camera gate needs the vision extra"
    for unit in (
        "sharaka-gate.service",
        "sharaka-firstboot.service",
        "sharaka-data-format.service",
        "sharaka-firewall.service",
        "nftables.service",
        "sharaka-update-commit.service",
        "sharaka-update-reboot.path",
    ):
        assert unit in text, f"{unit} not enabled"


def test_mkosi_accepts_the_recipe():
    out = subprocess.run(
        ["mkosi", "--directory", str(IMAGES), "summary"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    summary = out.stdout + out.stderr  # mkosi 14 prints the summary on stderr
    assert re.search(r"Release: bookworm", summary)
    assert re.search(r"Architecture: aarch64", summary)
    assert re.search(r"Output Format: directory", summary)


def repart_definitions() -> dict[str, configparser.SectionProxy]:
    return {p.name: read_ini(p)["Partition"] for p in sorted((IMAGES / "repart.d").glob("*.conf"))}


def test_partition_layout_is_boot_root_data():
    parts = repart_definitions()
    assert [(p["Type"], p["Label"]) for p in parts.values()] == [
        ("esp", "RASPIFIRM"),
        ("root-arm64", "sharaka-root-a"),
        ("root-arm64", "sharaka-root-b"),
        ("linux-generic", "sharaka-data"),
    ]
    boot, root_a, root_b, data = parts.values()
    assert boot["Format"] == "vfat" and root_a["Format"] == "ext4"
    assert root_a.get("ReadOnly") == "yes" and root_b.get("ReadOnly") == "yes"
    assert root_a["SizeMinBytes"] == root_b["SizeMinBytes"] == root_b["SizeMaxBytes"], "A/B slots are alike"
    assert "CopyFiles" not in root_b, "slot B ships blank: RAUC writes it"
    assert "Format" not in data, (
        "the data partition ships blank: first boot makes it, no keys on a flashed card"
    )


def test_systemd_repart_plans_the_layout(tmp_path):
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(7 << 30)  # sparse
    out = subprocess.run(
        [
            "systemd-repart",
            "--dry-run=yes",
            "--empty=allow",
            "--json=short",
            "--no-pager",
            f"--definitions={IMAGES / 'repart.d'}",
            str(disk),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    plan = json.loads(out.stdout)
    assert [(p["label"], p["activity"]) for p in plan] == [
        ("RASPIFIRM", "create"),
        ("sharaka-root-a", "create"),
        ("sharaka-root-b", "create"),
        ("sharaka-data", "create"),
    ], out.stderr
    assert plan[0]["raw_size"] == 768 << 20, "room for an update bundle (docs/update.md)"
    assert plan[1]["raw_size"] == plan[2]["raw_size"] == 2 << 30
    assert plan[3]["raw_size"] >= 1 << 30


def fstab() -> dict[str, list[str]]:
    """mount point -> [device, fstype, options, dump, pass]."""
    rows = {}
    for line in (IMAGES / "rootfs/etc/fstab").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            dev, mnt, fstype, opts, dump, passno = line.split()
            rows[mnt] = [dev, fstype, opts, dump, passno]
    return rows


def test_every_fstab_mount_point_is_made_on_the_read_only_root(tmp_path):
    """The first emulated boot failed at local-fs.target: /var/lib/sharaka did not exist on the root. Runs the
    postinst's own line against a copy of the image's fstab."""
    line = next(ln for ln in (IMAGES / "mkosi.postinst").read_text().splitlines() if "etc/fstab" in ln)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/fstab").write_text((IMAGES / "rootfs/etc/fstab").read_text())
    subprocess.run(["bash", "-euo", "pipefail", "-c", line.replace("cd /", f"cd {tmp_path}", 1)], check=True)
    missing = [mnt for mnt in fstab() if not (tmp_path / mnt.lstrip("/")).is_dir()]
    assert not missing and "/var/lib/sharaka" in fstab(), missing


def boot_args() -> list[str]:
    """The kernel command line U-Boot's boot script gives every slot (images/boot/boot.cmd)."""
    m = re.search(r'^setenv bootargs "([^"]*)"$', (IMAGES / "boot/boot.cmd").read_text(), re.M)
    assert m, "boot.cmd sets no bootargs"
    return m[1].split()


def test_root_is_read_only_and_checked_at_boot():
    args = boot_args()
    assert {"ro", "fsck.mode=auto", "fsck.repair=yes"} <= set(args)
    assert "rw" not in args
    assert "root=PARTLABEL=${rootlabel}" in args and "rauc.slot=${slot}" in args
    initramfs = (IMAGES / "rootfs/etc/initramfs-tools/conf.d/sharaka.conf").read_text()
    assert "FSTYPE=ext4" in initramfs.split(), "e2fsck must be in the initramfs, which checks the root"


def test_root_is_chosen_by_the_bootloader_not_by_a_label_both_slots_carry():
    assert "/" not in fstab(), "a device for / in fstab would name the same root for both slots"
    cmd = (IMAGES / "boot/boot.cmd").read_text()
    assert re.search(r"setenv rootpart 2\s+setenv rootlabel sharaka-root-a", cmd)
    assert re.search(r"setenv rootpart 3\s+setenv rootlabel sharaka-root-b", cmd)
    labels = [p["Label"] for p in repart_definitions().values()]
    assert labels[1:3] == ["sharaka-root-a", "sharaka-root-b"], "U-Boot loads slot A from partition 2, B from 3"
    assert "e2label" not in (IMAGES / "build.sh").read_text(), "the build must not give both slots one label"
    for line in (IMAGES / "rootfs/etc/fstab").read_text().splitlines():
        assert not line.startswith("LABEL="), f"mount by GPT label (PARTLABEL), not a file-system label: {line}"


def test_firmware_starts_uboot_which_runs_the_slot_selection():
    config = (IMAGES / "boot/config.txt").read_text().splitlines()
    assert {"arm_64bit=1", "kernel=u-boot.bin", "upstream_kernel=1"} <= set(config)
    build = (IMAGES / "build.sh").read_text()
    assert '"$ROOTFS/usr/lib/u-boot/rpi_arm64/u-boot.bin" "$BOOTFILES"/* ::/' in build
    postinst = (IMAGES / "mkosi.postinst").read_text()
    assert 'ln -f "/boot/vmlinuz-$kernel" /boot/vmlinuz' in postinst
    assert 'ln -f "/boot/initrd.img-$kernel" /boot/initrd.img' in postinst


def test_data_partition_tuned_for_power_loss():
    dev, fstype, opts, _, passno = fstab()["/var/lib/sharaka"]
    options = opts.split(",")
    assert (dev, fstype, passno) == ("PARTLABEL=sharaka-data", "ext4", "2")
    assert "data=journal" in options
    assert any(re.fullmatch(r"commit=\d+", o) for o in options)


@pytest.mark.parametrize("mount_point", ["/tmp", "/var/tmp", "/var/log", "/var/lib/systemd"])
def test_writable_scratch_is_tmpfs(mount_point):
    assert fstab()[mount_point][1] == "tmpfs"


def test_journal_is_volatile_and_bounded():
    journal = read_ini(IMAGES / "rootfs/etc/systemd/journald.conf.d/10-volatile.conf")["Journal"]
    assert journal["Storage"] == "volatile"
    assert re.fullmatch(r"\d+M", journal["RuntimeMaxUse"])


def test_hardware_watchdog_within_bcm2835_limit():
    manager = read_ini(IMAGES / "rootfs/etc/systemd/system.conf.d/10-watchdog.conf")["Manager"]
    seconds = int(manager["RuntimeWatchdogSec"].removesuffix("s"))
    assert 0 < seconds < 16, "the BCM2835 watchdog cannot time out later than about 15 s"
    assert "dtparam=watchdog=on" in (IMAGES / "boot/config.txt").read_text().splitlines()


def test_ssh_password_login_disabled():
    lines = {
        tuple(line.split())
        for line in (IMAGES / "rootfs/etc/ssh/sshd_config.d/10-sharaka.conf").read_text().splitlines()
    }
    assert ("PasswordAuthentication", "no") in lines
    assert ("PermitRootLogin", "no") in lines


def nft_chain(name: str) -> str:
    text = (IMAGES / "rootfs/etc/nftables.conf").read_text()
    match = re.search(rf"chain {name} \{{(.*?)\n    \}}", text, re.S)
    assert match, f"chain {name} missing"
    return match.group(1)


def test_firewall_drops_all_inbound_connections():
    chain = nft_chain("input")
    assert "policy drop;" in chain
    assert not re.search(r"tcp dport", chain), "nothing may listen on the gate"


def test_firewall_allows_mqtt_only_to_the_central_broker():
    chain = nft_chain("output")
    assert "policy drop;" in chain
    mqtt = [line for line in chain.splitlines() if any(port in line for port in ("8883", "8884", "1883"))]
    assert mqtt and all("@central_broker" in line for line in mqtt)
    assert all(re.search(r"tcp dport \{ 8883, 8884, 1883 \}", line) for line in mqtt), "gates, enrolment, loopback"
    assert "udp dport 123 accept" in chain


def test_nft_accepts_the_ruleset(tmp_path):
    out = nft_check(tmp_path, tmp_path)
    assert out.returncode == 0, out.stderr


def test_sharaka_user_in_device_groups():
    lines = (IMAGES / "rootfs/usr/lib/sysusers.d/sharaka.conf").read_text().splitlines()
    members = {line.split()[2] for line in lines if line.startswith("m sharaka ")}
    assert members == {"dialout", "i2c", "video"}


def test_stage_puts_project_files_at_their_image_paths(tmp_path):
    out = subprocess.run(
        [str(IMAGES / "build.sh"), "stage", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    extra = tmp_path / "extra"
    for rel in (
        "usr/lib/systemd/system/sharaka-gate.service",
        "usr/lib/systemd/system/sharaka-firstboot.service",
        "usr/lib/udev/rules.d/60-sharaka-readers.rules",
        "etc/fstab",
        "etc/nftables.conf",
        "etc/rauc/system.conf",
        "usr/lib/systemd/system/sharaka-update-commit.service",
        "usr/lib/systemd/system/sharaka-update-reboot.path",
        "usr/lib/sharaka-release",
    ):
        assert (extra / rel).is_file(), rel
    for handler in ("rauc-bootloader", "rauc-pre-install", "rauc-post-install"):
        assert (extra / "usr/lib/sharaka" / handler).stat().st_mode & 0o777 == 0o755
    grow = read_ini(extra / "usr/lib/repart.d/30-sharaka-data.conf")["Partition"]
    assert grow["Label"] == "sharaka-data" and "SizeMaxBytes" not in grow and "CopyFiles" not in grow
    assert (extra / "usr/lib/sharaka/sharaka-firstboot").stat().st_mode & 0o777 == 0o755
    boot = tmp_path / "bootfs"
    assert (boot / "config.txt").read_text() == (IMAGES / "boot/config.txt").read_text()
    assert (boot / "boot.scr").read_bytes()[:4] == bytes.fromhex("27051956"), "boot.scr is a U-Boot image"


def test_wheel_lock_pins_every_dependency_with_a_hash():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    with (IMAGES.parent / "pyproject.toml").open("rb") as f:
        dependencies = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    pins = {}
    for line in (IMAGES / "wheels-arm64.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            spec, _, hash_part = line.partition(" --hash=sha256:")
            name, _, version = spec.partition("==")
            assert re.fullmatch(r"[0-9a-f]{64}", hash_part), line
            pins[canonicalize_name(name)] = version
    for dep in dependencies:
        name = canonicalize_name(dep.name)
        assert name in pins, f"{dep.name} missing from images/wheels-arm64.lock"
        assert dep.specifier.contains(pins[name]), (
            f"lock pins {dep.name}=={pins[name]}, pyproject wants {dep.specifier}"
        )


def test_rauc_config_has_two_root_slots_on_the_partition_labels():
    conf = read_ini(IMAGES / "rauc/system.conf")
    assert conf["system"]["bootloader"] == "custom" and conf["system"]["compatible"] == "sharaka-gate-arm64"
    assert conf["keyring"]["check-purpose"] == "codesign"
    labels = {p["Label"] for p in repart_definitions().values()}
    slots = {conf[s]["bootname"]: conf[s]["device"] for s in conf.sections() if s.startswith("slot.rootfs.")}
    assert slots == {"A": "/dev/disk/by-partlabel/sharaka-root-a", "B": "/dev/disk/by-partlabel/sharaka-root-b"}
    assert {d.rsplit("/", 1)[1] for d in slots.values()} <= labels
    assert conf["system"]["statusfile"].startswith("/var/lib/sharaka/"), "the roots are read-only"


def test_stage_writes_the_system_version(tmp_path):
    from agent.update.bundle import running_version

    env = {**os.environ, "SHARAKA_IMAGE_VERSION": "1.2.3"}
    out = subprocess.run([str(IMAGES / "build.sh"), "stage", str(tmp_path)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert running_version(tmp_path / "extra/usr/lib/sharaka-release") == "1.2.3"
