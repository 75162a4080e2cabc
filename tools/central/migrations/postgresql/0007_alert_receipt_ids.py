"""As sqlite/0008_alert_receipt_ids.py (the index is made on every day partition)."""

from typing import Any

from yoyo import step

from tools.central.store import fill_alert_ids

__depends__ = {"0006_command_not_after"}


def apply(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute("ALTER TABLE events ADD COLUMN alert_id TEXT")
    cur.execute("CREATE INDEX events_alert ON events (alert_id, gate_id) WHERE alert_id IS NOT NULL")
    fill_alert_ids(conn, "%s")


steps = [step(apply)]
