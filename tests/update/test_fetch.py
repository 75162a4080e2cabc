"""A bundle download from a URL: bounded by the signed size, checked against the signed hash, resumed
with an HTTP Range request after the link drops (agent/update/fetch.py, docs/update.md)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import TransportError
from agent.update.fetch import BundleHashMismatch, fetch_bundle
from tests.support.paths import REPO

PAYLOAD = bytes(range(256)) * 12_000  # ~3 MB: several chunks


class Server(http.server.ThreadingHTTPServer):
    cut_after: int | None = None  # drop the connection after this many bytes (once)
    ranges: list[str | None]
    honour_range = True
    hold_after: int | None = None  # send this many bytes, then the rest once ``go`` is set
    go: threading.Event


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        rng = self.headers.get("Range")
        self.server.ranges.append(rng)
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng and self.server.honour_range else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.hold_after is not None:
            self.wfile.write(body[: self.server.hold_after])
            self.wfile.flush()
            self.server.go.wait(30)
            body = body[self.server.hold_after :]
        if self.server.cut_after is not None:
            self.wfile.write(body[: self.server.cut_after])
            self.server.cut_after = None
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(("127.0.0.1", 0), Handler)
    s.ranges = []
    s.go = threading.Event()
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    yield s
    s.shutdown()
    s.server_close()


def url(s: Server) -> str:
    return f"http://127.0.0.1:{s.server_address[1]}/sharaka-2.0.raucb"


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_bundle_download_resumes_after_the_link_drops(server, tmp_path):
    server.cut_after = 1_000_000
    dest = tmp_path / "bundle.raucb"
    with pytest.raises(TransportError, match="retry resumes|stopped at"):
        fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest)
    assert not dest.exists()
    assert fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest) == dest
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges[0] is None and server.ranges[1] == "bytes=1000000-", "the second request resumed"
    assert not (tmp_path / "bundle.part").exists()


def test_dropped_downloads_leave_no_descriptor_open(server, tmp_path):
    """The agent retries a dropped download (UpdateJob) and the centre offers it again: each failed try
    closes its partial file, which stays on disk for the resume, instead of keeping it open for good."""
    dest = tmp_path / "bundle.raucb"
    open_before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        server.cut_after = 1000
        with pytest.raises(TransportError):
            fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest)
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert (tmp_path / "bundle.part").stat().st_size == 5000, "the partial bytes are kept for the resume"
    assert fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest).read_bytes() == PAYLOAD


def test_download_with_the_wrong_hash_is_discarded(server, tmp_path):
    dest = tmp_path / "bundle.raucb"
    with pytest.raises(BundleHashMismatch):
        fetch_bundle(url(server), size=len(PAYLOAD), sha256="0" * 64, dest=dest)
    assert not dest.exists() and not (tmp_path / "bundle.part").exists()


def test_server_sending_more_than_the_signed_size_gives_only_the_signed_bytes(server, tmp_path):
    """The size comes from the signed offer: extra bytes are never read, so the hash fails."""
    short = len(PAYLOAD) - 5
    with pytest.raises(BundleHashMismatch):
        fetch_bundle(url(server), size=short, sha256=SHA, dest=tmp_path / "b.raucb")


def test_server_ignoring_range_restarts_the_download_from_zero(server, tmp_path):
    server.cut_after, server.honour_range = 500_000, False
    dest = tmp_path / "bundle.raucb"
    with pytest.raises(TransportError):
        fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest)
    with pytest.raises(TransportError, match="range request"):
        fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest)
    assert fetch_bundle(url(server), size=len(PAYLOAD), sha256=SHA, dest=dest).read_bytes() == PAYLOAD


@pytest.mark.parametrize(("bad_url", "sha"), [("ftp://x/b", SHA), ("http://x/b", "ABC"), ("http://x/b", "g" * 64)],
                         ids=["scheme", "short-hash", "non-hex-hash"])
def test_bad_offer_rejected_before_any_download(tmp_path, bad_url, sha):
    from agent.errors import BadDataError

    with pytest.raises(BadDataError):
        fetch_bundle(bad_url, size=10, sha256=sha, dest=tmp_path / "b.raucb")
    assert list(tmp_path.iterdir()) == []


def _not_regular(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:
        return Path("/dev/zero")  # never ends
    return path


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "socket"])
def test_file_url_naming_no_regular_file_is_refused_without_waiting(tmp_path, kind):
    """A FIFO at a file:// offer's path blocked the update thread in open() for good (urllib opens it as it
    is); /dev/zero streamed up to the signed size. Now the opened descriptor must be a regular file."""
    from agent.errors import BadDataError

    source, downloads = _not_regular(kind, tmp_path), tmp_path / "update"
    downloads.mkdir()
    outcome: list[BaseException | None] = []

    def fetch() -> None:
        try:
            fetch_bundle(source.as_uri(), size=len(PAYLOAD), sha256=SHA, dest=downloads / "bundle.raucb")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the outcome is what the test looks at
            outcome.append(exc)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive() and kind == "fifo":  # the defect: give the blocked open() a writer, so it ends
        os.close(os.open(source, os.O_WRONLY | os.O_NONBLOCK))
    assert not thread.is_alive(), "the download waited on a file that is no bundle"
    assert isinstance(outcome[0], BadDataError) and "is not a regular file" in str(outcome[0])
    assert list(downloads.iterdir()) == [], "no part file is kept"


def test_file_url_of_a_regular_file_downloads(tmp_path):
    source = tmp_path / "sharaka-2.0.raucb"
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "update/bundle.raucb"
    dest.parent.mkdir()
    assert fetch_bundle(source.as_uri(), size=len(PAYLOAD), sha256=SHA, dest=dest).read_bytes() == PAYLOAD


HELD = 2 << 20  # whole 1 MiB reads of the download


def test_a_download_by_hand_is_refused_while_the_agent_downloads(server, tmp_path, gate):
    """The agent's job and `sharaka-gate update install URL` both wrote update/bundle.part: the second truncated
    the first's bytes (another offer) or wrote among them, and each removed the other's bundle.raucb. Now a
    download holds the directory until RAUC answered: the second is told at once (exit 4), the first's bytes stay."""
    from agent.update.job import UpdateJob

    server.hold_after = HELD
    job = UpdateJob(tmp_path / "state", rauc=gate.rauc, release=gate.release)
    job.offer({"url": url(server), "size": len(PAYLOAD), "sha256": SHA, "version": "2.0"})
    part = tmp_path / "state/update/bundle.part"
    for _ in range(200):
        if part.exists() and part.stat().st_size == HELD:
            break
        threading.Event().wait(0.05)
    by_hand = subprocess.run([sys.executable, "-m", "agent", "update", "install", url(server), "--size", "4096",
                              "--sha256", "0" * 64, "--dir", str(part.parent)],
                             capture_output=True, text=True, timeout=60, cwd=REPO)
    assert by_hand.returncode == 4 and "another bundle download is in progress" in by_hand.stderr, by_hand.stderr
    assert part.read_bytes() == PAYLOAD[:HELD]
    server.go.set()
    job.wait(60)
    error = job.status()["error"]
    assert "rauc install" in error and "BundleHashMismatch" not in error, "RAUC got the whole signed bytes"
    assert list(part.parent.iterdir()) == [], "no bundle or part file left"


ROOM_CHECK = """
import json, sys
from pathlib import Path
from agent.update.fetch import fetch_bundle
try:
    fetch_bundle(sys.argv[1], size=int(sys.argv[2]), sha256=sys.argv[3], dest=Path(sys.argv[4]) / "bundle.raucb")
    print(json.dumps({"error": None}))
except Exception as exc:
    part = Path(sys.argv[4]) / "bundle.part"
    print(json.dumps({"error": type(exc).__name__, "why": str(exc), "part": part.stat().st_size if part.exists() else 0}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a size-limited tmpfs in a mount namespace")
def test_a_bundle_that_would_fill_the_data_partition_is_not_fetched(server, tmp_path):
    """The signed size (up to 4 GiB, one command key offers it) was the only bound: a download filled the data
    partition the outbox and hit-lists write to. It must leave KEEP_FREE_BYTES free, or not start."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = f"mount -t tmpfs -o size=32m tmpfs {mnt} && exec {sys.executable} -c \"$0\" \"$@\""
    out = subprocess.run(["unshare", "--mount", "sh", "-c", script, ROOM_CHECK, url(server), str(len(PAYLOAD)), SHA,
                          str(mnt)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["error"] == "NoRoomForBundle" and "free space, then offer the update again" in result["why"]
    assert result["part"] == 0 and server.ranges == [], "nothing was requested or written"


def test_a_holder_that_died_leaves_neither_the_directory_held_nor_its_bundle(tmp_path):
    """docs/update.md "Offer and download": the flock is released by a holder that dies, and the bundle it left
    is removed before the next download counts the free space."""
    from agent.update.fetch import exclusive_download

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom pathlib import Path\nfrom agent.update.fetch import exclusive_download\n"
         "with exclusive_download(Path(sys.argv[1])) as b:\n    b.write_bytes(b'half')\n    print(flush=True)\n"
         "    sys.stdin.read()\n", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"\n"
        assert (tmp_path / "bundle.raucb").read_bytes() == b"half"
        with pytest.raises(TransportError, match="another bundle download is in progress"), \
                exclusive_download(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait(10)
    assert (tmp_path / "bundle.raucb").exists(), "a killed holder cleans nothing up"
    with exclusive_download(tmp_path) as bundle:
        assert not bundle.exists()
