"""First-boot provisioning (images/firstboot/sharaka-firstboot) run in a fake root.

The script's paths come from SHARAKA_* variables, so the real script runs here against a temporary
boot partition and data directory, with this interpreter (which has PyNaCl) standing in for the venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from tests.support.nft import nft_check
from tests.support.paths import IMAGES

SCRIPT = IMAGES / "firstboot/sharaka-firstboot"
GATE_TOML = """[gate]
id = "uto-north-07"
site = "uto-north"
state_dir = "/var/lib/sharaka"

[link]
enabled = true
host = "192.0.2.10"
port = 8883
"""


def run(args: list[str], root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"/usr/sbin:/sbin:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SHARAKA_BOOT_DIR": str(root / "boot/firmware/sharaka"),
        "SHARAKA_DATA_DIR": str(root / "var/lib/sharaka"),
        "SHARAKA_DATA_DEV": str(root / "data.img"),
        "SHARAKA_PYTHON": sys.executable,
        "SHARAKA_OWNER": "",
        **extra,
    }
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fake card: a boot partition carrying a provisioning bundle, and a mounted (empty) data dir."""
    bundle = tmp_path / "boot/firmware/sharaka"
    bundle.mkdir(parents=True)
    (bundle / "gate.toml").write_text(GATE_TOML)
    (bundle / "root.pub").write_text("ab" * 32 + "\n")
    (bundle / "node.pub").write_bytes(bytes(range(32)))
    (bundle / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nspecimen\n-----END CERTIFICATE-----\n")
    (bundle / "site.sources").write_text("server 192.0.2.123 iburst\n")
    (tmp_path / "var/lib/sharaka").mkdir(parents=True)
    return tmp_path


def test_firstboot_script_parses():
    out = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(
    "script", [SCRIPT, IMAGES / "mkosi.postinst", IMAGES / "build.sh", IMAGES / "rauc/rauc-bootloader",
               IMAGES / "rauc/rauc-pre-install"], ids=lambda p: p.name
)
def test_image_scripts_pass_shellcheck(script):
    out = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_provision_twice_keeps_the_same_device_key(root):
    first = run(["provision"], root)
    assert first.returncode == 0, first.stderr
    key = root / "var/lib/sharaka/device.key"
    seed = key.read_bytes()
    assert len(seed) == 32 and key.stat().st_mode & 0o777 == 0o600
    assert (root / "var/lib/sharaka/device.key.pub").read_bytes() == bytes(SigningKey(seed).verify_key)

    # A second run (a new bundle dropped on the card, or the unit re-run) keeps the identity.
    (root / "boot/firmware/sharaka").mkdir()
    (root / "boot/firmware/sharaka/gate.toml").write_text(GATE_TOML.replace("uto-north-07", "uto-north-08"))
    second = run(["provision"], root)
    assert second.returncode == 0, second.stderr
    assert key.read_bytes() == seed and key.stat().st_mode & 0o777 == 0o600
    assert "uto-north-08" in (root / "var/lib/sharaka/etc/gate.toml").read_text()
    third = run(["provision"], root)
    assert third.returncode == 0 and key.read_bytes() == seed


def test_provision_removes_the_bundle_from_the_boot_partition(root):
    out = run(["provision"], root)
    assert out.returncode == 0, out.stderr
    assert not (root / "boot/firmware/sharaka").exists()
    etc = root / "var/lib/sharaka/etc"
    assert (etc / "ca.crt").stat().st_mode & 0o777 == 0o644
    assert (etc / "node.pub").read_bytes() == bytes(range(32))
    assert (etc / "chrony/site.sources").read_text() == "server 192.0.2.123 iburst\n"
    # What stays on the boot partition is public: the device key to enrol.
    leftover = sorted(p.name for p in (root / "boot/firmware").iterdir())
    assert leftover == ["sharaka-enrol.txt"]
    pub = (root / "var/lib/sharaka/device.key.pub").read_bytes().hex()
    assert (root / "boot/firmware/sharaka-enrol.txt").read_text() == f"device_pub={pub}\n"
    assert (root / "var/lib/sharaka/.provisioned").read_text() == pub + "\n"


def test_provision_allows_mqtt_only_to_the_configured_broker(root):
    assert run(["provision"], root).returncode == 0
    rules = (root / "var/lib/sharaka/etc/nftables-central.nft").read_text()
    assert "add element inet sharaka central_broker4 { 192.0.2.10 }" in rules
    assert "central_broker6" not in rules


@pytest.mark.parametrize(("listen", "opened"), [("192.0.2.20", "ip daddr 192.0.2.20 tcp dport 8443"),
                                                ("2001:db8::20", "ip6 daddr 2001:db8::20 tcp dport 8443"),
                                                ("127.0.0.1", None)])
def test_the_officers_screen_on_a_gate_address_is_let_in_there_a_few_connections_a_client(root, listen, opened):
    """[screen] listen may be one of the gate's addresses (docs/config.md), but the firewall let nothing in: the
    booth terminal could not reach the screen. It is let in at that address and port only, each client refused
    (reset) beyond 16 connections at once; a screen on loopback opens nothing."""
    (root / "boot/firmware/sharaka/gate.toml").write_text(
        GATE_TOML + f'\n[screen]\nenabled = true\nlisten = "{listen}"\nport = 8443\n')
    assert run(["provision"], root).returncode == 0
    etc = root / "var/lib/sharaka/etc"
    rules = (etc / "nftables-screen.nft").read_text()
    if opened is None:
        assert "add rule" not in rules
    else:
        assert f"{opened} ct state new add @screen_clients" in rules and "ct count over 16 } reject" in rules
        assert f"{opened} ct state new accept" in rules
        assert rules.count("tcp dport") == 2, "nothing else is let in"
    out = nft_check(root, etc)
    assert out.returncode == 0, out.stderr


def test_provision_without_gate_toml_fails_and_keeps_the_bundle(root):
    (root / "boot/firmware/sharaka/gate.toml").unlink()
    out = run(["provision"], root)
    assert out.returncode == 3
    assert "remedy:" in out.stderr
    assert (root / "boot/firmware/sharaka/root.pub").exists()
    assert not (root / "var/lib/sharaka/.provisioned").exists()
    assert not (root / "var/lib/sharaka/device.key").exists()


def test_provision_refuses_unknown_bundle_file(root):
    (root / "boot/firmware/sharaka/authorized_keys").write_text("ssh-ed25519 AAAA specimen\n")
    out = run(["provision"], root)
    assert out.returncode == 4
    assert "'authorized_keys'" in out.stderr or "authorized_keys" in out.stderr
    assert (root / "boot/firmware/sharaka/root.pub").exists(), "a refused bundle is left for the technician"
    assert not (root / "var/lib/sharaka/.provisioned").exists()


@pytest.mark.parametrize("secret", ["client.key", "broker.password"])
def test_bundle_with_a_long_lived_secret_is_refused(root, secret):
    """The TLS key is made on the gate and the broker is reached with a certificate: a bundle carrying a
    private key or a password is refused and left for the technician (docs/provisioning.md "Mass roll-out")."""
    (root / "boot/firmware/sharaka" / secret).write_text("specimen secret\n")
    out = run(["provision"], root)
    assert out.returncode == 4 and secret in out.stderr
    assert not (root / "var/lib/sharaka/etc" / secret).exists()
    assert not (root / "var/lib/sharaka/.provisioned").exists()


def test_token_bundle_installs_the_answers_for_root_only_and_opens_the_enrolment_port(root):
    """A mass roll-out bundle: provision.toml (answers and a one-time token), no gate.toml. First boot installs it
    0600 for sharaka-provision.service, makes the device key, lets MQTT out to the enrolment broker only."""
    bundle = root / "boot/firmware/sharaka"
    (bundle / "gate.toml").unlink()
    (bundle / "provision.toml").write_text('gate = "uto-north-07"\nsite = "uto-north"\ntoken = "K7QM-2XPA"\n'
                                           'broker = "mqtts://192.0.2.11:8884"\n')
    out = run(["provision"], root)
    assert out.returncode == 0, out.stderr
    etc = root / "var/lib/sharaka/etc"
    assert (etc / "provision.toml").stat().st_mode & 0o777 == 0o600
    assert not (etc / "gate.toml").exists() and not bundle.exists()
    assert len((root / "var/lib/sharaka/device.key").read_bytes()) == 32
    rules = (etc / "nftables-central.nft").read_text()
    assert "add element inet sharaka central_broker4 { 192.0.2.11 }" in rules


def test_provision_rejects_a_corrupt_device_key(root):
    (root / "var/lib/sharaka/device.key").write_bytes(b"short")
    out = run(["provision"], root)
    assert out.returncode == 6
    assert (root / "var/lib/sharaka/device.key").read_bytes() == b"short", (
        "an identity is never silently replaced"
    )
    assert (root / "boot/firmware/sharaka").exists()


def blkid_value(dev: Path, tag: str) -> str:
    out = subprocess.run(
        ["/usr/sbin/blkid", "-p", "-s", tag, "-o", "value", str(dev)], capture_output=True, text=True
    )
    return out.stdout.strip()


def test_format_makes_ext4_on_a_blank_data_partition_once(root):
    dev = root / "data.img"
    with dev.open("wb") as f:
        f.truncate(32 << 20)
    first = run(["format"], root)
    assert first.returncode == 0, first.stderr
    assert blkid_value(dev, "TYPE") == "ext4"
    assert blkid_value(dev, "LABEL") == "sharaka-data"
    uuid = blkid_value(dev, "UUID")
    second = run(["format"], root)
    assert second.returncode == 0, second.stderr
    assert blkid_value(dev, "UUID") == uuid, "a partition with a file system is never reformatted"
    dumpe2fs = subprocess.run(["/usr/sbin/dumpe2fs", "-h", str(dev)], capture_output=True, text=True)
    assert "journal_data" in dumpe2fs.stdout


@pytest.fixture
def blank_gpt_partition(tmp_path: Path) -> Iterator[Path]:
    """The card's blank data partition as the gate sees it: a GPT partition labelled sharaka-data on a loop
    device (partition scanning on), not a bare file."""
    disk = tmp_path / "card.img"
    with disk.open("wb") as f:
        f.truncate(48 << 20)
    subprocess.run(["/usr/sbin/sfdisk", "-q", str(disk)], check=True, capture_output=True,
                   input="label: gpt\nsize=8M, name=RASPIFIRM\nsize=32M, name=sharaka-data\n", text=True)
    out = subprocess.run(["losetup", "--find", "--show", "--partscan", str(disk)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"needs a loop device with partitions (root): {out.stderr.strip()}")
    loop = out.stdout.strip()
    part = Path(f"{loop}p2")
    try:
        deadline = time.monotonic() + 10
        while not part.is_block_device() and time.monotonic() < deadline:  # no udev in a container: ask again
            subprocess.run(["partx", "--add", loop], capture_output=True)
            time.sleep(0.2)
        assert part.is_block_device(), f"{part} never appeared"
        yield part
    finally:
        subprocess.run(["losetup", "--detach", loop], check=False)


def test_format_makes_ext4_on_a_blank_gpt_partition_whose_entry_blkid_reports(root, blank_gpt_partition):
    # blkid -p on a partition reports its GPT entry (PART_ENTRY_NAME=sharaka-data ...) and exits 0: the
    # second emulated boot took that for a file system, left the partition blank and failed to mount it.
    out = run(["format"], root, SHARAKA_DATA_DEV=str(blank_gpt_partition))
    assert out.returncode == 0, out.stderr
    assert "already has a file system" not in out.stderr
    assert blkid_value(blank_gpt_partition, "TYPE") == "ext4"


def test_format_without_data_device_fails_with_remedy(root):
    out = run(["format"], root)
    assert out.returncode == 5 and "remedy:" in out.stderr


def test_broker_set_written_at_first_boot_loads_into_the_ruleset(root):
    assert run(["provision"], root).returncode == 0
    etc = root / "var/lib/sharaka/etc"
    out = nft_check(root, etc)
    assert out.returncode == 0, out.stderr
    (etc / "nftables-central.nft").write_text("add element inet sharaka central_broker4 { not-an-address }\n")
    assert nft_check(root, etc).returncode != 0, "the check must notice a broken include"


def test_device_key_is_the_one_the_agent_loads(root):
    from agent.keys import load_public_key, load_signing_key

    assert run(["provision"], root).returncode == 0
    state = root / "var/lib/sharaka"
    key = load_signing_key(state / "device.key")
    assert bytes(key.verify_key) == bytes(load_public_key(state / "device.key.pub"))
    signed = key.sign(b"sharaka/v1 specimen")
    assert load_public_key(state / "device.key.pub").verify(signed) == b"sharaka/v1 specimen"
