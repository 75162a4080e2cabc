"""The gate's boot selection is U-Boot running images/boot/boot.cmd, and it takes the same step as
agent/update/bootstate.py's ``BootState.boot`` (which RAUC's custom backend and the update tests rely on).

Each case boots Debian's U-Boot for QEMU (``u-boot-qemu``: qemu_arm64, the same U-Boot 2023.01 source as the
Raspberry Pi's ``u-boot-rpi``) under ``qemu-system-aarch64`` on a small disk laid out like the image: the boot
partition with the compiled ``boot.scr`` (``images/build.sh stage``) and a boot state, and two root slots whose
``/boot/vmlinuz`` is a marker file, not a kernel. U-Boot's distro boot finds the script; the script picks a
slot, writes the state back, loads that slot's files and fails to boot them (``booti`` refuses the marker), so
it resets and QEMU exits (``-no-reboot``). The console says which slot and partition; the state file is read
back from the disk with mtools and compared with what ``BootState.boot`` makes of the same state.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from agent.update.bootstate import BootState
from tests.support.paths import IMAGES

UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
MTOOLS = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
SECTOR = 512
BOOT_SECTORS, ROOT_SECTORS = 32768, 16384  # 16 MiB FAT, 8 MiB per slot
ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_ARM64 = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"


@pytest.fixture(scope="module")
def boot_scr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stage")
    run = subprocess.run([str(IMAGES / "build.sh"), "stage", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return out / "bootfs/boot.scr"


def make_disk(tmp: Path, boot_scr: Path, state: str | None) -> tuple[Path, int]:
    """Boot partition (FAT: boot.scr, the state if any), root slots A and B; the boot partition's offset."""
    fat = tmp / "boot.fat"
    subprocess.run(["mkfs.vfat", "-C", "-n", "RASPIFIRM", str(fat), str(BOOT_SECTORS // 2)], check=True,
                   capture_output=True)
    files = [boot_scr]
    if state is not None:
        (tmp / "sharaka-boot.state").write_text(state)
        files.append(tmp / "sharaka-boot.state")
    subprocess.run(["mcopy", "-i", str(fat), *map(str, files), "::/"], check=True, env=MTOOLS)
    roots = []
    for slot in "ab":
        tree = tmp / f"tree-{slot}/boot"
        tree.mkdir(parents=True)
        (tree / "vmlinuz").write_text(f"kernel of slot {slot}\n")
        (tree / "initrd.img").write_text(f"initrd of slot {slot}\n")
        img = tmp / f"root-{slot}.ext4"
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", f"sharaka-root-{slot}", "-d", str(tree.parent), str(img),
                        f"{ROOT_SECTORS // 2}k"], check=True)
        roots.append(img)
    disk = tmp / "disk.img"
    first = 2048
    with disk.open("wb") as f:
        f.truncate((first + BOOT_SECTORS + 2 * ROOT_SECTORS + 2048) * SECTOR)
    table = (f"label: gpt\nstart={first}, size={BOOT_SECTORS}, type={ESP}, name=\"RASPIFIRM\"\n"
             f"size={ROOT_SECTORS}, type={ROOT_ARM64}, name=\"sharaka-root-a\"\n"
             f"size={ROOT_SECTORS}, type={ROOT_ARM64}, name=\"sharaka-root-b\"\n")
    subprocess.run(["sfdisk", "-q", str(disk)], input=table, text=True, check=True)
    for image, start in ((fat, first), (roots[0], first + BOOT_SECTORS),
                         (roots[1], first + BOOT_SECTORS + ROOT_SECTORS)):
        subprocess.run(["dd", f"if={image}", f"of={disk}", f"bs={SECTOR}", f"seek={start}", "conv=notrunc",
                        "status=none"], check=True)
    return disk, first * SECTOR


def uboot_boot(disk: Path) -> str:
    """One power-on under QEMU: U-Boot, distro boot, boot.scr; its console output."""
    run = subprocess.run(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "512", "-nographic",
                          "-no-reboot", "-bios", str(UBOOT), "-nic", "none",
                          "-drive", f"file={disk},if=virtio,format=raw"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    return run.stdout


def read_state(disk: Path, offset: int) -> str:
    out = subprocess.run(["mtype", "-i", f"{disk}@@{offset}", "::/sharaka-boot.state"], capture_output=True,
                         text=True, env=MTOOLS)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("state", [
    None,  # a fresh image: slot A, B blank
    "BOOT_ORDER=B A\nBOOT_A_LEFT=3\nBOOT_B_LEFT=1\n",  # an update written into B: its one trial boot
    "BOOT_ORDER=B A\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\n",  # the trial spent (hung, crashed, unhealthy): back to A
    "BOOT_ORDER=A B\nBOOT_A_LEFT=0\nBOOT_B_LEFT=0\n",  # no attempts anywhere: both renewed, the first boots
], ids=["fresh-image", "trial-of-b", "trial-spent-falls-back", "all-spent-renewed"])
def test_uboot_boot_script_takes_the_same_step_as_the_reference_bootloader(tmp_path, boot_scr, state):
    disk, offset = make_disk(tmp_path, boot_scr, state)
    expected = BootState.parse(state) if state is not None else BootState()
    slot = expected.boot()
    console = uboot_boot(disk)
    assert "Found U-Boot script /boot.scr" in console, console
    m = re.search(r"sharaka: slot ([AB]) \(attempts left", console)
    assert m and m[1] == slot, console
    part = {"A": 2, "B": 3}[slot]
    assert f"from virtio 0:{part} (sharaka-root-{slot.lower()})" in console, console
    assert "Bad Linux ARM64 Image magic" in console, "the script should have loaded the slot's /boot/vmlinuz"
    after = BootState.parse(read_state(disk, offset))
    assert (after.order, after.left) == (expected.order, expected.left)
