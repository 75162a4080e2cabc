"""A Mosquitto launcher: its own config directory, a free loopback port, per-gate credentials and the ACL.

Used by the demo (``tools/demo.py``), by the tests (``tests/support/broker.py`` builds on it) and by an operator
who wants a throw-away broker on one machine:

    broker = Broker(Path("/tmp/mq"))     # config, passwords, ACL, persistence and log under that directory
    user, password = broker.add_gate("gate-1")
    broker.start()                       # returns once the listener accepts connections
    broker.restart()                     # SIGTERM, same port, same persistence (sessions and queues survive)
    broker.stop()

    python -m tools.mosquitto --dir DIR --gate gate-1 --gate gate-2   # run one until ^C, printing the accounts

The password listener sets ``use_username_as_clientid``; the optional TLS listener (``tls=``: anything
with ``ca`` and ``server`` certificate files, e.g. ``tests.support.broker.Pki``) requires a client certificate from
that CA and takes the CN as username and client id. Both use the ACL of ``tools.broker_setup.acl_text``
(the one shipped in images/mosquitto/): a gate may publish only under its own topics.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tools.broker_setup import (
    CENTRAL_USERS,
    ENROL_PASSWORD,
    ENROL_USER,
    CertFiles,
    acl_text,
    check_central_user,
    check_gate_id,
    enrol_acl_text,
    new_password,
    password_line,
)

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


class BrokerError(RuntimeError):
    """The broker did not start, stop or reload as asked; the message ends with its log."""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (the broker retries with another one if it is taken meanwhile)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def mqtt_connect_probe(host: str, port: int, username: str, password: str, *, timeout: float = 2.0) -> int:
    """Send an MQTT 3.1.1 CONNECT (clean session) and return the CONNACK return code (0 = accepted, 5 = not
    authorised). A tiny raw client, so readiness checks need no paho thread. Raises OSError."""

    def field(data: bytes) -> bytes:
        return struct.pack("!H", len(data)) + data

    body = field(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 10)
    body += field(b"") + field(username.encode()) + field(password.encode())
    length, n = b"", len(body)
    while True:  # MQTT "remaining length": 7 bits per byte, high bit = more bytes follow
        n, digit = n >> 7, n & 0x7F
        length += bytes([digit | (0x80 if n else 0)])
        if not n:
            break
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"\x10" + length + body)
        connack = b""
        while len(connack) < 4:
            chunk = s.recv(4 - len(connack))
            if not chunk:
                raise ConnectionResetError(f"broker {host}:{port} closed the connection before CONNACK")
            connack += chunk
        if connack[3] == 0:
            s.sendall(b"\xe0\x00")  # DISCONNECT
        return connack[3]


class ServerTls(Protocol):
    """What a TLS listener needs: the CA that client certificates must chain to, and the server's own."""

    @property
    def ca(self) -> CertFiles: ...

    @property
    def server(self) -> CertFiles: ...


class Broker:
    """One Mosquitto process with its own directory under ``base_dir`` (config, passwords, ACL, db, log).

    Stopping and starting again keeps the port and the persistence file, like a real broker restart.
    ``config(broker) -> str`` replaces the generated mosquitto.conf (tests of the shipped config); the
    password file and ACL are still written to ``passwd_path`` and ``acl_path``.
    Raises BrokerError when Mosquitto refuses to start or a wait times out.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        tls: ServerTls | None = None,
        max_queued_messages: int = 1000,
        max_packet_size: int = 0,
        message_size_limit: int = 0,
        autosave_interval: int = 1800,
        central_users: tuple[str, ...] = CENTRAL_USERS,
        verbose: bool = False,
        extra_conf: str = "",
        config: Callable[[Broker], str] | None = None,
        enrol: bool = False,
    ):
        self.dir = Path(base_dir)
        (self.dir / "db").mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = free_port()
        self.tls = tls
        self.tls_port = free_port() if tls else None
        self.enrol_port = free_port() if enrol else None
        self.max_queued_messages = max_queued_messages
        self.max_packet_size = max_packet_size
        self.message_size_limit = message_size_limit
        self.autosave_interval = autosave_interval
        self.central_users = tuple(check_central_user(u) for u in central_users)
        self.verbose = verbose
        self.extra_conf = extra_conf
        self.acl_extra = ""  # appended to the generated ACL, e.g. a site bridge's section (tools/site_bridge.py)
        self.config = config
        self.conf_path = self.dir / "mosquitto.conf"
        self.passwd_path = self.dir / "passwd"
        self.acl_path = self.dir / "acl"
        self.log_path = self.dir / "mosquitto.log"
        self.credentials: dict[str, str] = {u: new_password() for u in self.central_users}
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._log_offset = 0

    # --- addresses and accounts -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        if self.tls_port is None:
            raise BrokerError("this broker has no TLS listener (create it with tls=...)")
        return f"mqtts://{self.host}:{self.tls_port}"

    @property
    def central(self) -> tuple[str, str]:
        """``(username, password)`` of the first central user (full access under sharaka/v1/#)."""
        user = self.central_users[0]
        return user, self.credentials[user]

    def add_gate(self, gate_id: str, password: str | None = None) -> tuple[str, str]:
        """Enrol a gate (username = client id = gate id) and return ``(username, password)``. Works before
        ``start()``; on a running broker the password file is reloaded (SIGHUP) and this returns once the new
        credentials are accepted. Raises BrokerSetupError for an invalid gate id."""
        check_gate_id(gate_id)
        self.credentials[gate_id] = password or new_password()
        if self.is_running:
            self._write_passwords()
            self._reload_until(lambda: self._probe(gate_id) == 0, f"gate {gate_id!r} to be accepted")
        return gate_id, self.credentials[gate_id]

    def add_central(self, username: str, password: str | None = None) -> tuple[str, str]:
        """Add a central user (``central-*``: full access under sharaka/v1/#), e.g. a console beside the
        central node: with ``use_username_as_clientid`` two connections as one user take each other over.
        Reloads a running broker and returns once the user is accepted."""
        if username not in self.central_users:
            self.central_users = (*self.central_users, check_central_user(username))
        self.credentials[username] = password or self.credentials.get(username) or new_password()
        if self.is_running:
            self._write_passwords()
            self.acl_path.write_text(acl_text(self.central_users) + self.acl_extra)
            self._reload_until(
                lambda: self._probe(username) == 0, f"central user {username!r} to be accepted"
            )
        return username, self.credentials[username]

    def remove_account(self, username: str) -> None:
        """Revoke a gate's password (takes effect for new connections after the reload)."""
        old = self.credentials.pop(username, None)
        if self.is_running and old is not None:
            self._write_passwords()
            self._reload_until(lambda: self._probe(username, old) != 0, f"{username!r} to be refused")

    # --- process ------------------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running and self._proc else None

    def start(self, timeout: float = 10.0) -> None:
        """Start Mosquitto and return once every listener accepts TCP connections. Raises BrokerError."""
        if self.is_running:
            return
        for attempt in range(5):
            self._write_files()
            self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            out = open(self.dir / "mosquitto.out", "ab")  # noqa: SIM115 - handed to the child, closed below
            try:
                self._proc = subprocess.Popen(
                    [MOSQUITTO, "-c", str(self.conf_path)],
                    stdout=out,
                    stderr=out,
                    stdin=subprocess.DEVNULL,
                    cwd=self.dir,
                )
            finally:
                out.close()
            try:
                self._wait_for(self._ready, "the broker to run and accept connections", timeout=timeout)
                self._started_once = True
                return
            except BrokerError:
                in_use = "Address already in use" in self.log_text()
                self.kill()
                if self._started_once or not in_use or attempt == 4:
                    raise
                self.port = free_port()  # someone took the port between free_port() and bind: pick another
                self.tls_port = free_port() if self.tls else None
                self.enrol_port = free_port() if self.enrol_port else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: Mosquitto saves its persistence file on the way out."""
        if self._proc is None:
            return
        deadline = time.monotonic() + timeout
        while self._proc.poll() is None:
            # Mosquitto 2.0 sets its run flag after installing the handler: a SIGTERM in between is lost,
            # so a broker stopped just after starting may need a second one.
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    self._proc.kill()
                    self._proc.wait()
                    raise BrokerError(f"mosquitto ignored SIGTERM for {timeout} s\n{self.log_tail()}")
        self._proc = None

    def kill(self) -> None:
        """SIGKILL: a crash. Whatever was not autosaved (``autosave_interval``, or ``save()``) is lost."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        """Stop (SIGTERM) and start again on the same port with the same persistence."""
        self.stop(timeout)
        self.start(timeout)

    def extend_acl(self, text: str) -> None:
        """Append ``text`` to the ACL (e.g. a site bridge's section, tools/site_bridge.py); a running broker
        rereads it on the SIGHUP sent here, asynchronously."""
        self.acl_extra += text
        self.acl_path.write_text(acl_text(self.central_users) + self.acl_extra)
        if self.is_running:
            self.reload()

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads the password file and ACL (listeners are not reloaded)."""
        if not self.is_running or self._proc is None:
            raise BrokerError("reload() needs a running broker")
        self._proc.send_signal(signal.SIGHUP)

    def _reload_until(self, done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """SIGHUP until ``done()`` (a reload is asynchronous, and a signal can be lost right after start)."""
        deadline = time.monotonic() + timeout
        while True:
            self.reload()
            try:
                self._wait_for(done, what, timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                return
            except BrokerError:
                if time.monotonic() >= deadline:
                    raise

    def save(self) -> None:
        """SIGUSR1: write the persistence file now (what autosave does periodically)."""
        if self._proc is not None and self.is_running:
            self._proc.send_signal(signal.SIGUSR1)

    def log_text(self) -> str:
        """Mosquitto's log plus anything it printed before logging was set up."""
        parts = [
            p.read_text(errors="replace") for p in (self.dir / "mosquitto.out", self.log_path) if p.exists()
        ]
        return "".join(parts)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """Wait until ``text`` appears in the log (e.g. ``"Denied PUBLISH"`` with ``verbose=True``)."""
        self._wait_for(lambda: text in self.log_text(), f"{text!r} in the log", timeout=timeout)
        return self.log_text()

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------------------------

    def _log_since_start(self) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def _probe(self, username: str, password: str | None = None) -> int:
        try:
            return mqtt_connect_probe(
                self.host, self.port, username, password or self.credentials.get(username, "")
            )
        except OSError:
            return -1

    def _ready(self) -> bool:
        """Running (signal handlers installed: a SIGHUP before that would kill it) and every listener
        accepts a TCP connection."""
        if self._proc is None or self._proc.poll() is not None:
            raise BrokerError(
                f"mosquitto exited with {self._proc and self._proc.returncode}\n{self.log_tail()}"
            )
        if " running\n" not in self._log_since_start():
            return False
        for port in (self.port, self.tls_port, self.enrol_port):
            if port is None:
                continue
            try:
                socket.create_connection((self.host, port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def _wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while not ready():
            if time.monotonic() > deadline:
                raise BrokerError(f"timed out after {timeout} s waiting for {what}\n{self.log_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _write_passwords(self) -> None:
        text = "".join(password_line(u, p) + "\n" for u, p in self.credentials.items())
        tmp = self.passwd_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, self.passwd_path)

    def _write_files(self) -> None:
        self._write_passwords()
        self.acl_path.write_text(acl_text(self.central_users) + self.acl_extra)
        log_types = ["all"] if self.verbose else ["error", "warning", "notice", "information"]
        lines = [
            "# Generated by tools/mosquitto.py",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",  # as root Mosquitto would switch to 'mosquitto'
            "per_listener_settings true",
            "persistence true",
            f"persistence_location {self.dir / 'db'}/",
            f"autosave_interval {self.autosave_interval}",
            f"max_queued_messages {self.max_queued_messages}",
            f"max_packet_size {self.max_packet_size}" if self.max_packet_size else "",
            f"message_size_limit {self.message_size_limit}" if self.message_size_limit else "",
            f"log_dest file {self.log_path}",
            *[f"log_type {t}" for t in log_types],
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "connection_messages true",
            "set_tcp_nodelay true",  # as the shipped config (images/mosquitto/mosquitto.conf)
            "",
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"password_file {self.passwd_path}",
            f"acl_file {self.acl_path}",
            "use_username_as_clientid true",
        ]
        if self.tls is not None:
            lines += [
                "",
                f"listener {self.tls_port} {self.host}",
                "allow_anonymous false",
                f"cafile {self.tls.ca.cert}",
                f"certfile {self.tls.server.cert}",
                f"keyfile {self.tls.server.key}",
                f"crlfile {self.tls.ca.cert.parent / 'ca.crl'}",
                "tls_version tlsv1.2",
                "require_certificate true",
                "use_identity_as_username true",
                "use_username_as_clientid true",
                f"acl_file {self.acl_path}",
            ]
        if self.enrol_port is not None:  # docs/provisioning.md "Broker access before enrolment"
            (self.dir / "passwd-enrol").write_text(password_line(ENROL_USER, ENROL_PASSWORD) + "\n")
            (self.dir / "acl-enrol").write_text(enrol_acl_text())
            lines += ["", f"listener {self.enrol_port} {self.host}", "allow_anonymous false",
                      f"password_file {self.dir / 'passwd-enrol'}", f"acl_file {self.dir / 'acl-enrol'}"]
            if self.tls is not None:  # server authentication only: a new gate has no certificate yet
                lines += [f"certfile {self.tls.server.cert}", f"keyfile {self.tls.server.key}", "tls_version tlsv1.2"]
        lines += ["", self.extra_conf]
        text = "\n".join(lines) + "\n" if self.config is None else self.config(self)
        self.conf_path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.mosquitto --dir DIR [--gate ID ...]``: run a broker until ^C or SIGTERM."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tools.mosquitto", description=main.__doc__)
    ap.add_argument("--dir", type=Path, required=True, help="config, passwords, ACL, persistence and log go here")
    ap.add_argument("--gate", action="append", default=[], metavar="ID", help="enrol a gate (repeatable)")
    args = ap.parse_args(argv)
    broker = Broker(args.dir)
    for gate_id in args.gate:
        broker.add_gate(gate_id)
    import threading

    from agent.signals import stop_on

    stop = threading.Event()
    with stop_on(stop, signal.SIGTERM):
        broker.start()
        print(f"mosquitto {broker.url} (pid {broker.pid}); config {broker.conf_path}; log {broker.log_path}")
        for user, password in broker.credentials.items():
            print(f"  {user:<16} {password}")
        try:
            while broker.is_running and not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        crashed = not broker.is_running
        broker.stop()
    if crashed:
        print(f"mosquitto exited on its own:\n{broker.log_tail()}")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
