"""Signed A/B updates end to end on the real RAUC (docs/update.md, RELIABILITY 54).

Bundles are built and signed by ``sharaka-update`` (tools/update_bundle.py), installed by ``rauc service``
into loop-device slots (tests/support/rauc.py) through the gate's own custom bootloader backend and
downgrade guard, and booted by the reference bootloader of agent/update/bootstate.py. Each refusal test
also asserts what did not change: the other slot's bytes and the boot state.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from agent.cli import main as cli
from agent.update import bootstate
from agent.update.bundle import BUNDLE_FORMATS
from agent.update.health import commit_or_rollback
from agent.update.rauc import BundleRefused, UpdateError
from tests.support.paths import IMAGES
from tests.support.rauc import FORMAT
from tests.support.rauc import build_bundle as bundle
from tools.update_bundle import main as update_tool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RAUC and loop devices are Linux")


def healthy() -> str | None:
    return None


def test_bundle_built_and_verified_against_the_update_ca(tmp_path, keys, other_keys, capsys):
    b = bundle(tmp_path, keys, "1.1", fmt="verity")
    assert update_tool(["verify", str(b), "--keyring", str(keys / "update-ca.pem"), "--json"]) == 0
    assert '"version": "1.1"' in capsys.readouterr().out
    assert update_tool(["verify", str(b), "--keyring", str(other_keys / "update-ca.pem")]) == 3
    plain = bundle(tmp_path, keys, "1.1", fmt="plain")
    assert update_tool(["verify", str(plain), "--keyring", str(keys / "update-ca.pem")]) == 3, "verified as a gate does"
    assert "Bundle format 'plain' not allowed" in capsys.readouterr().err
    assert (keys / "signing.key").stat().st_mode & 0o777 == 0o600
    assert (keys / "update-ca.key").stat().st_mode & 0o777 == 0o600


def test_plain_bundle_is_refused_by_a_gate_like_the_image(tmp_path, keys):
    """A plain bundle is checked once and read again to install: it can be changed in between. The gate's RAUC
    (images/rauc/system.conf: bundle-formats=-plain) installed one all the same. Nothing is written now."""
    from tests.support.rauc import RaucGate

    assert f"bundle-formats={BUNDLE_FORMATS}\n" in (IMAGES / "rauc/system.conf").read_text()
    gate = RaucGate(tmp_path / "gate", bundle_formats=BUNDLE_FORMATS)
    try:
        gate.start("1.0")
        gate.pin(keys / "update-ca.pem")
        before_b, before_state = gate.content("B"), gate.boot_state.read_text()
        with pytest.raises(BundleRefused, match=r"Bundle format 'plain' not allowed.*--format verity"):
            gate.rauc.install(bundle(tmp_path, keys, "2.0", fmt="plain"))
        assert gate.content("B") == before_b and gate.boot_state.read_text() == before_state
    finally:
        gate.stop()


def test_install_writes_the_other_slot_and_commits_after_a_healthy_trial_boot(tmp_path, keys, gate):
    gate.rauc.install(bundle(tmp_path, keys, "2.0", "root 2.0 new\n"))
    assert gate.content("B") == "root 2.0 new\n" and gate.content("A") == "root 1.0\n"
    state = bootstate.load(gate.boot_state)
    assert state.primary() == "B" and state.left["B"] == bootstate.TRIAL_ATTEMPTS
    assert gate.reboot() == "B"
    assert bootstate.load(gate.boot_state).left["B"] == 0, "the trial used its only attempt"
    outcomes: list[str] = []  # what `sharaka-gate update commit` keeps for the agent to report (record_trial)
    assert commit_or_rollback(gate.rauc, healthy, healthy, gate.reboot, record=outcomes.append) == "slot B committed"
    assert bootstate.load(gate.boot_state).left["B"] == bootstate.GOOD_ATTEMPTS
    for _ in range(bootstate.GOOD_ATTEMPTS + 1):  # committed: it stays, boot after healthy boot
        assert gate.reboot() == "B"
        assert commit_or_rollback(gate.rauc, healthy, healthy, gate.reboot, record=outcomes.append) == "slot B booted"
    assert outcomes == ["slot B committed"], "a committed slot's boots are no trial to report"


def test_committed_slot_whose_boots_died_early_is_not_rolled_back(tmp_path, keys, gate):
    """Power cuts during its boots spent a committed slot's attempts; its next boot is no trial to judge, and an
    agent not yet healthy then does not roll the gate back to the old system."""
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    assert gate.reboot() == "B"
    assert commit_or_rollback(gate.rauc, healthy, healthy, gate.reboot) == "slot B committed"
    for _ in range(bootstate.GOOD_ATTEMPTS):  # each boot dies before the commit service runs
        assert gate.reboot() == "B"
    assert bootstate.load(gate.boot_state).left["B"] == 0
    done = commit_or_rollback(gate.rauc, lambda: "sharaka-gate.service restarted 1 time(s)", healthy, gate.reboot)
    assert done == "slot B booted" and gate.booted == "B"
    assert bootstate.load(gate.boot_state).left["B"] == bootstate.GOOD_ATTEMPTS


def test_each_written_slot_gets_its_own_file_system_label(tmp_path, keys, gate):
    # the bundle is made from slot A's root, label included; the post-install handler renames it for B
    tree = tmp_path / "a-root"
    (tree / "usr/lib").mkdir(parents=True)
    (tree / "usr/lib/sharaka-release").write_text('VERSION="2.0"\n')
    image = tmp_path / "a-root.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "sharaka-root-a", "-d", str(tree), str(image), "16M"], check=True)
    out = tmp_path / "from-a.raucb"
    assert update_tool(["build", "--keys", str(keys), "--rootfs", str(image), "--version", "2.0", "--out", str(out),
                        "--format", FORMAT]) == 0
    gate.rauc.install(out)
    assert (gate.label("A"), gate.label("B")) == ("sharaka-root-a", "sharaka-root-b")


def test_failed_trial_boot_rolls_back_to_the_previous_slot(tmp_path, keys, gate):
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    assert gate.reboot() == "B"
    outcomes: list[str] = []
    kept_at_reboot = []

    def reboot() -> None:
        kept_at_reboot.append(list(outcomes))  # the outcome is kept before the reboot that may end this process
        gate.reboot()

    done = commit_or_rollback(gate.rauc, lambda: "sharaka-gate.service restarted 1 time(s)", healthy, reboot,
                              record=outcomes.append)
    assert done.startswith("slot B rolled back") and kept_at_reboot == [[done]]
    assert gate.booted == "A" and gate.release.read_text() == 'VERSION="1.0"\n'
    assert commit_or_rollback(gate.rauc, healthy, healthy, gate.reboot) == "slot A booted"
    assert gate.reboot() == "A", "the bad slot is not tried again"


def test_broken_trial_is_rolled_back_when_rauc_answers_late(tmp_path, keys, gate):
    """The emulated image's broken trial: `rauc status` failed once (D-Bus timeout) and the commit gave up,
    leaving the crashing trial up. Now each RAUC call is tried again before the boot is judged."""
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    assert gate.reboot() == "B"
    back = gate.service_away(1.5)
    try:
        done = commit_or_rollback(gate.rauc, lambda: "sharaka-gate.service restarted 1 time(s)", healthy,
                                  gate.reboot, retry_s=1.0)
    finally:
        back.join()
    assert done.startswith("slot B rolled back") and gate.booted == "A"


def test_trial_is_rolled_back_when_rauc_never_answers(tmp_path, keys, gate):
    """A `rauc status` on a bus that took the call and never answered timed out once, and its TimeoutExpired went
    past the retries: the commit died and the trial stayed up, unjudged. Now each call is bounded and a failed one,
    and a trial RAUC says nothing about is told by the boot state and rolled back; a committed slot is left as it is."""
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    assert gate.reboot() == "B"
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("root=PARTLABEL=sharaka-root-b ro rauc.slot=B console=tty0\n")
    hung, reboots = dataclasses.replace(gate.rauc, call_timeout_s=0.5), []
    with gate.bus_hung():
        done = commit_or_rollback(hung, healthy, healthy, lambda: reboots.append("B"), retry_s=0.1,
                                  boot_state=gate.boot_state, cmdline=cmdline)
    assert done.startswith("slot B rolled back: RAUC gave no status") and "did not answer within 0.5 s" in done
    assert reboots == ["B"] and gate.reboot() == "A", "the trial's attempt is spent: the reboot falls back"
    cmdline.write_text("rauc.slot=A\n")
    with gate.bus_hung(), pytest.raises(UpdateError, match="did not answer"):
        commit_or_rollback(hung, healthy, healthy, lambda: reboots.append("A"), retry_s=0.1,
                           boot_state=gate.boot_state, cmdline=cmdline)
    assert reboots == ["B"], "a committed slot is not rebooted for RAUC's sake"


def test_trial_with_a_failing_selftest_rolls_back(tmp_path, keys, gate):
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    gate.reboot()
    done = commit_or_rollback(gate.rauc, healthy, lambda: "selftest failed: indicators", gate.reboot)
    assert "rolled back" in done and gate.booted == "A"


def test_trial_that_hangs_falls_back_at_the_next_boot(tmp_path, keys, gate):
    """The trial never reaches its health check (kernel hang, watchdog reset, power cut): the next boot,
    whatever caused it, is the old slot."""
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    assert gate.reboot() == "B"
    assert gate.reboot() == "A"
    assert gate.content("A") == "root 1.0\n"


def test_bundle_signed_by_another_key_is_refused_and_nothing_changes(tmp_path, keys, other_keys, gate):
    before_b, before_state = gate.content("B"), gate.boot_state.read_text()
    with pytest.raises(BundleRefused, match="signature|certificate"):
        gate.rauc.install(bundle(tmp_path, other_keys, "2.0"))
    assert gate.content("B") == before_b and gate.boot_state.read_text() == before_state
    assert gate.reboot() == "A"


def test_tampered_bundle_is_refused(tmp_path, keys, gate):
    b = bundle(tmp_path, keys, "2.0")
    data = bytearray(b.read_bytes())
    data[100] ^= 0xFF  # inside the squashfs payload
    b.write_bytes(bytes(data))
    before_state = gate.boot_state.read_text()
    with pytest.raises(BundleRefused):
        gate.rauc.install(b)
    assert gate.boot_state.read_text() == before_state


def test_older_bundle_is_refused_by_the_downgrade_guard(tmp_path, keys, gate):
    gate.rauc.install(bundle(tmp_path, keys, "2.0"))
    gate.reboot()
    commit_or_rollback(gate.rauc, healthy, healthy, gate.reboot)  # now running 2.0 from B
    state_before, a_before = gate.boot_state.read_text(), gate.content("A")
    with pytest.raises(BundleRefused, match=r"version 1.5\) refused by the gate's downgrade guard"):
        gate.rauc.install(bundle(tmp_path, keys, "1.5"))
    assert gate.boot_state.read_text() == state_before and gate.content("A") == a_before
    gate.rauc.install(bundle(tmp_path, keys, "2.0", "root 2.0 reinstalled\n"))  # same version: allowed
    assert gate.content("A") == "root 2.0 reinstalled\n"


def test_update_cli_installs_and_reports_slots(tmp_path, keys, gate):
    b = bundle(tmp_path, keys, "3.0")
    run = [sys.executable, "-m", "agent", "update", f"--rauc-conf={gate.conf}"]
    out = subprocess.run([*run, "install", str(b)], env=gate.env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([*run, "status", "--json"], env=gate.env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"boot_primary": "rootfs.1"' in out.stdout and '"version": "3.0"' in out.stdout
    older = bundle(tmp_path, keys, "0.9")
    out = subprocess.run([*run, "install", str(older)], env=gate.env, capture_output=True, text=True)
    assert out.returncode == 3 and "(version 0.9) refused by the gate's downgrade guard" in out.stderr, out.stderr


def test_a_rauc_that_fails_is_exit_4_not_the_rolled_back_trials_1(tmp_path, capsys):
    """`sharaka-gate update`'s exit codes: 4 when RAUC failed (retry), 1 only for a trial rolled back. A RAUC
    failure was exit 1, so a commit whose RAUC did not answer read as a rollback."""
    assert cli(["update", f"--rauc-conf={tmp_path / 'missing.conf'}", "status"]) == 4
    assert "rauc status failed" in capsys.readouterr().err


@pytest.mark.parametrize(("rootfs", "what"), [
    ("/dev/null", "not a regular file or a directory"), ("empty.ext4", "not an ext4 image (empty)"),
    ("text.ext4", "not an ext4 image (no ext4 superblock)")])
def test_build_names_why_a_rootfs_is_not_an_image(tmp_path, keys, capsys, rootfs, what):
    """--rootfs /dev/null said "no such file"; an empty file failed in RAUC ("squashfs size (4096) must be larger
    than 4096 bytes")."""
    (tmp_path / "empty.ext4").write_bytes(b"")
    (tmp_path / "text.ext4").write_text("not an image\n" * 200)
    path = rootfs if rootfs.startswith("/") else str(tmp_path / rootfs)
    out = tmp_path / "b.raucb"
    assert update_tool(["build", "--keys", str(keys), "--rootfs", path, "--version", "2.0", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"sharaka-update build: --rootfs {path!r}: {what}; give an ext4 image or a "
                                       "directory to pack\n")
    assert not out.exists()
