"""A gate's A/B slots under the real RAUC (Debian ``rauc`` 1.8 + ``rauc service``), booted by the reference
bootloader of agent/update/bootstate.py: the other side of an update, with nothing mocked.

Each gate has two root slots on loop devices (``losetup``; plain files when this machine has no loop
devices, said in ``slot_kind``), a boot-state file, and its own ``dbus-daemon`` (a private system bus) with
``rauc service`` on it, configured like the image's /etc/rauc/system.conf: custom bootloader backend and
pre-install handler are the real ``sharaka-gate update bootloader`` / ``check-bundle``, the post-install handler
the image's own script (images/rauc/rauc-post-install). ``reboot()`` is one
boot: the bootloader picks the slot from the boot state, and RAUC restarts believing it booted there
(``--override-boot-slot``, as ``rauc.slot=`` on a real kernel command line); the running version is read
from the booted slot's own /usr/lib/sharaka-release. Bundles are ``plain``, which the rig's RAUC then also takes
(``RIG_FORMATS``), unless ``SHARAKA_TEST_VERITY=1`` on a kernel with device-mapper (the booted image test uses verity).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.update import bootstate
from agent.update.bundle import BUNDLE_FORMATS
from agent.update.rauc import Rauc
from tests.support.paths import IMAGES, REPO

SLOT_BYTES = 48 << 20
# verity bundles are mounted through dm-verity, which a container may expose (/dev/mapper/control) without being
# allowed to use it: the rig installs them only when asked (SHARAKA_TEST_VERITY=1, on a machine whose kernel
# mounts them), else it builds plain ones and its RAUC also takes those (the gate's policy, BUNDLE_FORMATS,
# refuses them: test_plain_bundle_is_refused_by_a_gate_like_the_image)
VERITY = os.environ.get("SHARAKA_TEST_VERITY") == "1" and Path("/dev/mapper/control").exists()
FORMAT = "verity" if VERITY else "plain"
RIG_FORMATS = BUNDLE_FORMATS if VERITY else "plain verity"
BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={sock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""


def make_rootfs(directory: Path, version: str, marker: str = "") -> Path:
    """A tiny root tree of system ``version`` (its release file and a marker file)."""
    (directory / "usr/lib").mkdir(parents=True, exist_ok=True)
    (directory / "usr/lib/sharaka-release").write_text(f'VERSION="{version}"\n')
    (directory / "etc").mkdir(exist_ok=True)
    (directory / "etc/marker").write_text(marker or f"root {version}\n")
    return directory


def read_file(device: str, path: str) -> str:
    """A file from the ext4 file system on ``device``, read without mounting it (debugfs)."""
    out = subprocess.run(["/usr/sbin/debugfs", "-R", f"cat {path}", device], capture_output=True, text=True)
    return out.stdout


class RaucGate:
    """Two slots, a boot state, RAUC on a private bus. Start with ``start(version)``; ``stop()`` always."""

    def __init__(self, root: Path, bundle_formats: str = RIG_FORMATS) -> None:
        self.root = root
        self.bundle_formats = bundle_formats
        self.boot_state = root / "boot/sharaka-boot.state"
        self.boot_state.parent.mkdir(parents=True)
        self.release = root / "run/sharaka-release"  # the booted slot's release file, copied at boot
        self.release.parent.mkdir(parents=True)
        self.devices: dict[str, str] = {}
        self.loops: list[str] = []
        self.slot_kind = "loop"
        self._bus: subprocess.Popen[bytes] | None = None
        self._service: subprocess.Popen[bytes] | None = None
        self.booted = ""
        self.env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={root / 'bus.sock'}",
                    "SHARAKA_BOOT_STATE": str(self.boot_state), "SHARAKA_RELEASE": str(self.release),
                    "PYTHONPATH": str(REPO)}
        self.conf = root / "system.conf"
        self.rauc = Rauc(conf=self.conf, env=self.env)

    def start(self, version: str) -> RaucGate:
        """Slot A holds system ``version`` and is booted; slot B is blank."""
        for slot in bootstate.SLOTS:
            image = self.root / f"slot{slot}.img"
            with image.open("wb") as f:
                f.truncate(SLOT_BYTES)
            if slot == "A":
                tree = make_rootfs(self.root / "tree-A", version)
                subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "sharaka-root-a", "-d", str(tree), str(image)],
                               check=True)
            self.devices[slot] = self._attach(image)
        self._write_conf()
        self._bus = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={self._bus_conf()}"])
        self._wait_for(self.root / "bus.sock")
        self.reboot()
        return self

    def _attach(self, image: Path) -> str:
        out = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True)
        if out.returncode != 0:
            self.slot_kind = "file"
            return str(image)
        self.loops.append(out.stdout.strip())
        return out.stdout.strip()

    def _bus_conf(self) -> Path:
        conf = self.root / "bus.conf"
        conf.write_text(BUS_CONF.format(sock=self.root / "bus.sock"))
        return conf

    def _write_conf(self) -> None:
        python = sys.executable
        for name, action in (("bootloader", "bootloader"), ("pre-install", "check-bundle")):
            script = self.root / f"rauc-{name}"
            script.write_text(f"#!/bin/sh\nexec {python} -m agent update {action} \"$@\" 2>>{self.root / 'handlers.log'}\n")
            script.chmod(0o755)
        (self.root / "mnt").mkdir()
        self.conf.write_text(
            f"[system]\ncompatible=sharaka-gate-arm64\nbootloader=custom\nbundle-formats={self.bundle_formats}\n"
            f"mountprefix={self.root / 'mnt'}\nstatusfile={self.root / 'rauc.status'}\n\n"
            f"[handlers]\nbootloader-custom-backend={self.root / 'rauc-bootloader'}\n"
            f"pre-install={self.root / 'rauc-pre-install'}\npost-install={IMAGES / 'rauc/rauc-post-install'}\n\n"
            f"[keyring]\npath={self.root / 'keyring.pem'}\ncheck-purpose=codesign\n\n"
            + "".join(f"[slot.rootfs.{i}]\ndevice={self.devices[s]}\ntype=ext4\nbootname={s}\nresize=true\n\n"
                      for i, s in enumerate(bootstate.SLOTS))
        )

    def pin(self, keyring: Path) -> None:
        """The update CA this gate trusts (/etc/rauc/keyring.pem)."""
        shutil.copy(keyring, self.root / "keyring.pem")

    def reboot(self) -> str:
        """One boot: the bootloader's choice, RAUC restarted on it. Returns the booted slot."""
        state = bootstate.load(self.boot_state)
        self.booted = state.boot()
        bootstate.save(state, self.boot_state)
        self.release.write_text(read_file(self.devices[self.booted], "/usr/lib/sharaka-release"))
        self._stop_service()
        self._start_service()
        deadline = time.monotonic() + 20
        while subprocess.run(["rauc", f"--conf={self.conf}", "status"], env=self.env,
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError((self.root / "rauc-service.log").read_text())
            time.sleep(0.1)
        return self.booted

    def _start_service(self) -> None:
        with (self.root / "rauc-service.log").open("ab") as log:
            self._service = subprocess.Popen(
                ["rauc", f"--conf={self.conf}", "service", f"--override-boot-slot={self.booted}"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log)

    def service_away(self, seconds: float) -> threading.Thread:
        """RAUC's service gone for ``seconds`` (every call fails meanwhile, as when it cannot answer in time),
        then back on the same boot. Join the returned thread."""
        self._stop_service()
        back = threading.Timer(seconds, self._start_service)
        back.start()
        return back

    @contextmanager
    def bus_hung(self) -> Iterator[None]:
        """The system bus stopped (SIGSTOP) while inside: it holds the connections it accepted and never answers,
        so a ``rauc`` call waits forever (D-Bus's own 25 s timeout does not start). Continued on the way out."""
        assert self._bus is not None
        self._bus.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._bus.send_signal(signal.SIGCONT)

    def label(self, slot: str) -> str:
        """The file-system label of ``slot``'s root."""
        out = subprocess.run(["/usr/sbin/e2label", self.devices[slot]], capture_output=True, text=True)
        return out.stdout.strip()

    def content(self, slot: str) -> str:
        """The marker file of ``slot``'s root."""
        return read_file(self.devices[slot], "/etc/marker")

    def _stop_service(self) -> None:
        if self._service is not None:
            self._service.send_signal(signal.SIGTERM)
            self._service.wait(10)
            self._service = None

    @staticmethod
    def _wait_for(path: Path) -> None:
        deadline = time.monotonic() + 10
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} did not appear")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop RAUC and the bus, detach the loop devices."""
        self._stop_service()
        if self._bus is not None:
            self._bus.terminate()
            self._bus.wait(10)
        for loop in self.loops:
            subprocess.run(["losetup", "--detach", loop], check=False)


def build_bundle(tmp: Path, keys: Path, version: str, marker: str = "", fmt: str = FORMAT) -> Path:
    """A signed bundle (``fmt``: this rig's FORMAT) of a tiny root of ``version``, by ``sharaka-update build``."""
    from tools.update_bundle import main as update_tool

    n = len(list(tmp.glob("*.raucb")))
    tree = make_rootfs(tmp / f"tree-{n}", version, marker)
    (tree / "etc/filler").write_bytes(os.urandom(16 << 10))  # a verity bundle's squashfs must exceed 4 KiB
    out = tmp / f"sharaka-{version}-{n}.raucb"
    assert update_tool(["build", "--keys", str(keys), "--rootfs", str(tree), "--version", version,
                        "--out", str(out), "--format", fmt]) == 0
    return out
