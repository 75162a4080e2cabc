"""``sharaka-central run --workers N`` as a real process tree for tests and benchmarks: the supervisor and
its worker processes, each a broker user ``central-I`` in one shared-subscription group.

    workers = CentralWorkers(broker, db_url, keys_dir, n=3, directory=tmp_path)
    workers.start()                # returns once every worker is connected and subscribed
    workers.kill(1)                # SIGKILL worker 1 (the supervisor restarts it)
    workers.stop()
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from agent import keys as keyfiles
from tools.mosquitto import Broker

ROOT = Path(__file__).resolve().parents[2]


def central_keys(directory: Path) -> Path:
    """A `sharaka-central keygen`-style keys directory (node.key signs acks) in ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "node.key").exists():
        keyfiles.generate(directory / "node.key")
    return directory


class CentralWorkers:
    """The supervisor process and its workers; console lines (JSON) are collected in ``lines``, each with the
    wall-clock time it was read (``read_at``)."""

    def __init__(self, broker: Broker, db: str, keys_dir: Path, n: int, directory: Path, *extra: str,
                 host: str | None = None, port: int | None = None, hit_lane: bool = False) -> None:
        """``hit_lane``: each worker I takes the hits on a connection of its own as ``central-hits-I``."""
        self.broker, self.db, self.keys_dir, self.n = broker, db, keys_dir, n
        self.host, self.port = host or broker.host, port or broker.port
        self.extra = (*extra, "--hit-username", "central-hits") if hit_lane else extra
        self.hit_lane = hit_lane
        self.password_file = directory / "central.pw"
        self.password_file.write_text(broker.credentials["central"])
        self.lines: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        for i in range(1, self.n + 1):
            self.broker.add_central(f"central-{i}", self.broker.credentials["central"])
            if self.hit_lane:  # one worker runs as central-hits itself, worker I of several as central-hits-I
                self.broker.add_central(f"central-hits-{i}" if self.n > 1 else "central-hits",
                                        self.broker.credentials["central"])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.central.cli", "run", "--db", self.db, "--keys", str(self.keys_dir),
             "--host", self.host, "--port", str(self.port), "--username", "central",
             "--password-file", str(self.password_file), "--workers", str(self.n), "--json", *self.extra],
            stdout=subprocess.PIPE, cwd=ROOT, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait_for(lambda: self.connected() >= self.n, timeout):
            self.stop()
            own = [ln for ln in self.lines if ln.get("type") in ("broker", "worker")]  # which worker did not, and why
            log = [ln for ln in self.broker.log_text().splitlines() if "central" in ln][-15:]
            raise RuntimeError(f"{self.n} central workers did not connect: {own} ... {self.lines[-5:]}; broker: {log}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                line["read_at"] = time.time()  # when a live subscriber of the console lines saw it
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, pred: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def connected(self) -> int:
        """How many workers have reported a connection to the broker (restarts count again)."""
        return sum(1 for ln in self.lines if ln.get("type") == "broker" and ln.get("connected"))

    def pids(self) -> dict[int, int]:
        """Worker index -> pid of its newest process."""
        return {ln["index"]: ln["pid"] for ln in self.lines if ln.get("type") == "worker" and "pid" in ln}

    def kill(self, index: int) -> int:
        """SIGKILL worker ``index`` (no clean shutdown: its uncommitted batch and unsent acks are lost)."""
        pid = self.pids()[index]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
