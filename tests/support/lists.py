"""Signed hit-lists and keyrings made with the real `sharaka-hitlist`, laid out as the central node serves them,
and ``Site``: a real central node serving them to real gates."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from nacl.signing import SigningKey

from agent.hitlist.store import HitListStore
from agent.keys import read_public_key
from tests.support.link import Keys, alerting_gate, make_central, make_gate
from tests.support.wait import wait_until
from tools.central.hitlists import HitListServer
from tools.central.node import CentralConfig, CentralNode
from tools.hitlist_cli import main as hitlist_cli

DOCS = [("UTO", f"L8989{i:04d}") for i in range(400)]


def wait_fresh(gate, store: HitListStore, version: int, timeout: float = 20) -> None:
    """Wait until ``store`` holds list ``version`` under a fresh head; fails with the gate's sync status."""
    assert wait_until(lambda: store.version == version and store.stale_reason(time.time()) is None, timeout), (
        gate.link.sync.status(), store.stale_reason(time.time()))


def _records(path: Path, docs) -> Path:
    path.write_text("".join(json.dumps({"kind": "document", "issuing_state": s, "document_number": n,
                                        "reason": "stolen", "ref": f"ref-{n}"}) + "\n" for s, n in docs))
    return path


class Lists:
    """Builds signed lists and keyrings with the real `sharaka-hitlist` into the central node's directories
    (``lists``: LISTS/sltd/, ``keyrings``: the keys directory's keyrings/, as `sharaka-central run` serves them)."""

    def __init__(self, root: Path) -> None:
        self.keys = root / "hlkeys"
        self.lists = root / "lists"
        self.keyrings = self.keys / "keyrings"
        self.dir = self.lists / "sltd"
        self.dir.mkdir(parents=True)
        self.work = root / "work"
        self.work.mkdir()
        assert hitlist_cli(["keygen", "--out", str(self.keys)]) == 0
        self.root_pub = read_public_key(self.keys / "root.pub")

    def snapshot(self, version: int, docs) -> Path:
        out = self.dir / f"snapshot-{version}.bin"
        assert hitlist_cli(["build", "--keys", str(self.keys), "--from", str(_records(self.work / f"r{version}", docs)),
                            "--list-id", "sltd", "--version", str(version), "--out", str(out)]) == 0
        return out

    def delta(self, old: Path, version: int, docs) -> Path:
        full = self.work / f"full-{version}.bin"
        assert hitlist_cli(["build", "--keys", str(self.keys), "--from", str(_records(self.work / f"r{version}", docs)),
                            "--list-id", "sltd", "--version", str(version), "--out", str(full),
                            "--base", str(old)]) == 0
        out = self.dir / f"delta-{version}.bin"
        assert hitlist_cli(["delta", "--keys", str(self.keys), "--from", str(old), "--to", str(full),
                            "--out", str(out)]) == 0
        return full

    def head(self, list_file: Path) -> None:
        tmp = self.work / "head"
        assert hitlist_cli(["head", "--keys", str(self.keys), "--list", str(list_file), "--out", str(tmp)]) == 0
        tmp.replace((list_file.parent if list_file.parent.parent == self.lists else self.dir) / "head")

    def build(self, list_id: str, version: int, records: list[dict]) -> Path:
        """Snapshot ``version`` of list ``list_id`` (any records, none too: ``--allow-empty``) in LISTS/list_id/,
        signed by that list's own key when `certify --add-list-key` made one."""
        directory = self.lists / list_id
        directory.mkdir(exist_ok=True)
        source = self.work / f"{list_id}-r{version}"
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        out = directory / f"snapshot-{version}.bin"
        assert hitlist_cli(["build", "--keys", str(self.keys), "--from", str(source), "--list-id", list_id,
                            "--version", str(version), "--out", str(out), "--person-cost", "1",
                            *(() if records else ("--allow-empty",))]) == 0
        return out

    def certify(self, *options: str) -> dict:
        """`sharaka-hitlist certify --keys KEYS OPTIONS --json`: the next keyring; returns its summary."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert hitlist_cli(["certify", "--keys", str(self.keys), *options, "--json"]) == 0
        return json.loads(out.getvalue())


def publish(lists: Lists, central, list_file: Path) -> None:
    """The head of ``list_file`` signed and published by the central node (its next poll)."""
    lists.head(list_file)
    assert central.poll_hitlists() == 1


class Site:
    """A central node serving ``lists`` (files, heads and keyrings) and the gates made with ``gate()``."""

    def __init__(self, mq, tmp_path, keys, **central) -> None:
        """``central``: ``CentralConfig`` fields of the central node."""
        self.mq, self.tmp, self.keys = mq, tmp_path, keys
        self.lists = Lists(tmp_path)
        self.central = make_central(mq, tmp_path / "central.db", keys, **central)
        self.central.hitlists = HitListServer(self.lists.lists, keyrings=self.lists.keyrings)
        self.requests: list[dict] = []
        answer = self.central.hitlists.answer

        def spy(gate_id, req, now):
            self.requests.append(dict(req))
            return answer(gate_id, req, now)

        self.central.hitlists.answer = spy
        self.gates: list = []

    def gate(self, name: str, root_pub: bytes | None = None, key: SigningKey | None = None):
        """A gate whose hit-list store is pinned to ``root_pub`` (default: the first root); ``key``: a restart."""
        store = HitListStore(self.tmp / f"{name}-hitlist", root_pub or self.lists.root_pub)
        gate = make_gate(self.mq, self.tmp / name, self.keys, name, store=None if key else self.central.store,
                         hitlist=store, key=key, username=name if key else None)
        assert gate.link.wait_for_connected(10)
        self.gates.append(gate)
        return gate, store

    def publish(self, list_file) -> None:
        """``publish`` for this site's lists and central node."""
        publish(self.lists, self.central, list_file)

    def gate_with_list(self, name: str, docs) -> tuple:
        """List v1 of ``docs`` published, and a gate that installed it and holds a fresh head."""
        v1 = self.lists.snapshot(1, docs)
        self.publish(v1)
        gate, store = self.gate(name)
        wait_fresh(gate, store, 1)
        return v1, gate, store

    def close(self) -> None:
        for gate in self.gates:
            gate.stop()
        self.central.stop()


class AlertingSite(NamedTuple):
    """A central node whose keyring certifies an alert key, a gate (``alerting_gate``) that holds that keyring,
    and what the console issues alerts with: the command account's broker settings and the alert key file."""

    central: CentralNode
    gate: Any
    hitlist: HitListStore
    warnings: Any
    broker: CentralConfig
    alert_key: Path


@contextlib.contextmanager
def alerting_site(broker: Any, tmp_path: Path) -> Iterator[AlertingSite]:
    """An ``AlertingSite`` on ``broker``, its gate holding the alert key before it is yielded; stopped after."""
    keys, lists = Keys(), Lists(tmp_path)
    lists.certify("--add-alert-key")
    central = make_central(broker, tmp_path / "central.db", keys)
    central.hitlists = HitListServer(lists.lists, keyrings=lists.keyrings)
    gate, hitlist, warnings = alerting_gate(broker, tmp_path, keys, "gate-1", root_pub=lists.root_pub,
                                            store=central.store)
    user = "central-cmd"
    config = CentralConfig(host=broker.host, port=broker.port, username=user, password=broker.credentials[user])
    try:
        assert wait_until(lambda: hitlist.keyring_version == 2, 15), "the gate did not get the alert key"
        yield AlertingSite(central, gate, hitlist, warnings, config, next(lists.keys.glob("alert-*.key")))
    finally:
        gate.stop()
        central.stop()
