"""The alert each gate's ``alert`` event names, as ``events.alert_id`` (``store.alert_id_of``, set as events are
stored): the console's Alerts page and ``alert status`` read the receipts of the alerts they show by it, not by
decoding every receipt ever stored. Filled here for the events stored before (``store.add_alert_ids``)."""

from typing import Any

from yoyo import step

from tools.central.store import add_alert_ids

__depends__ = {"0007_command_not_after"}


def apply(conn: Any) -> None:
    add_alert_ids(conn, "?")
    conn.cursor().execute("PRAGMA user_version = 9")


steps = [step(apply)]
