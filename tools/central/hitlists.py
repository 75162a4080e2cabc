"""Serving hit-lists to gates: heads (retained, short-lived) and files in chunks (docs/protocol.md).

Layout: ``ROOT/{list_id}/`` holds the files ``sharaka-hitlist build|delta`` wrote (any names) and
``head`` (``sharaka-hitlist head``). The centre reads only the metadata of each file to index it by
version; it never needs the signing keys. Gates verify everything themselves.

Keyrings: ``keyrings`` is the directory ``sharaka-hitlist keygen|certify`` fills (``KEYS/keyrings/``, public
files only). A gate asks with ``want: "keyring"`` and ``have`` = its keyring version and gets the next one
(``have + 1``); asking again until the centre says it has nothing newer walks the whole root-signed
chain, so a gate that missed any number of rotations, revocations or root changes catches up
(docs/hitlist.md "Keyring delivery", RELIABILITY 41).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from agent.hitlist.errors import HitListRejected
from agent.hitlist.format import unpack_frame
from agent.hitlist.limits import DEFAULT_LIMITS
from agent.hitlist.verify import parse_list_meta
from agent.protocol import topics
from tools.central.online import ONLINE_ONLY, RECORDS_FILE, is_online_only

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
HEAD_FILE = "head"


@dataclass(frozen=True)
class ListFile:
    path: Path
    kind: str  # snapshot | delta | keyring
    version: int
    base_version: int
    size: int


class HitListServer:
    """Index of the list files under ``root``; answers ``hitlist_req`` bodies with ``hitlist_chunk`` bodies."""

    def __init__(self, root: Path, *, chunk_bytes: int = CHUNK_BYTES, keyrings: Path | None = None) -> None:
        self.root = Path(root)
        self.keyrings = Path(keyrings) if keyrings is not None else None
        self.chunk_bytes = chunk_bytes
        self._files: dict[str, dict[str, ListFile]] = {}
        self._keyrings: dict[int, ListFile] = {}
        self._heads_sent: dict[str, float] = {}
        self.scan()

    def scan(self) -> None:
        """Re-index every list directory (cheap: reads each file's frame header and signed metadata)."""
        files: dict[str, dict[str, ListFile]] = {}
        if self.root.is_dir():
            for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
                try:
                    topics.check_id(d.name, "list id")
                except ValueError:
                    continue
                if is_online_only(d):  # answered online, never shipped (tools/central/online.py)
                    continue
                for f in sorted(d.iterdir()):
                    if f.name in (HEAD_FILE, RECORDS_FILE, ONLINE_ONLY) or not f.is_file() or f.name.startswith("."):
                        continue
                    try:
                        blob = f.read_bytes()
                        frame = unpack_frame(blob, DEFAULT_LIMITS)
                        meta = parse_list_meta(msgpack.unpackb(frame.signed, raw=False), frame.kind, DEFAULT_LIMITS)
                    except (HitListRejected, ValueError, OSError) as exc:
                        logger.warning("hit-list file %s skipped: %s", f, exc)
                        continue
                    files.setdefault(d.name, {})[f.name] = ListFile(f, meta.kind, meta.version, meta.base_version,
                                                                    len(blob))
        self._files = files
        self._keyrings = self._scan_keyrings()

    def _scan_keyrings(self) -> dict[int, ListFile]:
        out: dict[int, ListFile] = {}
        if self.keyrings is None or not self.keyrings.is_dir():
            return out
        for f in sorted(self.keyrings.iterdir()):
            if not f.is_file() or f.name.startswith("."):
                continue
            try:
                blob = f.read_bytes()
                frame = unpack_frame(blob, DEFAULT_LIMITS)
                version = msgpack.unpackb(frame.signed, raw=False)["version"] if frame.kind == "keyring" else None
            except (HitListRejected, ValueError, KeyError, TypeError, OSError) as exc:
                logger.warning("keyring file %s skipped: %s", f, exc)
                continue
            if isinstance(version, int) and not isinstance(version, bool):
                out[version] = ListFile(f, "keyring", version, version - 1, len(blob))
        return out

    def newest(self, list_id: str) -> int:
        """The newest version of ``list_id`` served to gates (0: none, or an online-only list)."""
        return max((f.version for f in self._files.get(list_id, {}).values()), default=0)

    @property
    def keyring_version(self) -> int:
        """The newest keyring served (0: none)."""
        return max(self._keyrings, default=0)

    def changed_heads(self, now: float) -> list[tuple[str, bytes, float]]:
        """(list_id, head bytes, seconds until it expires) for every head file new since the last call."""
        out = []
        for list_id in self._files:
            path = self.root / list_id / HEAD_FILE
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if self._heads_sent.get(list_id) == mtime:
                continue
            self._heads_sent[list_id] = mtime
            blob = path.read_bytes()
            out.append((list_id, blob, head_lifetime(blob, now)))
        return out

    def pick(self, list_id: str, have: int, want: str) -> ListFile | None:
        """The next delta from ``have``, or the newest snapshot (``want == "snapshot"``, or no delta)."""
        files = self._files.get(list_id, {})
        newest = max((f.version for f in files.values()), default=0)
        if have >= newest and want != "snapshot":
            return None
        if want != "snapshot" and have > 0:
            deltas = [f for f in files.values() if f.kind == "delta" and f.base_version == have]
            if deltas:
                return max(deltas, key=lambda f: f.version)
        snaps = [f for f in files.values() if f.kind == "snapshot"]
        return max(snaps, key=lambda f: f.version) if snaps else None

    def answer(self, gate_id: str, req: dict[str, Any], now: float) -> dict[str, Any]:
        """The ``hitlist_chunk`` body answering one request (an ``error`` field when there is nothing)."""
        list_id = req["list_id"] or (next(iter(self._files)) if len(self._files) == 1 else "")
        body: dict[str, Any] = {"id": req["id"], "ts": now, "gate": gate_id, "req": req["id"], "name": "",
                                "offset": 0, "total": 0, "data": b"", "list_id": list_id}
        name = req.get("name") or ""
        if req.get("want") == "keyring":
            chosen = self._keyrings.get(req["have"] + 1)
            if chosen is None or (name and chosen.path.name != name):
                body["error"] = f"no keyring newer than v{req['have']}"
                return body
        else:
            files = self._files.get(list_id, {})
            chosen = files.get(name) if name else self.pick(list_id, req["have"], str(req.get("want", "auto")))
            if chosen is None:
                body["error"] = f"nothing newer than v{req['have']} for list {list_id!r}" if not name else \
                    f"no file {name!r:.200} for list {list_id!r}"  # a name's repr may be 4x its 255 chars
                return body
        offset = max(0, min(int(req["offset"]), chosen.size))
        with open(chosen.path, "rb") as f:
            f.seek(offset)
            data = f.read(self.chunk_bytes)
        body.update(name=chosen.path.name, offset=offset, total=chosen.size, data=data, version=chosen.version)
        return body


def head_lifetime(blob: bytes, now: float, default: float = 300.0) -> float:
    """Seconds until a head expires, read from its signed fields (used as the MQTT 5 message expiry)."""
    try:
        signed = msgpack.unpackb(unpack_frame(blob, DEFAULT_LIMITS).signed, raw=False)
        return max(1.0, float(signed["expires"]) - now)
    except (HitListRejected, ValueError, KeyError, TypeError):
        return default
