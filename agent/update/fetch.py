"""A bundle downloaded from a URL with resume (docs/update.md "Offer and download").

The centre's signed ``update`` command names the URL, the bundle's size and sha256 and its version; the
download is bounded by that size and checked against that hash before RAUC sees it (RAUC then checks the
signature). Bytes stream to ``update/bundle.part`` in the state directory through the same resumable,
stall-watched ``Transfer`` the hit-lists use (agent/hitlist/transfer.py): a gate restarted mid-download,
or a link that drops, goes on from the bytes it has with an HTTP ``Range`` request.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from agent.errors import BadDataError, RefusedError, TransportError
from agent.hitlist.limits import DEFAULT_LIMITS
from agent.hitlist.transfer import Transfer

logger = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 4 << 30  # a root slot is 2 GiB; a bundle (squashfs of it) is well under
# free space a download leaves on the data partition, for what screening writes meanwhile (outbox beyond its
# reserve, hit-list transfers, time and status files)
KEEP_FREE_BYTES = 64 << 20
CHUNK = 1 << 20
SCHEMES = ("http", "https", "file")
BUNDLE = "bundle.raucb"  # in the update directory, with its bundle.part while it downloads


class BundleHashMismatch(RefusedError):
    """The downloaded bytes are not the bundle the centre signed for; they were discarded."""


class DownloadBusy(TransportError):
    """Another download holds the update directory (``exclusive_download``): nothing was touched; retry later."""


class NoRoomForBundle(TransportError):
    """The rest of the bundle would leave less than ``KEEP_FREE_BYTES`` free: nothing was fetched (retry later)."""


def fetch_bundle(
    url: str,
    *,
    size: int,
    sha256: str,
    dest: Path,
    clock: Callable[[], float] = time.monotonic,
    stall_seconds: float = DEFAULT_LIMITS.stall_seconds,
) -> Path:
    """Download ``url`` to ``dest`` (resuming a ``dest``.part of an earlier try) and return ``dest``.

    Raises BadDataError (URL or size; a ``file://`` URL naming no regular file), TransportError (the server or link failed: call again to resume;
    NoRoomForBundle: the data partition cannot take the rest and keep ``KEEP_FREE_BYTES`` free),
    BundleHashMismatch (complete but not the signed bytes: discarded)."""
    if url.split(":", 1)[0] not in SCHEMES:
        raise BadDataError(f"bundle URL {url!r}: expected one of {', '.join(s + '://' for s in SCHEMES)}")
    if not isinstance(sha256, str) or len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise BadDataError(f"sha256 {sha256!r}: expected 64 lowercase hex digits")
    limits = dataclasses.replace(DEFAULT_LIMITS, max_blob_bytes=MAX_BUNDLE_BYTES, max_chunk_bytes=CHUNK,
                                 stall_seconds=stall_seconds)
    dest = Path(dest)
    transfer = Transfer(dest.with_suffix(".part"), size, now=clock(), limits=limits, name=f"{url} {sha256}")
    if not transfer.complete:
        try:
            _check_room(dest.parent, transfer.declared_size - transfer.received)
            _download(url, transfer, clock, stall_seconds)
        except TransportError:
            transfer.close()  # the bytes stay for the resume; the descriptor must not (one per failed try)
            raise
        except BadDataError:
            transfer.discard()  # not a bundle source at all: nothing to resume
            raise
    digest = hashlib.sha256()
    with transfer.path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    if digest.hexdigest() != sha256:
        transfer.discard()
        raise BundleHashMismatch(f"bundle from {url!r} has sha256 {digest.hexdigest()}, the offer says {sha256}")
    return transfer.keep(dest)


@contextmanager
def exclusive_download(directory: Path) -> Iterator[Path]:
    """``directory/bundle.raucb``, the one name a bundle is fetched to (its ``.part`` is resumed by name), with the
    directory to this caller alone until the block ends: the agent's job and ``sharaka-gate update install URL``
    each hold it from the download to RAUC's answer, so neither truncates, mixes or removes the other's bytes. The
    bundle, installed or refused, is removed at the end, and one a crashed holder left is removed at the start (it
    would count against the free space the download keeps). An ``flock`` on the directory itself (no lock file to
    leave behind): a holder that dies releases it. Raises DownloadBusy while another holds it."""
    lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadBusy(f"another bundle download is in progress in {str(directory)!r} (the agent's, or "
                               "`sharaka-gate update install`); try again when it ends") from None
        bundle = Path(directory) / BUNDLE
        bundle.unlink(missing_ok=True)
        try:
            yield bundle
        finally:
            bundle.unlink(missing_ok=True)
    finally:
        os.close(lock)


def _check_room(directory: Path, needed: int) -> None:
    """Raise NoRoomForBundle unless ``needed`` more bytes leave ``KEEP_FREE_BYTES`` free in ``directory``."""
    st = os.statvfs(directory)
    left = st.f_bavail * st.f_frsize - needed
    if left < KEEP_FREE_BYTES:
        raise NoRoomForBundle(f"{needed} more bundle bytes would leave {max(left, 0) >> 20} MiB free in "
                              f"{str(directory)!r}, under the {KEEP_FREE_BYTES >> 20} MiB screening keeps; nothing "
                              "fetched: free space, then offer the update again")


def _open_file(url: str) -> BinaryIO:
    """A ``file://`` URL's file, opened without blocking and refused (BadDataError) unless it is a regular file: a
    FIFO with no writer blocks ``open`` for good, a device or socket never ends. The check is on the opened
    descriptor, so the path cannot be swapped between check and use."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise BadDataError(f"bundle URL {url!r}: a file:// URL names a local file (file:///PATH)")
    path = urllib.request.url2pathname(parts.path)

    def not_regular(mode: int) -> BadDataError:
        return BadDataError(f"bundle URL {url!r}: {path!r} is not a regular file (mode {stat.filemode(mode)})")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket: it cannot be opened at all
            raise not_regular(os.stat(path).st_mode) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _download(url: str, transfer: Transfer, clock: Callable[[], float], timeout: float) -> None:
    start = transfer.received
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with _open_file(url) if url.startswith("file:") else urllib.request.urlopen(request, timeout=timeout) as response:
            status = getattr(response, "status", 200)
            if start and status != 206:  # the server ignored the range: take the file from its start
                logger.info("bundle download restarts: no range support", extra={"fields": {"url": url}})
                transfer.discard()
                raise TransportError(f"{url!r} answered {status} to a range request; download again from the start")
            if start:
                logger.info("bundle download resumes", extra={"fields": {"url": url, "from": start}})
            while not transfer.complete:
                block = response.read(min(CHUNK, transfer.declared_size - transfer.received))
                if not block:
                    break
                transfer.feed(block, now=clock())
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, RefusedError | TransportError):
            raise
        raise TransportError(f"bundle download from {url!r} stopped at {transfer.received} bytes: {exc}") from exc
    if not transfer.complete:
        raise TransportError(
            f"bundle download from {url!r} ended at {transfer.received} of {transfer.declared_size} bytes; retry resumes"
        )
