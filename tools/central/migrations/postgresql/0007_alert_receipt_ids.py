"""As sqlite/0008_alert_receipt_ids.py (the index is made on every day partition)."""

from yoyo import step

from tools.central.store import add_alert_ids

__depends__ = {"0006_command_not_after"}

steps = [step(lambda conn: add_alert_ids(conn, "%s"))]
