"""A throw-away PostgreSQL cluster for tests and benchmarks: ``initdb`` in a temporary directory, ``postgres``
on a free loopback port, run as the ``postgres`` system user when we are root (initdb and postgres refuse
root), trust authentication on loopback only.

    with PostgresCluster(tmp_path / "pg") as pg:
        url = pg.create_database("t1")        # postgresql://postgres@127.0.0.1:PORT/t1
        pg.stop(); pg.start()                 # a database outage
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tools.mosquitto import HOST, free_port


def pg_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian package postgresql; ./tools/dev installs it)")
    return Path(initdb).parent


class PostgresCluster:
    """One cluster in ``directory``; ``start()`` returns once it accepts connections."""

    def __init__(self, directory: Path, *, fsync: bool = True, max_connections: int = 100) -> None:
        self.dir = Path(directory)
        self.data = self.dir / "data"
        self.port = free_port()
        self.host = HOST
        self.fsync = fsync
        self.max_connections = max_connections
        self._bin = pg_bindir()
        self._as: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run([*self._as, str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self, timeout: float = 30.0) -> None:
        if not self.data.exists():
            self.init()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the server process
        self._proc = subprocess.Popen(
            [*self._as, str(self._bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", self.host,
             "-k", str(self.dir), "-c", f"fsync={'on' if self.fsync else 'off'}",
             "-c", f"max_connections={self.max_connections}"],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while subprocess.run([str(self._bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"]).returncode:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``): sessions are cut, committed work stays. Not a signal to our
        child: as root that is ``runuser``, which ignores SIGINT, so the server ran on, holding its port and lock
        file, and the wait timed out. A server that does not stop is killed with its process group."""
        if self._proc is not None and self._proc.poll() is None:
            subprocess.run([*self._as, str(self._bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast",
                            "-w", "-t", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
