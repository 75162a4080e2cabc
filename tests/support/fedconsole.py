"""A centre's federation as the console shows it, for the console's tests: BOR's federation file pinning ATL,
and items from ATL recorded by BOR's real relay (verified like any received item)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from agent.protocol import topics
from agent.screening.events import encode_event
from tools.central.alerts import build_alert, build_clearing
from tools.central.cli import main as central_cli
from tools.central.federation import (
    Federation,
    FederationRelay,
    ItemRejected,
    new_federation,
    share_alert,
    share_clearing,
    share_hit,
)
from tools.central.node import CentralConfig
from tools.central.store import CentralStore

TRAVELLER = {"surname": "ERIKSSON", "given_names": "ANNA MARIA", "issuing_state": "UTO", "document_number": "L898902C3"}


@dataclass
class Region:
    """This centre (BOR: ``fed``, its file at ``path``) and its peer ATL; ``receive`` records an ATL item."""

    path: Path
    fed: Federation
    atl: Federation
    relay: FederationRelay

    @classmethod
    def create(cls, root: Path, store: CentralStore) -> Region:
        paths = {c: root / c.lower() / "federation.toml" for c in ("BOR", "ATL")}
        for centre, path in paths.items():
            new_federation(path, centre)
        for centre, peer in (("BOR", "ATL"), ("ATL", "BOR")):
            assert central_cli(["federation", "pin", "--config", str(paths[centre]), "--centre", peer,
                                "--pub", str(paths[peer].parent / "federation.key.pub")]) == 0
        bor, atl = Federation.load(paths["BOR"]), Federation.load(paths["ATL"])
        return cls(paths["BOR"], bor, atl, FederationRelay(CentralConfig(), store, bor, alert_key=None))

    def receive(self, item: tuple[str, bytes], origin: str = "ATL") -> str | None:
        """Deliver one item to BOR's relay; None when recorded, else the refusal's reason."""
        try:
            self.relay.receive(f"{topics.FED_IN}/{origin}/{item[0]}", item[1])
        except ItemRejected as exc:
            return exc.reason
        return None

    def alert(self, notice: str = "Stolen passports at the northern crossing") -> tuple[tuple[str, bytes], bytes, SigningKey]:
        """(ATL's item sharing a new alert, the alert's wire, ATL's alert key)."""
        key = SigningKey.generate()
        _, wire, _ = build_alert(key, notice=notice, severity="urgent", ttl=3600,
                                 listings=[{"kind": "vehicle", "vin": "WVWZZZ1JZXW000001"}])
        return share_alert(self.atl, wire), wire, key

    def clearing(self, alert_wire: bytes, key: SigningKey) -> tuple[str, bytes]:
        """ATL's item sharing the clearing of ``alert_wire``."""
        return share_clearing(self.atl, build_clearing(key, alert_wire)[1])

    def hit(self, *, personal: bool, note: str = "seen at north-1", fed: Federation | None = None) -> tuple[str, bytes]:
        """ATL's (or ``fed``'s) item sharing a hit on TRAVELLER's passport (``personal``: with the traveller,
        sealed to BOR)."""
        event = {"decision": "HIT", "site": "north-1", "wall": time.time(), "mrz": dict(TRAVELLER),
                 "hit": {"kind": "document", "reason": "stolen", "ref": "ATL-SLTD-9"}}
        row = {"msg_id": uuid.uuid4().hex, "gate_id": "atl-gate-1", "is_hit": 1, "created": time.time(),
               "body": encode_event(event)}
        return share_hit(fed or self.atl, row, personal=personal, note=note)
