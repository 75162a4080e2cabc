"""A gate with its officer's screen on simulated hardware, running in threads as ``sharaka-gate run`` does,
for the web tests: real pty reader, real outbox, the real aiohttp server on a free loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.app import GateApp
from agent.config import load_config
from agent.hitlist.store import HitListStore
from agent.keys import pinned_root
from agent.screen import accounts_for
from tests.support.gatesim import write_app_config
from tests.support.lists import Lists
from tests.support.wait import wait_until

OFFICER, PASSWORD = "amina", "correct horse battery"


@contextmanager
def running_gate(directory: Path, **kwargs: Any) -> Iterator[GateApp]:
    """``running_gate_unchecked``, once the screen is served."""
    with running_gate_unchecked(directory, **kwargs) as app:
        assert wait_until(lambda: app.screen is not None and app.screen.server.port != 0
                          and app.screen.server._ready.is_set(), 10), "the screen did not start"
        yield app


@contextmanager
def running_gate_unchecked(directory: Path, *, screen: dict[str, Any] | None = None,
                           app_kwargs: dict[str, Any] | None = None, on_open: Callable[[GateApp], None] | None = None,
                           records: Sequence[dict[str, str]] = (), **sections: Any) -> Iterator[GateApp]:
    """A lab gate (tests/support/gatesim.py records) with ``[screen]`` enabled on a free port and officer
    ``OFFICER`` enrolled, running until the block ends; ``on_open(app)`` runs between open and run (e.g. to
    enrol the gate's device key at the centre)."""
    config_path = write_app_config(directory, screen={"enabled": True, "port": 0, **(screen or {})}, **sections)
    with (directory / "listed.jsonl").open("a") as f:  # more listed records than tests/support/gatesim.py's
        f.writelines(json.dumps(r) + "\n" for r in records)
    config = load_config(config_path)
    config.gate.state_dir.mkdir(parents=True, exist_ok=True)
    accounts = accounts_for(config)
    accounts.add(OFFICER, PASSWORD)
    accounts.close()
    app = GateApp(config, **(app_kwargs or {}))
    app.open()
    if on_open is not None:
        on_open(app)
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    runner.start()
    try:
        yield app
    finally:
        stop.set()
        runner.join(15)


def signed_list(directory: Path, list_id: str, records: Sequence[dict[str, str]], *, governs: Sequence[str],
                alert_key: bool = False) -> tuple[Lists, dict[str, Any]]:
    """Version 1 of list ``list_id`` holding ``records``, built and signed with the real `sharaka-hitlist`
    (tests/support/lists.py, keys in ``directory/centre``; ``alert_key``: the keyring also certifies an alert
    key, agent/alerts.py), installed with its keyrings and a fresh head in the store ``directory/list_id`` as
    a gate's sync would. Returns the keys and the ``[lists.ID]`` table (for ``running_gate``'s ``sections``)
    that screens the kinds in ``governs`` against it."""
    lists = Lists(directory / "centre")
    if alert_key:
        lists.certify("--add-alert-key")
    store = HitListStore(directory / list_id, pinned_root(directory / list_id, lists.keys / "root.pub", pin=True))
    for keyring in sorted(lists.keyrings.glob("*.bin")):
        store.install(keyring.read_bytes(), now=time.time())
    snapshot = lists.build(list_id, 1, list(records))
    store.install(snapshot.read_bytes(), now=time.time())
    lists.head(snapshot)
    store.accept_head((snapshot.parent / "head").read_bytes(), now=time.time())
    assert store.stale_reason(time.time()) is None, store.stale_reason(time.time())
    return lists, {"store_dir": list_id, "governs": list(governs)}


@contextmanager
def linked_gate(broker, tmp_path: Path, **sections: Any) -> Iterator[tuple[Any, Any]]:  # type: ignore[no-untyped-def]
    """``running_gate`` linked through the real Mosquitto ``broker`` to a real central node that enrolled it:
    yields (app, central node), once the link is up. ``sections``: more config tables (``running_gate``)."""
    from nacl.signing import SigningKey

    from agent.durable import atomic_write
    from tests.support.link import Keys, make_central
    from tools.central.cli import main as central_cli

    keys = Keys(node=SigningKey.generate())
    atomic_write(tmp_path / "node.pub", bytes(keys.node.verify_key))
    _, password = broker.add_gate("gate-a")
    (tmp_path / "pw").write_text(password)
    central = make_central(broker, tmp_path / "central.db", keys)

    def enrol(app):  # type: ignore[no-untyped-def]
        assert central_cli(["enrol", "--db", str(tmp_path / "central.db"), "--gate", "gate-a",
                            "--pub", str(tmp_path / "state" / "device.key.pub")]) == 0

    try:
        link = {"enabled": True, "port": broker.port, "password_file": "pw", "node_pub": "node.pub"}
        with running_gate(tmp_path, link=link, on_open=enrol, **sections) as app:
            assert app.link.wait_for_connected(10)
            yield app, central
    finally:
        central.stop()
