"""The console's federation page: what this centre shared with the region and received from it
(docs/central.md "Operators' console", "Federation").

    >>> federation_view(store, fed, personal=True, now=time.time())
    {"items": [...], "refused": {"forged": 2, "throttled": 40}}

Each item as recorded (``CentralStore.federation_items``): direction, origin centre, kind, the origin's reference,
validity, whether it still verifies under the peer keys pinned now (a peer key unpinned since no longer vouches
for it), and what this centre did with it (the alert re-issued to its gates, its clearing). A shared hit shows
the listing that matched and where, never the traveller, unless the origin marked it personal, this console holds
the federation key that opens it, and ``personal`` is true (officer and supervisor only: views.py decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.protocol.envelope import ProtocolError, peek
from tools.central.federation import Federation, ItemRejected, open_hit, verify_item
from tools.central.store import CentralStore

PERSONAL_SHOWN = ("surname", "given_names", "issuing_state", "document_number", "nationality", "birth_date")


def federation_view(store: CentralStore, fed: Federation | None, *, personal: bool, now: float) -> dict[str, Any]:
    """The federation page's items (newest first) and the refusals by reason; see the module docstring."""
    rows = store.federation_items()
    cleared = {(r["origin"], r["ref"]) for r in rows if r["kind"] == "clear"}
    items = [_item(r, fed, personal=personal, now=now, cleared=(r["origin"], r["ref"]) in cleared)
             for r in reversed(rows)]
    refused = {k.removeprefix("federation_"): n for k, n in store.rejects().items() if k.startswith("federation_")}
    return {"items": items, "refused": refused, "centre": fed.centre if fed is not None else None,
            "verification": VERIFICATION, "states": STATES}


def _item(row: Mapping[str, Any], fed: Federation | None, *, personal: bool, now: float,
          cleared: bool) -> dict[str, Any]:
    wire = bytes(row["wire"])
    view: dict[str, Any] = {k: row[k] for k in ("origin", "item_id", "direction", "kind", "ref", "issued", "expires",
                                                "received", "local_ref")}
    view["personal"] = bool(row["personal"])
    view["in_force"] = row["expires"] > now
    view["verified"] = _verification(row, fed)
    try:
        body = peek("fed_item", wire)[0]
    except ProtocolError:
        return view
    if row["kind"] in ("alert", "clear"):
        try:
            alert = peek("alert", body["alert"])[0]
        except (ProtocolError, KeyError):
            alert = {}
        view["alert"] = {"severity": alert.get("severity", ""), "notice": alert.get("notice", ""),
                         "listings": len(alert.get("listings", []))}
    else:
        hit = dict(body.get("hit", {}))
        hit.pop("sealed", None)
        view["hit"] = hit
        if row["personal"] and personal and fed is not None and row["direction"] == "in":
            try:
                opened = open_hit(fed, wire)
            except (ValueError, OSError):
                opened = {}
            mrz = opened.get("mrz")
            view["traveller"] = {k: mrz[k] for k in PERSONAL_SHOWN if k in mrz} if isinstance(mrz, dict) else {}
    view["state"] = _state(row, cleared)
    return view


VERIFICATION = {"signed_here": "signed here", "on_receipt": "verified on receipt", "verified": "verified",
                "no_longer": "no longer verifies: %(reason)s"}
"""What the page says of an item's signature (the template translates it)."""
STATES = {"shared": "shared with the region", "recorded": "recorded", "clear_sent": "clearing sent to our gates (%(ref)s)",
          "clear_pending": "clearing not sent yet", "cleared": "withdrawn by its origin: cleared at our gates",
          "reissued": "re-issued to our gates as %(ref)s", "not_reissued": "recorded, not re-issued"}
"""What this centre did with an item (the template translates it)."""
REFUSALS = {"unknown_centre": "unknown centre", "forged": "forged", "malformed": "malformed",
            "wrong_origin": "wrong origin", "loop": "loop", "expired": "expired", "not_yet_valid": "not yet valid",
            "replay": "replay", "throttled": "throttled"}
"""What the page says of each refusal reason counted (``federation_verify``'s codes; the template translates it)."""


def _verification(row: Mapping[str, Any], fed: Federation | None) -> dict[str, str]:
    """``verified`` (under the peer keys pinned now, as at its receipt), ``signed_here``, ``on_receipt`` (no
    federation file given to the console), or ``no_longer`` with the refusal's ``reason``."""
    if row["direction"] == "out":
        return {"code": "signed_here"}
    if fed is None:
        return {"code": "on_receipt"}
    try:
        verify_item(bytes(row["wire"]), fed=fed, now=row["received"], topic_origin=row["origin"])
    except ItemRejected as exc:
        return {"code": "no_longer", "reason": exc.reason}
    return {"code": "verified"}


def _state(row: Mapping[str, Any], cleared: bool) -> dict[str, str]:
    """What this centre did with the item: a code of ``STATES`` and the local alert id it names (``ref``)."""
    ref = row["local_ref"] or ""
    if row["direction"] == "out":
        code = "shared"
    elif row["kind"] == "hit":
        code = "recorded"
    elif row["kind"] == "clear":
        code = "clear_sent" if ref else "clear_pending"
    elif cleared:
        code = "cleared"
    else:
        code = "reissued" if ref else "not_reissued"
    return {"code": code, "ref": ref}
