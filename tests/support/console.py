"""The operators' console for the tests: the real console (tools/central/console) on a free loopback port over
a real central store, with a supervisor, an officer and a viewer enrolled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.screening.events import encode_event
from agent.web.accounts import Accounts
from tools.central.console import ROLES, Console, ConsoleConfig
from tools.central.store import CentralStore, open_store

PASSWORD = "correct horse battery"
SUPERVISOR, SECOND, OFFICER, VIEWER = "sara", "samir", "omar", "vera"


@contextmanager
def running_console(store: str | Path | CentralStore, accounts: Path, **config: Any) -> Iterator[Console]:
    """A started console over ``store`` (a path or URL opened here, or an open store) with accounts
    ``SUPERVISOR`` and ``SECOND`` (supervisors), ``OFFICER`` and ``VIEWER``, all with ``PASSWORD``."""
    people = Accounts(accounts, roles=ROLES)
    for name, role in ((SUPERVISOR, "supervisor"), (SECOND, "supervisor"), (OFFICER, "officer"), (VIEWER, "viewer")):
        if not people.exists(name):
            people.add(name, PASSWORD, role)
    owned = not isinstance(store, CentralStore)
    opened = open_store(store) if not isinstance(store, CentralStore) else store
    console = Console(ConsoleConfig(store=opened, accounts=people, **config))
    console.start("127.0.0.1", 0)
    try:
        yield console
    finally:
        console.stop()
        people.close()
        if owned:
            opened.close()


@contextmanager
def alerting_console(broker: Any, tmp_path: Path) -> Iterator[tuple[Any, Console]]:
    """(an ``alerting_site`` on ``broker``, the console over its store that issues alerts with its command account
    and alert key)."""
    from tests.support.lists import alerting_site

    with alerting_site(broker, tmp_path) as site, running_console(
            tmp_path / "central.db", tmp_path / "operators.sqlite3", broker=site.broker,
            alert_key=site.alert_key) as console:
        yield site, console


def sign_in(page: Any, url: str, user: str = SUPERVISOR, password: str = PASSWORD) -> None:
    """Sign in through the console's form in a Playwright ``page``."""
    page.goto(url + "/login")
    page.fill("#user", user)
    page.fill("#password", password)
    page.click("#signin")


def add_search(store: CentralStore, gate: str, site: str, wall: float, *, hit: bool = False, state: str = "UTO",
               reason: str = "stolen", list_id: str = "sltd", face: bytes | None = None,
               list_version: int | None = None, mrz: dict[str, str] | None = None) -> str:
    """Store one decision event as the node stores it (opened), as a gate at ``site`` made it at ``wall``; ``mrz``
    replaces fields of its document."""
    msg_id = uuid.uuid4().hex
    event = {"v": 2, "type": "decision", "id": msg_id, "gate": gate, "site": site, "decision": "HIT" if hit else "CLEAR",
             "wall": wall, "mrz": {"issuing_state": state, "document_number": "L898902C3", "surname": "ERIKSSON",
                                   "given_names": "ANNA MARIA", **(mrz or {})}}
    if hit:
        event["hit"] = {"kind": "document", "reason": reason, "ref": "SLTD-0001", "strength": "exact"}
        event["matches"] = [{"list": list_id, "kind": "document", "reason": reason, "ref": "SLTD-0001"}]
    if list_version is not None:  # what each list answered, in clear, as agent/screening/events.py records it
        event["list_version"] = list_version
        event["lists"] = [{"list": "national", "version": 7, "decided": "clear", "stale": False, "answered": True},
                          {"list": list_id, "version": list_version, "decided": "hit" if hit else "clear",
                           "stale": False, "answered": True}]
    if face is not None:
        event["face"] = {"present": True, "score": 0.9, "jpeg": face}
    store.add_event((msg_id, gate, 1, hit, "hit" if hit else "decision", wall, wall, wall + 0.1, encode_event(event)))
    return msg_id


def add_status(store: CentralStore, gate: str, wall: float, *, faults: dict[str, str] | None = None,
               alarms: list[str] | None = None, list_version: int = 4, **extra: Any) -> None:
    """Store one heartbeat status of the enrolled ``gate`` (signed by a fresh key) as the node stores it, with
    ``faults`` (part -> the part's detail) and ``alarms``; ``extra`` adds or replaces status fields (``time``,
    ``hitlist``)."""
    from nacl.signing import SigningKey

    from agent.protocol.envelope import seal

    body = {"id": uuid.uuid4().hex, "ts": wall, "gate": gate, "session": 3, "state": "online", "kind": "heartbeat",
            "versions": {"agent": "0.9.0"}, "outbox": {"depth": 0, "oldest_age": 0, "dropped": 0},
            "alarms": alarms or [], "faults": faults or {},
            "hitlist": {"list_id": "sltd", "version": list_version, "stale": False}, **extra}
    assert store.record_status(gate, 3, True, wall, list_version, seal("status", body, [SigningKey.generate()]))


def add_alert_receipt(store: CentralStore, gate: str, site: str, alert_id: str, wall: float, state: str = "received",
                      officer: str = "") -> None:
    """Store one ``alert`` event as the node stores it: ``gate`` (at ``site``) reports that it ``received`` the
    alert, or that ``officer`` ``acknowledged`` it (agent/alerts.py: outbox_report)."""
    msg_id = uuid.uuid4().hex
    event = {"v": 2, "type": "alert", "id": msg_id, "gate": gate, "site": site, "wall": wall, "alert": alert_id,
             "state": state, **({"officer": officer} if officer else {})}
    store.add_event((msg_id, gate, 1, False, "alert", wall, wall, wall + 0.1, encode_event(event)))
