"""Boot the built appliance image under ``qemu-system-aarch64`` (TCG here) and exercise it: the agent comes
up, reports ready to systemd and passes its selftest on simulated hardware; then a signed update is
installed by RAUC on the running image, trial-booted and committed, and a broken update is rolled back
(README "Longer runs", docs/update.md "On the emulated image", docs/image.md "Built and booted").

    sudo ./tools/dev image                 # build (images/build.sh) and then this, with dev update keys
    sudo .venv/bin/python -m tools.image_boot --out build/image [--timeout 900]
    sudo .venv/bin/python -m tools.image_boot --out build/image --rollback-only build/image/boot-test/broken.raucb
                                           # the bad update alone, from a fresh card (beside a run, to save time)

What runs is the image's own boot chain from U-Boot on: QEMU's ``virt`` machine starts Debian's U-Boot for
QEMU (``u-boot-qemu``, qemu_arm64) in place of the Raspberry Pi firmware and its U-Boot (``u-boot-rpi``, same
U-Boot source); U-Boot's distro boot finds the image's ``boot.scr`` on the boot partition, which chooses the
slot from ``sharaka-boot.state`` exactly as on a gate (images/boot/boot.cmd) and boots that slot's kernel and
initrd. What differs from a Raspberry Pi 4: the machine (virtio disk for the SD card, PL011 console, no
I2C/camera/reader: the gate's config uses the simulated devices), ``sharaka-cmdline.txt`` on the boot partition
(console on ttyAMA0, journal on the console), and one systemd drop-in written into slot A before anything
else (``EMULATED_DROPIN``: the agent's start and watchdog bounds relaxed for a CPU emulated at a fraction of
a Pi's speed); the bundles are made from that slot, so they carry it too. ``-no-reboot`` turns each guest
reboot into the end of one QEMU run; the next run is the next power-on. Console logs, figures and checks go
to ``OUT/boot-test/``; the report is printed.
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

from tools.update_bundle import main as update_tool

STATE_FILE = "sharaka-boot.state"
CMDLINE_FILE = "sharaka-cmdline.txt"  # extra kernel arguments boot.cmd imports (sharaka_cmdline=...)
LOCAL_BUNDLE = "sharaka-update.raucb"  # picked up by sharaka-update-local.path at boot
UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")  # Debian's u-boot-qemu
CONSOLE = ("console=ttyAMA0 systemd.show_status=1 systemd.journald.forward_to_console=1 "
           "systemd.journald.max_level_console=info")
EMULATED_DROPIN = "etc/systemd/system/sharaka-gate.service.d/50-emulated.conf"
EMULATED_DROPIN_TEXT = """# Written by tools/image_boot.py for the emulated boot only (not part of the image recipe): under QEMU's
# TCG the CPU runs at a fraction of a Raspberry Pi 4's speed, so the agent's start and watchdog bounds are
# relaxed; what is checked (READY=1, no restart, selftest) is unchanged.
[Service]
TimeoutStartSec=5min
WatchdogSec=60
"""
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
READY = re.compile(r"(?:\[\s*(\d+\.\d+)\] )?systemd\[1\]: Started sharaka-gate\.service")
SLOT = re.compile(r"sharaka: slot ([AB]) \(attempts left: A (\d+), B (\d+)\)")
SELFTEST = re.compile(r"sharaka-gate\[\d+\]: ((?:PASS|FAIL|SKIPPED) .*)")
SELFTEST_DONE = re.compile(r"Finished sharaka-selftest\.service|sharaka-selftest\.service: Deactivated successfully")
STARTUP = re.compile(r"Startup finished in .*")
# A boot that can no longer pass: stop it at once rather than at the timeout.
STUCK = re.compile(r"Dependency failed for local-fs\.target|You are in emergency mode|Kernel panic")
INSTALL_FAILED = re.compile(r"Failed to start sharaka-update-local\.service")
# The commit's verdict on a failed trial: its "slot X rolled back" is printed after it asked for the reboot and
# may be cut off by the shutdown; the warning it logs before marking the slot bad is not.
ROLLED_BACK = ("rolled back", "trial boot failed: rolling back")
# Once a boot showed what it was run for, the guest runs this long more before the power is cut: Linux's vfat
# writes a renamed file's directory entry at inode writeback (up to 30 s later), not at the directory's fsync,
# so a cut right after the boot state was saved left sharaka-boot.state pointing at a freed cluster (the
# first run of this image; the save now fsyncs the renamed file too, agent/update/bootstate.py, in images
# built after it).
LINGER_S = 40.0


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
    """One emulated power-on: the slot U-Boot chose, how long to ready, what the console said."""

    slot: str | None
    attempts_left: str | None
    ready_s: float | None  # host wall clock from QEMU's start (U-Boot included) to the agent's READY=1
    ready_guest_s: float | None  # the guest kernel's clock at READY=1 (from the kernel's start)
    seconds: float
    log: str
    exit: str

    def has(self, pattern: str) -> bool:
        """The console shows ``pattern`` (a plain substring)."""
        return pattern in self.log


class Machine:
    """QEMU's virt machine with U-Boot for QEMU as its firmware and the image as its disk."""

    def __init__(self, disk: Disk, work: Path, cpus: int, memory_mb: int) -> None:
        self.disk, self.work, self.cpus, self.memory_mb = disk, work, cpus, memory_mb
        self.boots: list[Boot] = []

    def power_on(self, *, until: list[re.Pattern[str]] | None, timeout: float,
                 give_up: tuple[re.Pattern[str], ...] = (STUCK,)) -> Boot:
        """Boot once; stop LINGER_S after every pattern of ``until`` was on the console (a power cut: the root is
        read-only, the data partition journals its data), when the guest reboots, when a ``give_up`` pattern
        shows the boot cannot pass, or at ``timeout``."""
        cmd = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", str(self.cpus),
               "-m", str(self.memory_mb), "-nographic", "-no-reboot", "-bios", str(UBOOT),
               "-drive", f"file={self.disk.path},if=virtio,format=raw", "-device", "virtio-rng-pci",
               "-nic", "none"]  # no network: an offline gate (the time-sync wait is skipped after its 20 s)
        print(f"--- power-on {len(self.boots) + 1}", flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)  # a text-mode read of a non-blocking pipe returns None
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode  # a character may span reads
        log: list[str] = []
        slot = attempts = None
        ready = ready_guest = None
        waiting = list(until or [])
        why, buf = "timeout", ""
        while time.monotonic() - start < timeout:
            try:
                chunk = decode(os.read(proc.stdout.fileno(), 65536))
            except BlockingIOError:
                chunk = ""
            if chunk:
                buf += chunk
                *lines, buf = buf.split("\n")
                for line in lines:
                    line = line.rstrip("\r")
                    log.append(line)
                    if slot is None and (m := SLOT.search(line)):
                        slot, attempts = m[1], f"A {m[2]}, B {m[3]}"
                        print(f"    U-Boot chose slot {slot} (attempts left: {attempts})", flush=True)
                    if ready is None and (m := READY.search(line)):
                        ready = time.monotonic() - start
                        ready_guest = float(m[1]) if m[1] else None
                        print(f"    agent ready after {ready:.0f} s (guest clock {ready_guest} s)", flush=True)
                    waiting = [p for p in waiting if not p.search(line)]
                    if why == "timeout" and any(p.search(line) for p in give_up):
                        why = f"gave up at {line.strip()[-120:]!r}"
                if why.startswith("gave up"):
                    break
                if until and not waiting and not why.startswith("saw"):
                    why = "saw " + ", ".join(repr(p.pattern) for p in until)
                    timeout = min(timeout, time.monotonic() - start + LINGER_S)
            elif proc.poll() is not None:
                why = why if why.startswith("saw") else "guest rebooted or powered off"
                break
            else:
                time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        b = Boot(slot, attempts, ready, ready_guest, time.monotonic() - start, "\n".join(log), why)
        print(f"    ended after {b.seconds:.0f} s: {why}", flush=True)
        self.boots.append(b)
        (self.work / f"console-{len(self.boots)}-{slot}.log").write_text(b.log)
        return b


def add_emulation_dropin(disk: Disk) -> None:
    """The one change to slot A for emulation (EMULATED_DROPIN), before anything boots or is bundled."""
    with disk.mounted("sharaka-root-a", readonly=False) as root:
        path = root / EMULATED_DROPIN
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(EMULATED_DROPIN_TEXT)


def shrunk_copy(image: Path, dest: Path) -> Path:
    """``image`` (an ext4 slot) shrunk to its contents: a smaller bundle to write; RAUC grows it back
    (``resize=true``)."""
    shutil.copy(image, dest)
    subprocess.run(["e2fsck", "-f", "-y", str(dest)], check=False, capture_output=True)
    subprocess.run(["resize2fs", "-M", str(dest)], check=True, capture_output=True)
    info = subprocess.run(["dumpe2fs", "-h", str(dest)], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    os.truncate(dest, int(fields["Block count"]) * int(fields["Block size"]))
    return dest


def make_bundles(disk: Disk, work: Path, keys: Path, base: str) -> tuple[Path, Path]:
    """v_next: slot A's root as it is; v_broken: a newer version whose agent crashes at start (``run`` raises;
    the other commands, the update health check among them, still work)."""
    full = disk.extract("sharaka-root-a", work / "root-a-full.ext4")
    root = shrunk_copy(full, work / "root-a.ext4")
    full.unlink()
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


def fresh_card(out: Path, work: Path, cmdline: str) -> tuple[Disk, str]:
    """A copy of the built image in ``work`` as a technician leaves it (the emulation drop-in in slot A, a
    provisioning bundle and ``cmdline`` on the boot partition); with the version slot A runs."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    disk_path = work / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(out / "sharaka-gate-arm64.img"), str(disk_path)], check=True)
    disk = Disk.open(disk_path)
    add_emulation_dropin(disk)
    with disk.mounted("sharaka-root-a") as root:
        base = re.search(r'VERSION="([^"]+)"', (root / "usr/lib/sharaka-release").read_text())[1]  # type: ignore[index]
    disk.write_boot("sharaka/gate.toml", GATE_TOML.encode())
    disk.write_boot(CMDLINE_FILE, f"sharaka_cmdline={CONSOLE}{cmdline}\n".encode())
    return disk, base


def rollback_only(out: Path, bundle: Path, timeout: float, cpus: int, memory_mb: int) -> dict[str, object]:
    """A bad update from a fresh card, beside ``run`` (in ``OUT/boot-test-rollback``): the first boot installs
    ``bundle`` (``run``'s broken.raucb: newer, its agent crashes) into slot B, B's trial fails and is rolled
    back, and A boots again."""
    work = out / "boot-test-rollback"
    disk, _ = fresh_card(out, work, "")
    disk.write_boot(LOCAL_BUNDLE, bundle)
    machine = Machine(disk, work, cpus, memory_mb)
    install = machine.power_on(until=None, timeout=timeout, give_up=(STUCK, INSTALL_FAILED))
    checks = {"broken_update_installed": install.slot == "A" and install.has("installed: the other slot")}
    bad_trial = machine.power_on(until=None, timeout=timeout) if all(checks.values()) else None
    checks["broken_trial_boot_of_b"] = bad_trial is not None and bad_trial.slot == "B"
    checks["broken_update_rolled_back"] = bad_trial is not None and any(bad_trial.has(v) for v in ROLLED_BACK)
    if all(checks.values()):
        after = machine.power_on(until=[READY], timeout=timeout)
        checks["back_on_previous_slot"] = after.slot == "A" and after.ready_s is not None
    report: dict[str, object] = {"checks": checks}
    record(report, machine, disk, work)
    return report


def record(report: dict[str, object], machine: Machine, disk: Disk, work: Path) -> None:
    """Write the report so far to ``work/report.json`` (a long run leaves its figures even when stopped)."""
    report["boots"] = [{"slot": b.slot, "attempts_left_after": b.attempts_left,
                        "ready_s": None if b.ready_s is None else round(b.ready_s, 1),
                        "ready_guest_s": b.ready_guest_s, "seconds": round(b.seconds, 1), "ended": b.exit}
                       for b in machine.boots]
    report["boot_state_after"] = disk.read_boot(STATE_FILE)
    (work / "report.json").write_text(json.dumps(report, indent=1))


def run(out: Path, timeout: float, cpus: int, memory_mb: int) -> dict[str, object]:
    image = out / "sharaka-gate-arm64.img"
    work = out / "boot-test"
    disk, base = fresh_card(out, work, " systemd.wants=sharaka-selftest.service")
    machine = Machine(disk, work, cpus, memory_mb)
    report: dict[str, object] = {"image_bytes": image.stat().st_size,
                                 "image_allocated_bytes": image.stat().st_blocks * 512, "cpus": cpus,
                                 "memory_mb": memory_mb}
    checks: dict[str, bool] = {}
    report["checks"] = checks

    def saved() -> bool:
        record(report, machine, disk, work)
        return all(checks.values())

    power_on = machine.power_on
    first = power_on(until=[re.compile(r"slot A booted"), SELFTEST_DONE], timeout=timeout)
    selftest = [m[1] for m in SELFTEST.finditer(first.log)]
    report["selftest"] = selftest
    report["startup"] = [m[0] for m in STARTUP.finditer(first.log)]
    checks.update({"first_boot_slot_a": first.slot == "A", "agent_ready_first_boot": first.ready_s is not None,
                   "selftest_passed": bool(SELFTEST_DONE.search(first.log))
                   and any(x.startswith("PASS") for x in selftest) and not any(x.startswith("FAIL") for x in selftest)})
    if not saved():  # no update is worth trying on an image whose agent does not come up
        return report
    # the bundles come from slot A as flashed: its root is mounted read-only, so the first boot left it as it was
    good, broken = make_bundles(disk, work, out / "keys", base)
    report["bundle_bytes"] = good.stat().st_size
    disk.write_boot(CMDLINE_FILE, f"sharaka_cmdline={CONSOLE}\n".encode())
    disk.write_boot(LOCAL_BUNDLE, good)
    install = power_on(until=None, timeout=timeout, give_up=(STUCK, INSTALL_FAILED))  # installs, then reboots
    checks["update_installed"] = install.slot == "A" and install.has("installed: the other slot boots next")
    trial = power_on(until=[re.compile(r"slot B committed|slot B rolled back")], timeout=timeout)
    checks["update_trial_boot_of_b"] = trial.slot == "B" and trial.attempts_left is not None \
        and trial.attempts_left.endswith("B 0")
    checks["update_committed"] = trial.has("slot B committed")
    if not saved():  # the broken update is installed from slot B
        return report
    disk.write_boot(LOCAL_BUNDLE, broken)
    broken_install = power_on(until=None, timeout=timeout, give_up=(STUCK, INSTALL_FAILED))  # into A
    checks["broken_update_installed"] = broken_install.slot == "B" and broken_install.has("installed: the other slot")
    bad_trial = power_on(until=None, timeout=timeout)  # the trial fails and reboots
    checks["broken_trial_boot_of_a"] = bad_trial.slot == "A"
    checks["broken_update_rolled_back"] = any(bad_trial.has(v) for v in ROLLED_BACK)
    after = power_on(until=[re.compile(r"slot B booted")], timeout=timeout)
    checks["back_on_previous_slot"] = after.slot == "B" and after.ready_s is not None
    saved()
    return report


def main(argv: list[str] | None = None) -> int:
    """Boot the image and print the report; exit 1 when a check failed."""
    p = argparse.ArgumentParser(prog="python -m tools.image_boot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("build/image"), help="images/build.sh output directory")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per boot")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--memory", type=int, default=1024, help="MiB")
    p.add_argument("--rollback-only", type=Path, metavar="BUNDLE",
                   help="only the bad update, from a fresh card (BUNDLE: a run's boot-test/broken.raucb)")
    args = p.parse_args(argv)
    report = (rollback_only(args.out, args.rollback_only, args.timeout, args.cpus, args.memory) if args.rollback_only
              else run(args.out, args.timeout, args.cpus, args.memory))
    print(json.dumps(report, indent=1))
    return 0 if all(report["checks"].values()) else 1  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
