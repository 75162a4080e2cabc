"""A tiny local Mosquitto for the link tests until the shared ``tests/broker.py`` fixture is merged.

Same API subset as tests.broker.Broker: ``add_gate``, ``central``, ``start``, ``stop``, ``restart``,
``host``, ``port``. Password auth with ``use_username_as_clientid`` and a per-gate ACL.
"""

from __future__ import annotations

import getpass
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from agent.protocol import topics

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class LocalBroker:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = free_port()
        self.credentials: dict[str, str] = {"central": secrets.token_hex(8)}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def central(self) -> tuple[str, str]:
        return "central", self.credentials["central"]

    def add_gate(self, gate_id: str) -> tuple[str, str]:
        self.credentials[gate_id] = secrets.token_hex(8)
        if self.proc is not None:
            self._write()
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)
        return gate_id, self.credentials[gate_id]

    def _write(self) -> Path:
        pw = self.dir / "passwd"
        pw.write_text("")
        for user, password in self.credentials.items():
            subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True)
        acl = [f"pattern write {topics.GATES}/%u/{leaf}" for leaf in topics.GATE_OUT]
        acl += [f"pattern read {topics.GATES}/%u/{leaf}" for leaf in topics.GATE_IN]
        acl += [f"pattern read {topics.HITLISTS}/#", "user central", f"topic readwrite {topics.ROOT}/#"]
        (self.dir / "acl").write_text("\n".join(acl) + "\n")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"user {getpass.getuser()}\nper_listener_settings false\nallow_anonymous false\npassword_file {pw}\nacl_file {self.dir / 'acl'}\n"
            f"listener {self.port} {HOST}\nuse_username_as_clientid true\npersistence true\n"
            f"persistence_location {self.dir}/\nmax_queued_messages 100000\nlog_dest file {self.dir / 'log'}\n"
        )
        return conf

    def start(self) -> None:
        conf = self._write()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
