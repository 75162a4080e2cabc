"""Boot the built appliance image under ``qemu-system-aarch64`` (TCG here) and exercise it: the agent comes
up, reports ready to systemd and passes its selftest on simulated hardware; then a signed update is
installed by RAUC on the running image, trial-booted and committed, and a broken update is rolled back
(README "Longer runs", docs/update.md "On the emulated image").

    sudo ./tools/dev image                 # build (images/build.sh) and then this, with dev update keys
    sudo .venv/bin/python -m tools.image_boot --out build/image [--timeout 900]

QEMU's ``virt`` machine has no Raspberry Pi firmware, so this program is the bootloader: it reads
``sharaka-boot.state`` on the image's boot partition, takes one boot attempt with the same code a real
bootloader port would follow (agent/update/bootstate.py: ``BootState.boot``), loads that slot's own kernel
and initrd and starts it with ``root=PARTLABEL=sharaka-root-a|b rauc.slot=A|B``. ``-no-reboot`` hands every
reboot back here. Partitions are reached through loop devices with offsets (no partition scanning needed).
Figures (image size, boot-to-ready per boot) are printed and written to ``OUT/boot-test/report.json``.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.update.bootstate import BootState
from tools.update_bundle import main as update_tool

STATE_FILE = "sharaka-boot.state"
LOCAL_BUNDLE = "sharaka-update.raucb"  # picked up by sharaka-update-local.path at boot
GATE_TOML = """[gate]
id = "qemu-gate-01"
site = "emulated"
state_dir = "/var/lib/sharaka"

[devices]
reader = "sim://reader?framing=lines"
indicators = "sim://pca9685"
camera = ""

[link]
enabled = false
"""
AGENT_RUN = "/opt/sharaka/venv/lib/python3.11/site-packages/agent/commands/run.py"
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
READY = re.compile(r"Started sharaka-gate\.service|Started Sharaka Gate screening agent")


@dataclass
class Disk:
    """The image file and its GPT partitions by label (offset, size in bytes)."""

    path: Path
    parts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> Disk:
        table = json.loads(subprocess.run(["sfdisk", "-J", str(path)], capture_output=True, text=True,
                                          check=True).stdout)["partitiontable"]
        sector = table.get("sectorsize", 512)
        return cls(path, {p["name"]: (p["start"] * sector, p["size"] * sector) for p in table["partitions"]})

    @contextlib.contextmanager
    def mounted(self, label: str, *, readonly: bool = True) -> Iterator[Path]:
        """An ext4 partition mounted (through a loop device with its offset) for the block."""
        offset, size = self.parts[label]
        loop = subprocess.run(["losetup", "--find", "--show", f"--offset={offset}", f"--sizelimit={size}",
                               *(["--read-only"] if readonly else []), str(self.path)],
                              capture_output=True, text=True, check=True).stdout.strip()
        mnt = Path(tempfile.mkdtemp(prefix=f"sharaka-{label}-"))
        try:
            subprocess.run(["mount", *(["-o", "ro"] if readonly else []), loop, str(mnt)], check=True)
            try:
                yield mnt
            finally:
                subprocess.run(["umount", str(mnt)], check=True)
        finally:
            subprocess.run(["losetup", "--detach", loop], check=False)
            mnt.rmdir()

    def _fat(self) -> str:
        return f"{self.path}@@{self.parts['RASPIFIRM'][0]}"

    def read_boot(self, name: str) -> str | None:
        """A file on the FAT boot partition (mtools: no vfat needed in the host kernel), None if absent."""
        out = subprocess.run(["mcopy", "-n", "-i", self._fat(), f"::/{name}", "-"], capture_output=True,
                             text=True, env=MTOOLS_ENV)
        return out.stdout if out.returncode == 0 else None

    def write_boot(self, name: str, data: bytes | Path) -> None:
        """Put a file on the FAT boot partition (its directory created)."""
        if "/" in name:
            subprocess.run(["mmd", "-i", self._fat(), f"::/{name.rsplit('/', 1)[0]}"], capture_output=True,
                           env=MTOOLS_ENV)
        with tempfile.TemporaryDirectory() as tmp:
            src = data if isinstance(data, Path) else Path(tmp, "data")
            if not isinstance(data, Path):
                src.write_bytes(data)
            subprocess.run(["mcopy", "-o", "-i", self._fat(), str(src), f"::/{name}"], check=True, env=MTOOLS_ENV)

    def extract(self, label: str, dest: Path) -> Path:
        """A partition's bytes as a file (a slot's ext4 image for a bundle)."""
        offset, size = self.parts[label]
        subprocess.run(["dd", f"if={self.path}", f"of={dest}", "bs=4M", "iflag=skip_bytes,count_bytes",
                        f"skip={offset}", f"count={size}", "conv=sparse", "status=none"], check=True)
        return dest


@dataclass
class Boot:
    """One emulated boot: which slot, how long to ready, what the console said."""

    slot: str
    ready_s: float | None
    seconds: float
    log: str
    exit: str


class Bootloader:
    """The boot-state step and the kernel of the chosen slot, then QEMU."""

    def __init__(self, disk: Disk, work: Path, cpus: int, memory_mb: int) -> None:
        self.disk, self.work, self.cpus, self.memory_mb = disk, work, cpus, memory_mb
        self.boots: list[Boot] = []

    def step(self) -> str:
        text = self.disk.read_boot(STATE_FILE)
        state = BootState.parse(text) if text is not None else BootState()
        slot = state.boot()
        self.disk.write_boot(STATE_FILE, state.text().encode())
        return slot

    def kernel(self, slot: str) -> tuple[Path, Path]:
        out = self.work / f"kernel-{slot}"
        out.mkdir(exist_ok=True)
        with self.disk.mounted(f"sharaka-root-{slot.lower()}") as root:
            vmlinuz = sorted((root / "boot").glob("vmlinuz-*"))[-1]
            initrd = sorted((root / "boot").glob("initrd.img-*"))[-1]
            shutil.copy(vmlinuz, out / "vmlinuz")
            shutil.copy(initrd, out / "initrd.img")
        return out / "vmlinuz", out / "initrd.img"

    def boot(self, *, until: re.Pattern[str] | None, timeout: float, extra_wants: str = "") -> Boot:
        """Boot once; stop at ``until`` on the console (a power cut), at the guest's reboot, or at ``timeout``."""
        slot = self.step()
        vmlinuz, initrd = self.kernel(slot)
        cmdline = (f"root=PARTLABEL=sharaka-root-{slot.lower()} rauc.slot={slot} ro fsck.repair=yes "
                   "console=ttyAMA0 systemd.show_status=1 systemd.journald.forward_to_console=1 "
                   "systemd.journald.max_level_console=info" + (f" systemd.wants={extra_wants}" if extra_wants else ""))
        cmd = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", str(self.cpus),
               "-m", str(self.memory_mb), "-nographic", "-no-reboot", "-kernel", str(vmlinuz), "-initrd", str(initrd),
               "-append", cmdline, "-drive", f"file={self.disk.path},if=virtio,format=raw",
               "-device", "virtio-rng-pci"]  # no network: an offline gate (the time-sync wait is skipped)
        print(f"--- boot {len(self.boots) + 1}: slot {slot}", flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)  # a text-mode read of a non-blocking pipe returns None
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode  # a character may span reads
        log, ready, why, buf = [], None, "timeout", ""
        while time.monotonic() - start < timeout:
            try:
                chunk = decode(os.read(proc.stdout.fileno(), 65536))
            except BlockingIOError:
                chunk = ""
            if chunk:
                buf += chunk
                *lines, buf = buf.split("\n")
                for line in lines:
                    log.append(line)
                    if ready is None and READY.search(line):
                        ready = time.monotonic() - start
                        print(f"    agent ready after {ready:.0f} s", flush=True)
                    if until is not None and until.search(line):
                        why = f"saw {until.pattern!r}"
                if why != "timeout":
                    break
            elif proc.poll() is not None:
                why = "guest rebooted or powered off"
                break
            else:
                time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()  # a power cut: the root is read-only, the data partition journals its data
        proc.wait()
        b = Boot(slot, ready, time.monotonic() - start, "\n".join(log), why)
        print(f"    ended after {b.seconds:.0f} s: {why}", flush=True)
        self.boots.append(b)
        (self.work / f"console-{len(self.boots)}-{slot}.log").write_text(b.log)
        return b


def make_bundles(disk: Disk, work: Path, keys: Path, base: str) -> tuple[Path, Path]:
    """v_next: the built root as it is; v_broken: a newer version whose agent crashes at start (``run`` raises;
    the other commands, the update health check among them, still work)."""
    root = disk.extract("sharaka-root-a", work / "root-a.ext4")
    good = work / "good.raucb"
    broken_img = work / "root-broken.ext4"
    shutil.copy(root, broken_img)
    with tempfile.TemporaryDirectory() as tmp:
        run_py = Path(tmp, "run.py")
        run_py.write_text('"""A deliberately broken agent build (tools/image_boot.py)."""\n\n\n'
                          "def register(subparsers):\n    p = subparsers.add_parser('run')\n"
                          "    p.add_argument('--config')\n    p.add_argument('--appliance', action='store_true')\n"
                          "    p.set_defaults(func=crash)\n\n\ndef crash(args):\n"
                          "    raise RuntimeError('deliberately broken build')\n")
        rel_good, rel_bad = Path(tmp, "rel-good"), Path(tmp, "rel-bad")
        rel_good.write_text(f'VERSION="{base}.1"\n')
        rel_bad.write_text(f'VERSION="{base}.2"\n')
        for image, release, broken in ((root, rel_good, False), (broken_img, rel_bad, True)):
            cmds = ["rm /usr/lib/sharaka-release", f"write {release} /usr/lib/sharaka-release"]
            if broken:
                cmds += [f"rm {AGENT_RUN}", f"write {run_py} {AGENT_RUN}"]
            subprocess.run(["debugfs", "-w", "-f", "-", str(image)], input="\n".join(cmds) + "\n", text=True,
                           check=True, capture_output=True)
    for image, version, out in ((root, f"{base}.1", good), (broken_img, f"{base}.2", work / "broken.raucb")):
        out.unlink(missing_ok=True)
        assert update_tool(["build", "--keys", str(keys), "--rootfs", str(image), "--version", version,
                            "--out", str(out)]) == 0
    return good, work / "broken.raucb"


def put_on_boot(disk: Disk, files: dict[str, bytes | Path]) -> None:
    for rel, data in files.items():
        disk.write_boot(rel, data)


def run(out: Path, timeout: float, cpus: int, memory_mb: int) -> dict[str, object]:
    image = out / "sharaka-gate-arm64.img"
    work = out / "boot-test"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk_path = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk_path)], check=True)
    disk = Disk.open(disk_path)
    with disk.mounted("sharaka-root-a") as root:
        base = re.search(r'VERSION="([^"]+)"', (root / "usr/lib/sharaka-release").read_text())[1]  # type: ignore[index]
    good, broken = make_bundles(disk, work, out / "keys", base)
    put_on_boot(disk, {"sharaka/gate.toml": GATE_TOML.encode()})
    loader = Bootloader(disk, work, cpus, memory_mb)
    report: dict[str, object] = {"image_bytes": image.stat().st_size,
                                 "image_allocated_bytes": image.stat().st_blocks * 512, "cpus": cpus}
    selftest = re.compile(r"sharaka-selftest\.service: Deactivated successfully|Finished sharaka-selftest")
    first = loader.boot(until=re.compile(r"slot A booted"), timeout=timeout, extra_wants="sharaka-selftest.service")
    checks = {"agent_ready_first_boot": first.ready_s is not None, "selftest_passed": bool(selftest.search(first.log))}
    put_on_boot(disk, {LOCAL_BUNDLE: good})
    install = loader.boot(until=None, timeout=timeout)  # installs from the boot partition, then reboots
    checks["update_installed"] = "installed: the other slot boots next" in install.log
    trial = loader.boot(until=re.compile(r"slot B committed|rolled back"), timeout=timeout)
    checks["update_committed"] = trial.slot == "B" and "slot B committed" in trial.log
    put_on_boot(disk, {LOCAL_BUNDLE: broken})
    loader.boot(until=None, timeout=timeout)  # installs the broken update into A
    bad_trial = loader.boot(until=None, timeout=timeout)  # the trial fails and reboots
    checks["broken_update_rolled_back"] = bad_trial.slot == "A" and "rolled back" in bad_trial.log
    after = loader.boot(until=re.compile(r"slot B booted"), timeout=timeout)
    checks["back_on_previous_slot"] = after.slot == "B" and after.ready_s is not None
    report["checks"] = checks
    report["boots"] = [{"slot": b.slot, "ready_s": b.ready_s, "seconds": round(b.seconds, 1), "ended": b.exit}
                       for b in loader.boots]
    (work / "report.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    """Boot the image and print the report; exit 1 when a check failed."""
    p = argparse.ArgumentParser(prog="python -m tools.image_boot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("build/image"), help="images/build.sh output directory")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per boot")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--memory", type=int, default=1024, help="MiB")
    args = p.parse_args(argv)
    report = run(args.out, args.timeout, args.cpus, args.memory)
    print(json.dumps(report, indent=1))
    return 0 if all(report["checks"].values()) else 1  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
