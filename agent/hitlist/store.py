"""The gate's installed hit-list: verified installation, crash-safe switching and fast lookups
(docs/hitlist.md "Store layout", "Crash safety").

Parts: ``layout`` (the files), ``view`` (lookups over one immutable state), ``install`` (what a
snapshot or delta makes of the list, compaction), ``migrate`` (old layouts). This module holds them
together: the writer lock, the single commit point (CURRENT switched by rename, after every file was
written through ``agent.durable``), freshness and status. A kill at any point leaves the old or the new
list; lookups read one immutable ``ListView`` reference, so no partial change is ever visible.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np

from agent.durable import atomic_write, make_dirs
from agent.hitlist import names
from agent.hitlist.api import Hit
from agent.hitlist.errors import HitListRejected
from agent.hitlist.fingerprint import (
    document_fingerprint,
    plate_fingerprint,
    vehicle_fingerprint,
)
from agent.hitlist.format import unpack_frame
from agent.hitlist.install import apply_delta, list_state, snapshot_sum, write_compacted
from agent.hitlist.keying import PersonKeyer, person_lookup_keys, strongest_person_hit
from agent.hitlist.layout import BASE_LAYOUT, FILE_MODE, ListState, TableWriter, replay_keyring
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.migrate import find_old_base
from agent.hitlist.table import StateSum
from agent.hitlist.trust import Keyring, verify_keyring
from agent.hitlist.verify import (
    Head,
    Identity,
    VerifiedList,
    read_head,
    signed_file_size,
    verify_head,
    verify_list,
)
from agent.hitlist.view import ListView

logger = logging.getLogger(__name__)

CRASH_ENV = "SHARAKA_HITLIST_CRASH_AT"  # test hook: SIGKILL the installer at its k-th step

__all__ = ["CRASH_ENV", "HitListStore", "ListView"]


class HitListStore:
    """A gate's hit-list in ``state_dir``, trusting the pinned root key ``root_pub``.

    Implements agent.hitlist.api.HitList. ``install`` and ``accept_head`` raise HitListRejected
    with the installed list unchanged; lookups of malformed identifiers raise BadDataError."""

    def __init__(
        self,
        state_dir: str | os.PathLike,
        root_pub: bytes,
        *,
        limits: Limits = DEFAULT_LIMITS,
        max_staleness: float = 3600.0,
        hash_threads: int | None = None,
    ) -> None:
        """``hash_threads``: threads that compute one traveller's person fingerprints together (default: one
        per core; the calling thread is one of them; agent.hitlist.keying)."""
        self.dir = Path(state_dir)
        self.limits, self.max_staleness = limits, max_staleness
        self._pinned = Keyring.pinned(root_pub)
        self._lock = threading.RLock()
        self._steps, self._crash_at = 0, int(os.environ.get(CRASH_ENV, "0") or 0)
        self._writer = TableWriter(self.dir, self._step)
        for sub in ("states", "bases", "overlays"):
            make_dirs(self.dir / sub)
        self._current = ""
        self._keyer = PersonKeyer(hash_threads or os.cpu_count() or 1)
        self._upgrade_layout()
        self._view = self._load()
        self._head: dict | None = self._load_head()
        with contextlib.suppress(BlockingIOError), self._flock(blocking=False):
            self.refresh()
            self._collect_garbage()

    # --- HitList -------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Version of the list in force (0: none installed)."""
        state = self._view.state
        return state.identity.version if state else 0

    @property
    def list_id(self) -> str | None:
        """Id of the list in force; None when no list is installed."""
        state = self._view.state
        return state.identity.list_id if state else None

    @property
    def identity(self) -> tuple[str, int, int, bytes] | None:
        """(list_id, epoch, version, state_hash) of the list in force, or None."""
        state = self._view.state
        return state.identity.as_tuple() if state else None

    @property
    def keyring(self) -> Keyring:
        """The root-signed keyring in force (list and command keys, revocations)."""
        return self._view.keyring

    @property
    def keyring_version(self) -> int:
        """Version of the root-signed keyring in force (0: only the pinned root)."""
        return self._view.keyring.version

    def spool_path(self) -> Path:
        """Where an incoming list file is streamed while it arrives (the sync's ``Transfer``)."""
        return self.dir / "incoming.part"

    def signed_size(self, prefix, *, now: float) -> int | None:
        """The size the list key signed for the list file starting with ``prefix`` (None: too few bytes yet).
        Raises HitListRejected as ``install`` would for the file's frame and signature."""
        return signed_file_size(prefix, keyring=self._view.keyring, now=now, limits=self.limits)

    def view(self) -> ListView:
        """The immutable state in force (identity and lookups from one consistent list)."""
        return self._view

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        """Raises BadDataError on a malformed state or number."""
        return self._lookup_fp("document", lambda k: document_fingerprint(k, issuing_state, document_number))

    def lookup_vehicle(self, vin: str) -> Hit | None:
        """The entry for this VIN, or None."""
        return self._lookup_fp("vehicle", lambda k: vehicle_fingerprint(k, vin))

    def lookup_plate(self, country: str, plate: str) -> Hit | None:
        """The entry for this registration plate of ``country`` (agent.hitlist.vehicle_ids), or None."""
        return self._lookup_fp("vehicle", lambda k: plate_fingerprint(k, country, plate))

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False, issuing_state: str = ""
    ) -> Hit | None:
        """Any of the traveller's lookups listed (agent.hitlist.keying.person_lookup_keys: name keys x the birth
        date, a few with day and month swapped, a few with the date masked): exact hits win over weak ones.

        A list built with another name normaliser version cannot be searched by name: every person
        lookup then answers a weak hit (REFER), per NAMES.md point 1. A list whose signed metadata says it holds
        no persons answers None at once, without computing the traveller's slow keys."""
        view = self._view
        if view.state is None or not view.state.persons:  # a list without persons costs no key (docs/hitlist.md)
            return None
        if view.state.name_key_version != names.NORMALISER_VERSION:
            return Hit("person", "normaliser_mismatch", "", "weak")
        keys = person_lookup_keys(surname, given_names, birth_date, truncated=truncated, issuing_state=issuing_state)
        return strongest_person_hit(keys, view.find_many(self._keyer.fingerprints(view.state.fp_keys, keys)))

    def _lookup_fp(self, kind: str, fingerprint) -> Hit | None:
        view = self._view
        if view.state is None:
            return None
        found = view.find(fingerprint(view.state.fp_keys))
        return None if found is None else Hit(kind, *found)

    def is_stale(self, now: float) -> bool:
        """True when no valid head vouches for the list at ``now`` (RELIABILITY 7, 8)."""
        return self.stale_reason(now) is not None

    def stale_reason(self, now: float) -> str | None:
        """Why the list in force is not fresh at ``now`` (RELIABILITY 7, 8), or None when fresh."""
        state, head = self._view.state, self._head
        if state is None:
            return "no list installed"
        if now >= state.expires:
            return f"list v{state.identity.version} expired"
        if head is None:
            return "no head received"
        if (head["epoch"], head["version"], head["state_hash"]) != (
            state.identity.epoch, state.identity.version, state.identity.state_hash
        ):  # fmt: skip
            return (
                f"head names v{head['version']} (epoch {head['epoch']}), installed v{state.identity.version}"
            )
        if now >= head["expires"]:
            return "head expired"
        if now - head["issued"] > self.max_staleness:
            return f"last head older than {self.max_staleness:.0f} s"
        return None

    def status(self, now: float) -> dict:
        """Identity, head, freshness and sizes of the list in force, for status and ``hitlist status``."""
        view, state = self._view, self._view.state
        out: dict = {
            "installed": state is not None,
            "stale": self.is_stale(now),
            "stale_reason": self.stale_reason(now),
        }
        out["keyring_version"], out["epoch_keyring"] = view.keyring.version, view.keyring.epoch
        if state is not None:
            i = state.identity
            out.update(
                list_id=i.list_id, epoch=i.epoch, version=i.version, state_hash=i.state_hash.hex(),
                count=state.sum.count, overlay_entries=view.overlay_size, created=state.created,
                expires=state.expires, name_key_version=state.name_key_version,
                names_usable=state.name_key_version == names.NORMALISER_VERSION,
            )  # fmt: skip
        if self._head is not None:
            out["head"] = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self._head.items()}
        return out

    # --- installation --------------------------------------------------------------------------

    def install(self, blob, *, now: float) -> Identity:
        """Verify and install a snapshot, delta or keyring; return the identity now in force.

        Raises HitListRejected (``.reason``, ``.resync``) with the installed list unchanged."""
        with self._lock, self._flock():
            self.refresh()
            if len(blob) >= 6 and unpack_frame(blob, self.limits).kind == "keyring":
                return self._install_keyring(blob)
            verified = verify_list(
                blob, keyring=self._view.keyring, installed=self._view.installed, now=now, limits=self.limits
            )
            if verified.meta.kind == "snapshot":
                identity = self._install_snapshot(verified)
            else:
                identity = self._install_delta(verified)
            logger.info("hit-list installed", extra={"fields": {
                "list_id": identity.list_id, "version": identity.version, "kind": str(verified.meta.kind)}})
            return identity

    def read_head(self, blob, *, now: float) -> Head:
        """The head if its signature verifies by a list key of the trusted keyring, its times not yet judged
        (``verify.read_head``: the gate's trusted time learns from ``issued`` first). Raises HitListRejected."""
        with self._lock:
            return read_head(blob, keyring=self._view.keyring, now=now, limits=self.limits)

    def accept_head(self, blob, *, now: float) -> Head:
        """Accept a freshness head for the installed list and return it. Raises HitListRejected
        (wrong_list_id, rollback for a head older than the last one, and every signature/expiry reason)."""
        with self._lock, self._flock():
            self.refresh()
            head = verify_head(blob, keyring=self._view.keyring, now=now, limits=self.limits)
            state = self._view.state
            if state is None:
                raise HitListRejected("base_mismatch", "a head but no list installed", resync=True)
            if head.list_id != state.identity.list_id:
                raise HitListRejected(
                    "wrong_list_id", f"head for {head.list_id!r}, installed {state.identity.list_id!r}"
                )
            if (head.epoch, head.version) < (state.identity.epoch, state.identity.version):
                raise HitListRejected(
                    "rollback", f"head names v{head.version}, older than installed v{state.identity.version}"
                )
            if self._head is not None and head.issued < self._head["issued"]:
                raise HitListRejected(
                    "rollback",
                    f"head issued {head.issued:.0f}, before the last accepted {self._head['issued']:.0f}",
                )
            record = {"list_id": head.list_id, "epoch": head.epoch, "version": head.version,
                      "state_hash": head.state_hash, "issued": head.issued, "expires": head.expires}  # fmt: skip
            self._replace(self.dir / "head.msgpack", msgpack.packb(record))
            self._head = record
            return head

    def verify(self) -> dict:
        """Re-read the whole installed list: the base files against the digests written with them,
        and base sum - removals + additions against the signed state hash."""
        view = self._view
        if view.state is None:
            return {"ok": True, "installed": False}
        total, ok = StateSum.zero(), True
        if view.base is not None and view.base_dir is not None:
            ok = view.base.digests_ok(view.base_dir) and bool(np.all(view.base_positions(view.removes) >= 0))
            total = view.base.full_sum.remove(view.removed_from_base()) if ok else total
        if view.adds is not None:
            total = total.add(view.adds.entries)
        ok = ok and total.digest() == view.state.identity.state_hash
        return {"ok": ok, "installed": True, "count": total.count, "state_hash": total.digest().hex()}

    def compact(self) -> None:
        """Fold the overlay into a new base (same identity), streaming the base in chunks; lookups
        keep using the old view meanwhile."""
        with self._lock, self._flock():
            self.refresh()
            view = self._view
            if view.state is None or view.overlay_dir is None or view.base is None:
                return
            base = write_compacted(self._writer, view.base, view, view.state.sum)
            self._switch(view.state, view.keyring, base, None)

    def compact_in_background(self) -> threading.Thread:
        """Start `compact` in a daemon thread; lookups go on meanwhile."""
        thread = threading.Thread(target=self.compact, name="hitlist-compact", daemon=True)
        thread.start()
        return thread

    def _install_keyring(self, blob) -> Identity:
        keyring = verify_keyring(bytes(blob), self._view.keyring, self.limits)
        view = self._view
        self._switch(view.state, keyring, view.base_dir, view.overlay_dir)
        return view.state.identity if view.state else Identity("", keyring.epoch, 0, b"")

    def _install_snapshot(self, v: VerifiedList) -> Identity:
        total = snapshot_sum(v)
        base = self._writer.write_base(v.entries, v.meta.version, full_sum=total)
        self._switch(list_state(v, total), v.keyring, base, None)
        return v.meta.identity

    def _install_delta(self, v: VerifiedList) -> Identity:
        view = self._view
        delta = apply_delta(view, v)
        overlay = self._writer.write_overlay(delta.adds, delta.removes, v.meta.version)
        self._switch(list_state(v, delta.total), v.keyring, view.base_dir, overlay)
        if self._view.overlay_size > self.limits.max_overlay_entries:
            self.compact_in_background()
        return v.meta.identity

    def _step(self, label: str) -> None:
        """Crash-injection point (test hook CRASH_ENV): the installer SIGKILLs itself at step k."""
        self._steps += 1
        if self._steps == self._crash_at:
            logger.debug("crash hook: SIGKILL", extra={"fields": {"step": self._steps, "at": str(label)}})
            os.kill(os.getpid(), signal.SIGKILL)

    def _replace(self, path: Path, data: bytes) -> None:
        atomic_write(path, data, mode=FILE_MODE, step=self._step)

    def _switch(
        self, state: ListState | None, keyring: Keyring, base: Path | None, overlay: Path | None
    ) -> None:
        """Write the new state record, then switch CURRENT to it: the single commit point."""
        seq = int(self._current.split("/")[-1].split(".")[0]) + 1 if self._current else 1
        record = {
            "list": state.to_wire() if state else None,
            "keyring": keyring.blob,
            "base": base.name if base else None,
            "overlay": overlay.name if overlay else None,
        }
        name = f"states/{seq:08d}.msgpack"
        self._replace(self.dir / name, msgpack.packb(record))
        self._replace(self.dir / "CURRENT", name.encode())
        self._current = name
        self._view = ListView(state, keyring, base, overlay)
        self._collect_garbage()

    # --- loading -------------------------------------------------------------------------------

    def _load(self) -> ListView:
        current = self.dir / "CURRENT"
        if not current.exists():
            self._current = ""
            return ListView(None, self._pinned, None, None)
        name = current.read_text().strip()
        record = msgpack.unpackb((self.dir / name).read_bytes())
        keyring = self._pinned
        if record["keyring"]:
            keyring = replay_keyring(record["keyring"], self._pinned, self.limits)
        self._current = name
        state = ListState.from_wire(record["list"]) if record["list"] else None
        base = self.dir / "bases" / record["base"] if record["base"] else None
        overlay = self.dir / "overlays" / record["overlay"] if record["overlay"] else None
        return ListView(state, keyring, base, overlay)

    def _upgrade_layout(self) -> None:
        """Rewrite a base of layout 1 in the current layout (agent.hitlist.migrate), under the writer lock."""
        if find_old_base(self.dir) is None:
            return
        with self._flock():
            old = find_old_base(self.dir)  # another process may have done it meanwhile
            if old is None:
                return
            logger.info("hit-list base rewritten in the current layout", extra={"fields": {
                "base": str(old.directory.name), "entries": len(old.entries), "layout": BASE_LAYOUT}})
            base = self._writer.write_base(old.entries, old.version)
            record = old.record
            keyring = (
                replay_keyring(record["keyring"], self._pinned, self.limits) if record["keyring"] else self._pinned
            )
            overlay = self.dir / "overlays" / record["overlay"] if record["overlay"] else None
            self._current = old.record_name
            self._switch(ListState.from_wire(record["list"]) if record["list"] else None, keyring, base, overlay)

    def refresh(self) -> None:
        """Pick up a list another process (e.g. `sharaka-gate hitlist install`) installed in the same state directory."""
        current = self.dir / "CURRENT"
        name = current.read_text().strip() if current.exists() else ""
        if name != self._current:
            self._view = self._load()
            self._head = self._load_head()

    def _load_head(self) -> dict | None:
        path = self.dir / "head.msgpack"
        return msgpack.unpackb(path.read_bytes()) if path.exists() else None

    @contextlib.contextmanager
    def _flock(self, *, blocking: bool = True) -> Iterator[None]:
        """Exclusive writer lock across processes (an agent and a technician's CLI)."""
        with open(self.dir / "lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _collect_garbage(self) -> None:
        """Remove files no state in force refers to (left by a finished or interrupted install)."""
        keep = {self._current.split("/")[-1]}
        view = self._view
        keep |= {p.name for p in (view.base_dir, view.overlay_dir) if p is not None}
        for sub in ("states", "bases", "overlays"):
            for path in (self.dir / sub).iterdir():
                if path.name not in keep:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    self._step(f"remove {path}")
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink()

