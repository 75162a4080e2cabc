"""The systemd side of sd_notify for the tests of the gate's READY and watchdog pings (RELIABILITY 35, 36)."""

from __future__ import annotations

import os
import socket
import tempfile
import time


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket the agent reports to."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ntf", dir="/tmp")  # AF_UNIX paths are short
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def messages(self, timeout: float) -> list[str]:
        """Everything received within ``timeout`` seconds."""
        out, deadline = [], time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                out.append(self.sock.recv(4096).decode())
            except TimeoutError:
                break
        return out

    def wait_for(self, message: str, timeout: float) -> float:
        """Seconds until ``message`` arrives; fails the test after ``timeout``."""
        start = time.monotonic()
        deadline = start + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if self.sock.recv(4096).decode() == message:
                    return time.monotonic() - start
            except TimeoutError:
                break
        raise AssertionError(f"no {message!r} within {timeout} s")

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)
