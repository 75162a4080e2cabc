"""The centre's ``update`` command at the gate: download the offered bundle and install it in the
background while screening goes on (docs/update.md "Offer and download", docs/protocol.md ``cmd``).

The command (verified by agent/protocol/commands.py like any other) carries ``url``, ``size``,
``sha256`` and ``version``. An offer older than the running system is refused at once, before any byte is
fetched; the download resumes after link failures (``fetch_bundle``, up to ``attempts`` tries with
back-off, and again on the next offer of the same bundle after a restart); RAUC then checks the bundle's
signature and runs the downgrade guard itself. When the slot is written the job drops
``update/reboot-requested`` in the state directory: ``sharaka-update-reboot.path`` (root) reboots into
the trial. Progress is in the agent's status (``update``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.durable import atomic_write, make_dirs, read_json, write_json
from agent.errors import AgentError, BadDataError, TransportError
from agent.update.bundle import RELEASE_FILE, check_not_older, parse_version, running_version
from agent.update.fetch import exclusive_download, fetch_bundle
from agent.update.rauc import Rauc

logger = logging.getLogger(__name__)

REBOOT_FLAG = "reboot-requested"
LAST_TRIAL = "update-trial.json"  # in the state directory: the last trial boot's outcome (record_trial)


def record_trial(state_dir: Path, outcome: str, at: float) -> None:
    """Keep a trial boot's outcome (``health.commit_or_rollback``: committed, or rolled back and why) in the
    gate's state directory, shared by both slots, so the agent reports it once the gate runs again
    (``UpdateJob.status``: ``last_trial``), in the slot kept or the one it fell back to. Written by the commit
    service (root) beside the agent's files, readable by the agent, and never into ``update/``: a directory
    root made there would keep the agent from downloading the next bundle into it."""
    write_json(Path(state_dir) / LAST_TRIAL, {"at": at, "outcome": outcome}, mode=0o644)


class UpdateJob:
    """At most one update at a time; ``status()`` says where it is."""

    def __init__(self, state_dir: Path, *, rauc: Rauc | None = None, release: Path = RELEASE_FILE,
                 attempts: int = 5, backoff_s: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.dir = Path(state_dir) / "update"
        self._rauc = rauc or Rauc()
        self._release = release
        self._attempts, self._backoff, self._sleep = attempts, backoff_s, sleep
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status: dict[str, Any] = {"phase": "idle"}

    def status(self) -> dict[str, Any]:
        """``phase`` (idle, downloading, installing, installed, failed), ``version``, ``error``, and
        ``last_trial`` (``record_trial``) once a trial boot was judged; sent to the centre in the gate's status."""
        with self._lock:
            out = dict(self._status)
        try:
            last = read_json(self.dir.parent / LAST_TRIAL, {})
        except (OSError, ValueError) as exc:
            last = {"error": f"{LAST_TRIAL} unreadable: {exc}"}
        if last:
            out["last_trial"] = last
        return out

    def offer(self, args: dict[str, Any]) -> str:
        """Accept a verified ``update`` command's args and start the job. Raises BadDataError (bad or older
        offer) or AgentError (an update already running)."""
        url, size, sha256, version = (args.get(k) for k in ("url", "size", "sha256", "version"))
        if not isinstance(url, str) or not isinstance(sha256, str) or not isinstance(version, str):
            raise BadDataError(f"update args {sorted(args)}: expected url, size, sha256 and version")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise BadDataError(f"size {size!r}: expected the bundle's size in bytes")
        parse_version(version)
        check_not_older(version, running_version(self._release))  # no download for an older offer
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise AgentError(f"an update is already {self._status['phase']}; offer again when it ends")
            self._status = {"phase": "downloading", "version": version, "url": url}
            self._thread = threading.Thread(target=self._run, args=(url, size, sha256), name="update", daemon=True)
            self._thread.start()
        return f"update to {version} started"

    def wait(self, timeout: float) -> None:
        """Block until the running job ends (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _set(self, **fields: Any) -> None:
        with self._lock:
            self._status.update(fields)

    def _run(self, url: str, size: int, sha256: str) -> None:
        try:
            make_dirs(self.dir)
            # installed or refused, the bundle is never used again (a new offer downloads anew): not kept, up
            # to 4 GiB, on the data partition the outbox and the lists live on
            with exclusive_download(self.dir) as dest:
                for attempt in range(1, self._attempts + 1):
                    try:
                        bundle = fetch_bundle(url, size=size, sha256=sha256, dest=dest)
                        break
                    except TransportError as exc:
                        self._set(error=str(exc), attempt=attempt)
                        if attempt == self._attempts:
                            raise
                        self._sleep(self._backoff * attempt)
                self._set(phase="installing", error=None)
                self._rauc.install(bundle)
            atomic_write(self.dir / REBOOT_FLAG, b"", mode=0o644)
            self._set(phase="installed")
            logger.info("update installed; rebooting into the trial", extra={"fields": self.status()})
        except (AgentError, OSError, ValueError) as exc:
            self._set(phase="failed", error=f"{type(exc).__name__}: {exc}")
            logger.error("update failed", extra={"fields": self.status()})
