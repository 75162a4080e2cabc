"""The centre's signed ``update`` command at the gate (agent/update/job.py): download from the offered URL,
install through RAUC into the other slot, ask for the reboot; an older offer is refused before any
download (docs/update.md "Offer and download")."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.app import GateApp, SystemdNotifier
from agent.config import load_config
from agent.errors import BadDataError
from agent.protocol.commands import OPS
from agent.update import bootstate
from agent.update.bundle import DowngradeRefused
from agent.update.job import REBOOT_FLAG, UpdateJob
from tests.support.rauc import build_bundle as bundle


@dataclass
class Site:
    """A web server over ``www``; ``requests`` collects the requested paths."""

    www: Path
    port: int = 0
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path / "www")
    site.www.mkdir()
    requests = site.requests

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site.www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.port = server.server_address[1]
    yield site
    server.shutdown()
    server.server_close()


def offer_for(path: Path, port: int, version: str) -> dict[str, object]:
    return {"url": f"http://127.0.0.1:{port}/{path.name}", "size": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "version": version}


def test_offered_update_is_downloaded_installed_and_reboot_requested(tmp_path, keys, gate, served):
    www, port = served.www, served.port
    b = bundle(tmp_path, keys, "2.0", "root 2.0 offered\n")
    b.rename(www / b.name)
    job = UpdateJob(tmp_path / "state", rauc=gate.rauc, release=gate.release)
    assert job.offer(offer_for(www / b.name, port, "2.0")) == "update to 2.0 started"
    job.wait(120)
    assert job.status()["phase"] == "installed", job.status()
    assert gate.content("B") == "root 2.0 offered\n"
    assert bootstate.load(gate.boot_state).primary() == "B"
    assert (tmp_path / "state/update" / REBOOT_FLAG).exists()
    assert not (tmp_path / "state/update/bundle.raucb").exists(), "the installed bundle is not kept"


def test_older_offer_refused_before_any_download(tmp_path, keys, gate, served):
    requests, port = served.requests, served.port
    job = UpdateJob(tmp_path / "state", rauc=gate.rauc, release=gate.release)
    with pytest.raises(DowngradeRefused):
        job.offer({"url": f"http://127.0.0.1:{port}/old.raucb", "size": 10, "sha256": "0" * 64,
                   "version": "0.9"})
    assert requests == [] and job.status()["phase"] == "idle"


def test_offer_of_a_bundle_signed_by_another_key_fails_and_installs_nothing(tmp_path, keys, gate, served):
    from tools.update_bundle import main as update_tool

    www, port = served.www, served.port
    other = tmp_path / "other-keys"
    assert update_tool(["keygen", "--out", str(other)]) == 0
    b = bundle(tmp_path, other, "2.0")
    b.rename(www / b.name)
    state_before = gate.boot_state.read_text()
    job = UpdateJob(tmp_path / "state", rauc=gate.rauc, release=gate.release)
    job.offer(offer_for(www / b.name, port, "2.0"))
    job.wait(120)
    assert job.status()["phase"] == "failed" and "refused" in job.status()["error"]
    assert gate.boot_state.read_text() == state_before
    assert not (tmp_path / "state/update" / REBOOT_FLAG).exists()


def test_an_install_rauc_never_answers_fails_the_job_and_the_agent_goes_on(tmp_path, keys, gate, served):
    """RAUC's client waiting forever on a hung bus: its TimeoutExpired was no error the job knew, so the update
    thread died with the job `installing` for good and no later offer was taken. Now the call is bounded: a
    failed install, said in the status (a job that is not running takes the next offer)."""
    b = bundle(tmp_path, keys, "2.0", "root 2.0 offered\n")
    b.rename(served.www / b.name)
    job = UpdateJob(tmp_path / "state", rauc=dataclasses.replace(gate.rauc, install_timeout_s=1.0),
                    release=gate.release)
    with gate.bus_hung():
        job.offer(offer_for(served.www / b.name, served.port, "2.0"))
        job.wait(60)
    assert job.status()["phase"] == "failed", job.status()
    assert "UpdateError: rauc install" in job.status()["error"] and "did not answer within 1 s" in job.status()["error"]
    assert not (tmp_path / "state/update/bundle.raucb").exists() and not (tmp_path / "state/update" / REBOOT_FLAG).exists()


@pytest.mark.parametrize("args", [{}, {"url": "http://x/b", "size": "10", "sha256": "0" * 64, "version": "2"},
                                  {"url": "http://x/b", "size": 10, "sha256": "0" * 64, "version": "two"}],
                         ids=["empty", "size-as-text", "bad-version"])
def test_malformed_offer_refused(tmp_path, args):
    with pytest.raises(BadDataError):
        UpdateJob(tmp_path).offer(args)


def test_update_is_a_command_the_gate_runs(tmp_path):

    from tests.agent.test_gate_app import write_app_config

    assert "update" in OPS
    app = GateApp(load_config(write_app_config(tmp_path, "sim://reader?framing=lines")),
                  notifier=SystemdNotifier(environ={}))
    assert app.command_handlers()["update"] == app.update_job.offer
    assert app.status()["update"] == {"phase": "idle"}


def test_refused_bundle_is_not_kept_on_the_data_partition(tmp_path, served):
    """RAUC refusing the downloaded bundle (signature, compatible, downgrade guard) or failing to write it leaves
    no copy of it in the state directory: it is never used again, and a bundle is up to 4 GiB."""
    from agent.update.rauc import BundleRefused, Rauc

    class RefusingRauc(Rauc):
        def install(self, bundle: Path) -> str:
            assert bundle.read_bytes() == b"a bundle RAUC will refuse\n"
            raise BundleRefused(f"bundle {str(bundle)!r} refused: signature verification failed")

    (served.www / "x.raucb").write_bytes(b"a bundle RAUC will refuse\n")
    release = tmp_path / "sharaka-release"
    release.write_text('VERSION="1.0"\n')
    job = UpdateJob(tmp_path / "state", rauc=RefusingRauc(), release=release)
    job.offer(offer_for(served.www / "x.raucb", served.port, "2.0"))
    job.wait(60)
    assert job.status()["phase"] == "failed" and "refused" in job.status()["error"]
    assert list((tmp_path / "state/update").iterdir()) == []


def test_cli_install_from_a_url_does_not_keep_a_refused_bundle(tmp_path, keys, served):
    """``sharaka-gate update install URL``: a downloaded bundle RAUC refuses is removed, not left behind."""
    from agent.cli import main

    (served.www / "junk.raucb").write_bytes(b"not a bundle at all\n" * 100)
    conf = tmp_path / "system.conf"
    conf.write_text(f"[system]\ncompatible=sharaka-gate-arm64\nbootloader=noop\n\n[keyring]\n"
                    f"path={keys / 'update-ca.pem'}\ncheck-purpose=codesign\n")
    offer = offer_for(served.www / "junk.raucb", served.port, "2.0")
    downloads = tmp_path / "update"
    code = main(["update", f"--rauc-conf={conf}", "install", str(offer["url"]), "--size", str(offer["size"]),
                 "--sha256", str(offer["sha256"]), "--dir", str(downloads)])
    assert code == 3
    assert list(downloads.iterdir()) == []


def test_a_trial_that_cannot_read_the_gates_config_is_judged_not_left_running(tmp_path, monkeypatch):
    """``update commit`` loaded the config before judging the boot: a new system whose loader refuses the
    gate's config (the agent then cannot start either) exited 2 there, so the trial was neither committed nor
    rolled back and stayed up, not screening, until someone rebooted the gate. Off the appliance (no boot state)
    the config's error is told at once, exit 2 (`tests/test_cli_errors.py`)."""
    from agent.cli import main
    from agent.update import health

    judged: list[str | None] = []

    def commit_or_rollback(rauc, unhealthy, selftest, reboot, *args, **kwargs):  # RAUC reports a trial boot
        judged.append(selftest())
        return f"slot B rolled back: {judged[-1]}"

    monkeypatch.setattr(health, "commit_or_rollback", commit_or_rollback)
    (tmp_path / "boot.state").write_text("BOOT_ORDER=B A\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\n")  # an A/B appliance
    monkeypatch.setenv("SHARAKA_BOOT_STATE", str(tmp_path / "boot.state"))
    config = tmp_path / "gate.toml"
    config.write_text('[gate]\nid = "gate-7"\nsite = "port-a"\nno_such_setting = 1\n')
    assert main(["update", "commit", "--config", str(config)]) == 1
    assert judged and judged[0] is not None and "unusable" in judged[0]
