"""The calls into RAUC (``rauc`` 1.8, Debian): install a bundle, read the slots, mark one good or bad.

RAUC runs as a D-Bus service (``rauc.service``); the ``rauc`` client reaches it on the system bus, so the
agent (user ``sharaka``) can ask for an install without privileges of its own: the service verifies the
bundle's signature against /etc/rauc/keyring.pem, runs the downgrade guard, writes the other slot and
makes it boot next on trial (agent/update/bootstate.py).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import EXIT_TRANSPORT, AgentError, RefusedError

RAUC = "rauc"
TIMEOUT_S = 1800.0  # a whole root slot on a slow SD card
# any other call: RAUC's client itself gives up on its service after D-Bus's 25 s, but not on a bus that accepted
# the connection and never answers (it then waits forever); a call not answered by this is a failed call
CALL_TIMEOUT_S = 60.0


class UpdateError(AgentError, RuntimeError):
    """RAUC failed for a reason that is not the bundle's trust (a busy service, a write error)."""

    exit_status = EXIT_TRANSPORT  # retry later; not 1, which `update commit` keeps for a rolled-back trial


class BundleRefused(RefusedError):
    """RAUC refused the bundle: signature, certificate, compatible string or the downgrade guard."""


# RAUC's messages for a bundle it will not trust (rauc 1.8 src/signature.c, src/install.c, our handler)
_REFUSALS = ("signature", "certificate", "Compatible mismatch", "Pre-install handler error", "verify",
             "Bundle format")


def _remedy(reason: str) -> str:
    """What to do about RAUC's refusal of a bundle format (the gate's bundle-formats: agent/update/bundle.py)."""
    return " (the gate takes only verity or crypt bundles: sharaka-update build --format verity)" if "Bundle format" in reason else ""


def existing_file(path: Path) -> Path:
    """``path`` if it is a regular file; FileNotFoundError or IsADirectoryError (exit 2) otherwise."""
    if Path(path).is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not Path(path).is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    return Path(path)


@dataclass(frozen=True)
class Rauc:
    """``conf``: a system.conf other than /etc/rauc/system.conf (tests); ``env``: e.g. a private bus;
    ``install_timeout_s``, ``call_timeout_s``: how long an install and any other call may take."""

    conf: Path | None = None
    env: dict[str, str] | None = None
    install_timeout_s: float = TIMEOUT_S
    call_timeout_s: float = CALL_TIMEOUT_S

    def _run(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``rauc ARGS``; UpdateError when it does not end within ``timeout`` (it is killed)."""
        cmd = [RAUC, *((f"--conf={self.conf}",) if self.conf else ()), *args]
        limit = self.call_timeout_s if timeout is None else timeout
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=self.env, check=False)
        except subprocess.TimeoutExpired:
            raise UpdateError(f"rauc {' '.join(args[:2])} did not answer within {limit:g} s "
                              "(RAUC's service or the system bus hangs)") from None

    def install(self, bundle: Path) -> str:
        """Install ``bundle`` into the other slot. Raises BundleRefused or UpdateError with RAUC's reason."""
        out = self._run("install", str(existing_file(bundle)), timeout=self.install_timeout_s)
        log = (out.stdout + out.stderr).strip()
        if out.returncode != 0:
            lines = log.splitlines()
            reason = next((line.partition("LastError:")[2] for line in lines if "LastError:" in line),
                          lines[-1] if lines else "no output")
            if "Pre-install handler error: Child process exited with code 3" in reason:
                # RAUC does not relay the handler's words: say what its exit 3 means (agent/update/bundle.py)
                version = self.info(bundle).get("version")
                raise BundleRefused(f"bundle {str(bundle)!r} (version {version}) refused by the gate's downgrade "
                                    "guard: older than the running system, or built for another product")
            if any(word in log for word in _REFUSALS):
                raise BundleRefused(f"bundle {str(bundle)!r} refused: {reason.strip()}{_remedy(reason)}")
            raise UpdateError(f"rauc install {str(bundle)!r} failed: {reason.strip()}")
        return log.splitlines()[-1] if log else "installed"

    def info(self, bundle: Path) -> dict[str, Any]:
        """The verified manifest of ``bundle`` (``rauc info``: signature checked against the keyring)."""
        out = self._run("info", "--output-format=json", str(existing_file(bundle)))
        if out.returncode != 0:
            why = (out.stderr.strip().splitlines() or ["rauc info failed"])[-1]
            raise BundleRefused(f"bundle {str(bundle)!r} refused: {why}{_remedy(why)}")
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def status(self) -> dict[str, Any]:
        """``rauc status --detailed`` as a dict (booted slot, boot primary, per-slot state and version)."""
        out = self._run("status", "--detailed", "--output-format=json")
        if out.returncode != 0:
            raise UpdateError(f"rauc status failed: {out.stderr.strip()}")
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def mark(self, good: bool, slot: str = "booted") -> None:
        """``rauc status mark-good|mark-bad SLOT``: commit the trial slot, or rule it out."""
        out = self._run("status", "mark-good" if good else "mark-bad", slot)
        if out.returncode != 0:
            raise UpdateError(f"rauc status mark-{'good' if good else 'bad'} {slot} failed: {out.stderr.strip()}")
