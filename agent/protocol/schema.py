"""One declarative schema per message type: every field of every message is type- and range-checked
(docs/protocol.md "Schemas", RELIABILITY 11 and 40).

A value the schema accepts can be stored, compared and shown without raising anywhere downstream: integers
lie in ``0 <= n < 2**63`` (SQLite's INTEGER) or tighter, numbers are finite, strings, binaries, lists and
maps are bounded, and free-form parts (a status's hardware section, a command's args, fields added by a
newer sender) are bounded trees: at most ``TREE_DEPTH`` levels of the same kinds of bounded values.

    MESSAGES["event"].check(body, "event")     # raises ProtocolError naming the field, its value and the rule

Pure: no I/O. ``agent.protocol.envelope`` applies it to every message it seals or opens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agent.errors import BadDataError
from agent.protocol import ids

SCHEMA_VERSION = 1  # the body's ``v``
INT_MAX = 2**63 - 1  # SQLite INTEGER, C int64
TIME_MAX = float(2**36)  # seconds since the epoch: year 4147
TREE_DEPTH = 6
ID_LEN = 64


class ProtocolError(BadDataError):
    """A message that is malformed, oversized, out of range or not what its topic says it is."""


class TooLargeError(ProtocolError):
    """A message to send whose signed wire would exceed ``Limits.max_wire`` (``seal``): its sender can split it."""


@dataclass(frozen=True)
class Limits:
    """Size bounds every receiver's unpacker applies before the schema (RELIABILITY 11). The schema's own
    bounds are these or tighter, and ``seal`` applies them too, so a sender commits nothing its receiver
    refuses (docs/protocol.md "Envelope")."""

    max_wire: int = 256 * 1024
    max_signatures: int = 8
    max_str: int = 4096
    max_bin: int = 200 * 1024
    max_array: int = 10_000
    max_map: int = 64


LIMITS = Limits()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(path: str, value: Any, expected: str) -> ProtocolError:
    shown = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else _show(value)
    return ProtocolError(f"field {path!r} is {shown}, expected {expected}")


class Spec(Protocol):
    """A field's rule: ``check`` raises ProtocolError (naming ``path``) unless ``value`` satisfies it."""

    def check(self, value: Any, path: str) -> None:
        """Raise ProtocolError naming ``path`` when ``value`` is not of this kind and range."""


@dataclass(frozen=True)
class Int:
    """An integer (never a bool) in ``lo..hi`` inclusive."""

    lo: int = 0
    hi: int = INT_MAX

    def check(self, value: Any, path: str) -> None:
        """Refuse anything but an integer in range (a bool is not an integer here)."""
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise _fail(path, value, f"an integer {self.lo}..{self.hi}")


@dataclass(frozen=True)
class Num:
    """A finite number (int or float, never a bool) in ``lo..hi`` inclusive."""

    lo: float = 0.0
    hi: float = TIME_MAX

    def check(self, value: Any, path: str) -> None:
        """Refuse anything but a finite number in range."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not self.lo <= value <= self.hi
        ):
            raise _fail(path, value, f"a finite number {self.lo:g}..{self.hi:g}")


@dataclass(frozen=True)
class Str:
    """A string of ``lo..hi`` characters, optionally one of ``choices`` or matching ``pattern``."""

    hi: int
    lo: int = 0
    choices: tuple[str, ...] = ()
    pattern: str = ""

    def check(self, value: Any, path: str) -> None:
        """Refuse anything but a string of allowed length (and one of ``choices`` when given)."""
        if not isinstance(value, str) or not self.lo <= len(value) <= self.hi:
            raise _fail(path, value, f"a string of {self.lo}..{self.hi} characters")
        if self.choices and value not in self.choices:
            raise _fail(path, value, f"one of {self.choices}")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise _fail(path, value, f"a string matching {self.pattern}")


@dataclass(frozen=True)
class Bin:
    """A byte string of ``lo..hi`` bytes."""

    hi: int
    lo: int = 0

    def check(self, value: Any, path: str) -> None:
        """Refuse anything but bytes of allowed length."""
        if not isinstance(value, bytes) or not self.lo <= len(value) <= self.hi:
            raise _fail(path, value, f"binary of {self.lo}..{self.hi} bytes")


@dataclass(frozen=True)
class Bool:
    """True or False."""

    def check(self, value: Any, path: str) -> None:
        """Refuse anything but true or false."""
        if not isinstance(value, bool):
            raise _fail(path, value, "true or false")


@dataclass(frozen=True)
class List:
    """A list of at most ``hi`` items, each satisfying ``item``."""

    item: Spec
    hi: int

    def check(self, value: Any, path: str) -> None:
        """Refuse a list that is too long or holds an item its spec refuses."""
        if not isinstance(value, list) or len(value) > self.hi:
            raise _fail(path, value, f"a list of at most {self.hi} items")
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]")


@dataclass(frozen=True)
class Tree:
    """A free-form value bounded in every dimension: None, bool, ``Int()``, ``Num`` (any finite float of
    magnitude <= 2**63), strings and binaries up to ``text``/``blob``, lists up to ``items``, string-keyed
    maps up to ``entries`` (the unpacker's bound: a bigger map is refused before any schema), nested at most
    ``depth`` levels."""

    depth: int = TREE_DEPTH
    text: int = LIMITS.max_str
    blob: int = 4096
    items: int = 256
    entries: int = LIMITS.max_map

    def check(self, value: Any, path: str) -> None:
        """Refuse a nested value that is too deep, too wide or holds an unbounded leaf."""
        self._check(value, path, self.depth)

    def _check(self, value: Any, path: str, depth: int) -> None:
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, int):
            _INT.check(value, path)
        elif isinstance(value, float):
            _FLOAT.check(value, path)
        elif isinstance(value, str):
            Str(self.text).check(value, path)
        elif isinstance(value, bytes):
            Bin(self.blob).check(value, path)
        elif isinstance(value, list | dict):
            if depth <= 0:
                raise _fail(path, "...", f"at most {self.depth} levels of nesting")
            most = self.items if isinstance(value, list) else self.entries
            if len(value) > most:
                raise _fail(path, value, f"at most {most} {'items' if isinstance(value, list) else 'entries'}")
            if isinstance(value, list):
                for i, v in enumerate(value):
                    self._check(v, f"{path}[{i}]", depth - 1)
            else:
                for k, v in value.items():
                    _KEY.check(k, _join(path, "(key)"))
                    self._check(v, _join(path, k), depth - 1)
        else:
            raise _fail(path, value, "a bounded msgpack value")


_INT = Int()
_FLOAT = Num(-float(2**63), float(2**63))
_KEY = Str(ID_LEN, 1)
TREE = Tree()


@dataclass(frozen=True)
class Map:
    """A string-keyed map with the named ``fields`` (all required but ``optional``); other keys are
    allowed (a newer sender) when ``extra`` is given and must satisfy it; at most ``hi`` entries."""

    fields: Mapping[str, Spec]
    optional: frozenset[str] = frozenset()
    extra: Spec | None = TREE
    hi: int = LIMITS.max_map

    def check(self, value: Any, path: str) -> None:
        """Refuse a map that is too large, misses a required field or holds a field its spec refuses."""
        if not isinstance(value, dict) or len(value) > self.hi:
            raise _fail(path, value, f"a map of at most {self.hi} entries")
        for name, spec in self.fields.items():
            if name in value:
                spec.check(value[name], _join(path, name))
            elif name not in self.optional:
                raise ProtocolError(f"field {_join(path, name)!r} is missing")
        for k, v in value.items():
            if k not in self.fields:
                _KEY.check(k, _join(path, "(key)"))
                if self.extra is None:
                    raise ProtocolError(f"field {_join(path, k)!r} is not allowed here")
                self.extra.check(v, _join(path, k))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---------------------------------------------------------------------------------------------- fields
TIME = Num(0.0, TIME_MAX)
MSG_ID = Str(ID_LEN, 1)
GATE_ID = Str(ID_LEN, 1, pattern=ids.GATE_ID_PATTERN)  # the rule of agent.protocol.ids
LIST_ID = Str(ID_LEN, pattern=f"({ids.ID_PATTERN})?")  # "" = the centre picks
CODE = Str(ID_LEN)  # kinds, states, reasons, op names
DETAIL = Str(1000)
ACK_IDS = 1000  # message ids per ack
MAX_BODY = LIMITS.max_bin  # an event's body, a chunk's data
QUERY_SEALED = 2048  # a sealed online query: document, person and vehicle fields, each bounded
QUERY_LISTS = 32  # lists the centre names in one query reply
PEM = Bin(4096)  # one X.509 certificate or request in PEM, as bytes (a P-256 one is under 1 KiB)

COMMON: dict[str, Spec] = {"v": Int(SCHEMA_VERSION, SCHEMA_VERSION), "t": CODE, "id": MSG_ID, "ts": TIME}


def message(fields: Mapping[str, Spec], optional: tuple[str, ...] = ()) -> Map:
    """The schema of one message type: the common fields plus ``fields`` (all required but ``optional``);
    unknown extra fields are bounded trees (a newer sender's additions, ignored by this receiver)."""
    return Map({**COMMON, **fields}, optional=frozenset(optional))


_EVENT: dict[str, Spec] = {"gate": GATE_ID, "seq": Int(), "kind": CODE, "created": TIME, "body": Bin(MAX_BODY)}

MESSAGES: dict[str, Map] = {
    "event": message(_EVENT),
    "hit": message(_EVENT),
    "status": message(
        {
            "gate": GATE_ID,
            "session": Int(),
            "state": Str(16, choices=("online", "offline")),
            "kind": CODE,
            # the centre reads hitlist.version; the rest of a status is a bounded tree for people to read
            "hitlist": Map({"version": Int()}, optional=frozenset({"version"})),
        },
        ("hitlist",),  # ``kind`` is required: a will, a shutdown, a decommissioning are told by it alone
    ),
    "ack": message({"gate": GATE_ID, "ids": List(MSG_ID, ACK_IDS)}),
    "cmd": message(
        {"gate": GATE_ID, "seq": Int(1), "op": CODE, "args": Map({}), "issued": TIME, "not_after": TIME,
         "nonce": Bin(64, 8)}
    ),  # fmt: skip
    "cmd_result": message(
        {"gate": GATE_ID, "cmd_id": MSG_ID, "ok": Bool(), "reason": CODE, "detail": DETAIL}, ("detail",)
    ),
    "hitlist_req": message(
        {"gate": GATE_ID, "list_id": LIST_ID, "have": Int(), "offset": Int(), "name": Str(255), "want": CODE},
        ("name", "want"),
    ),
    "hitlist_chunk": message(
        {"gate": GATE_ID, "req": MSG_ID, "name": Str(255), "offset": Int(), "total": Int(), "data": Bin(MAX_BODY),
         "list_id": LIST_ID, "version": Int(), "error": DETAIL},
        ("list_id", "version", "error"),
    ),  # fmt: skip
    # online query (docs/protocol.md "Online query"): ``sealed`` holds what is asked (document, person,
    # vehicle) sealed to the centre's key; ``issuing_state``/``document_number`` in clear: a gate before it
    "query": message(
        {"gate": GATE_ID, "sealed": Bin(QUERY_SEALED), "issuing_state": Str(3), "document_number": Str(ID_LEN)},
        ("sealed", "issuing_state", "document_number"),
    ),
    "query_reply": message(
        {"gate": GATE_ID, "req": MSG_ID, "hit": Bool(), "reason": CODE, "ref": Str(255), "kind": CODE,
         "strength": Str(8, choices=("exact", "weak")), "basis": CODE, "list_id": LIST_ID,
         "lists": List(Map({"list_id": LIST_ID, "version": Int()}), QUERY_LISTS)},
        ("reason", "ref", "kind", "strength", "basis", "list_id", "lists"),
    ),  # fmt: skip
    # two-phase device-key rotation (docs/protocol.md "Device-key rotation"): the request is signed by the
    # enrolled key and by ``new_key`` (proof of possession); the confirmation by the node key
    "key_rotation": message({"gate": GATE_ID, "new_key": Bin(32, 32)}),
    "key_confirm": message({"gate": GATE_ID, "req": MSG_ID, "new_key": Bin(32, 32)}),
    # enrolment of a new gate (docs/provisioning.md "Enrolment"): the request is signed by the new device
    # key (proof of possession) and carries a MAC by the one-time token; the reply is signed by the node
    # key and, when the centre knows the token, carries a MAC by it too
    "enrol_req": message(
        {"gate": GATE_ID, "site": Str(ID_LEN, 1), "token": Str(16, 8), "device_key": Bin(32, 32), "csr": PEM,
         "root_fp": Str(32), "proof": Bin(32, 32)}
    ),  # fmt: skip
    "enrol_reply": message(
        {"gate": GATE_ID, "req": MSG_ID, "ok": Bool(), "reason": CODE, "detail": DETAIL, "proof": Bin(32),
         "root_pub": Bin(32, 32), "node_pub": Bin(32, 32), "command_pubs": List(Bin(32, 32), 16), "ca_cert": PEM,
         "cert": PEM, "broker_host": Str(255), "broker_port": Int(0, 65535), "list_id": LIST_ID},
        ("root_pub", "node_pub", "command_pubs", "ca_cert", "cert", "broker_host", "broker_port", "list_id"),
    ),  # fmt: skip
}


# Early warnings (docs/protocol.md "Early warnings"): signed by an ``alert`` key of the root-signed keyring.
MAX_LISTINGS = 100  # urgent listings per alert
# fingerprints per listing: a person's are those of every record key of the name (up to 2,088 on the name
# evaluation sets, ABD names with several given names); the whole alert stays within LIMITS.max_wire
MAX_LISTING_FPS = 4096
_LISTING = Map({"fps": List(Bin(8, 8), MAX_LISTING_FPS), "kind": Str(16, choices=("document", "person", "vehicle")),
                "reason": CODE, "ref": Str(255), "list": LIST_ID, "version": Int()}, extra=None)
CENTRE_ID = Str(ID_LEN, 1, pattern=ids.ID_PATTERN)  # a national centre in a region (federation)
MESSAGES["alert"] = message({
    "issued": TIME, "expires": TIME, "severity": Str(16, choices=("info", "warning", "urgent")),
    "notice": Str(2000), "target": Str(16, choices=("all", "site", "gates")),
    "sites": List(Str(ID_LEN, 1, pattern=ids.ID_PATTERN), 64), "gates": List(GATE_ID, 1000),
    "keys": Map({"doc": Bin(32, 32), "person": Bin(32, 32), "person_cost": Int(1, 10_000_000)}, extra=None),
    "listings": List(_LISTING, MAX_LISTINGS),
    # an alert another centre shared, re-issued here (docs/central.md "Federation"): who issued it, and its id there
    "origin": Map({"centre": CENTRE_ID, "ref": MSG_ID}, extra=None),
    # the centre withdrew the alert of this id (docs/protocol.md "Clearing an alert"): no listings, kept by the
    # gates until ``expires`` (the original's) so that a stale copy of the original is not applied again
    "cleared": Bool(),
}, ("origin", "cleared"))

# Federation (docs/central.md "Federation"): an item a national centre shares with the region, signed by that
# centre's federation key, which every receiving centre pins per centre id. ``alert``: the origin's own signed
# alert, verbatim (its id is ``ref``); ``clear``: the origin's signed clearing of that alert, verbatim, in ``alert``;
# ``hit``: what the operator chose to share of one hit event (``ref``: its event id), personal data only when
# ``personal`` is true.
MESSAGES["fed_item"] = message({
    "origin": CENTRE_ID, "kind": Str(16, choices=("alert", "clear", "hit")), "ref": MSG_ID, "issued": TIME,
    "expires": TIME, "personal": Bool(), "alert": Bin(MAX_BODY), "hit": Map({}),
}, ("alert", "hit"))


def check_message(msg_type: str, body: Mapping[str, Any]) -> None:
    """Raise ProtocolError unless ``body`` is a well-formed, in-range ``msg_type`` message."""
    schema = MESSAGES.get(msg_type)
    if schema is None:
        raise ProtocolError(f"unknown message type {msg_type!r}: expected one of {sorted(MESSAGES)}")
    if body.get("t") != msg_type:
        raise ProtocolError(f"message says t={body.get('t')!r}, expected {msg_type!r}")
    schema.check(dict(body), "")
