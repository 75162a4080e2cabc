"""A peer central node written from docs/hitlist.md, docs/protocol.md and docs/online-query.md alone: another
team's centre that builds and signs hit-lists, keyrings and heads, sends commands and early warnings and answers
online queries, with nothing of this project but the documents (paho-mqtt, msgpack and PyNaCl, and the peer gate's
envelope, itself written from docs/protocol.md; no ``agent`` or ``tools`` import, checked by
``tests/agent/test_peer_centre.py``).

    peer = PeerCentre(host, port, "central", password)             # the centre's broker user
    peer.lists["sltd"] = [(doc_fp(peer.fp_keys.doc, "UTO", "L898902C3"), "stolen", b"SLTD-1")]
    peer.publish_list("sltd", version=1)                              # snapshot + retained head; chunks on request
    peer.command("gate-a", "request_status", {})                      # signed by a command key of the keyring

What it writes is the documents' wording turned into code: the file frame and signature domains (docs/hitlist.md
"File format"), key ids, the keyring ("Trust"), document fingerprints ("Fingerprints"), the state hash and hash
chain ("Hash chain and state hash"), heads ("Freshness"), the sync ("Hit-list sync", "Keyring delivery"), commands
("cmd"), alerts ("Early warnings") and the online query's reply (docs/protocol.md "query"). Person listings take
their name keys from ``tests.support.peernames``, written from docs/names.md alone ("Key text"):

    peer.add_person("sltd", "EL AMRANI", "KHALED MAHMOUD", "850307", "wanted", b"W-1")
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgpack
import paho.mqtt.client as mqtt
from nacl.public import SealedBox
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support import peernames
from tests.support.peergate import ROOT, envelope, gate_topic, open_envelope, wait_on

KINDS = {"snapshot": 1, "delta": 2, "head": 3, "keyring": 4}
MASK = (1 << 64) - 1
SALTS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)
CHUNK = 64 * 1024
Entry = tuple[int, str, bytes]  # (fingerprint, reason, ref)


# ---------------------------------------------------------------------- docs/hitlist.md
def list_key_id(public: bytes) -> str:
    """A key's id in list files and keyrings: 16 hex digits of BLAKE2b-64 personalised ``sharaka-keyid``."""
    return hashlib.blake2b(public, digest_size=8, person=b"sharaka-keyid").hexdigest()


def frame(kind: str, signed: dict[str, Any], signers: list[SigningKey], body: bytes = b"",
          keyring: bytes | None = None) -> bytes:
    """``"SHKL" | 1 | kind | envelope length (u32 LE) | envelope | body``, each signature over the domain + signed."""
    packed = msgpack.packb({"type": kind, **signed}, use_bin_type=True)
    domain = f"sharaka/hitlist/{kind}/v1\0".encode()
    sigs = [[list_key_id(bytes(k.verify_key)), k.sign(domain + packed).signature] for k in signers]
    env = msgpack.packb({"signed": packed, "sigs": sigs, "keyring": keyring}, use_bin_type=True)
    return b"SHKL" + bytes([1, KINDS[kind]]) + struct.pack("<I", len(env)) + env + body


def doc_fp(doc_key: bytes, state: str, number: str) -> int:
    """A document's fingerprint: BLAKE2b-64 keyed by the document key, personalised ``sharaka-doc``, of
    ``STATE|NUMBER`` (upper case, fillers, spaces and hyphens out), read as a little-endian integer."""
    def norm(s: str) -> str:
        return s.upper().translate(str.maketrans("", "", "< -"))
    digest = hashlib.blake2b(f"{norm(state)}|{norm(number)}".encode(), digest_size=8, key=doc_key,
                             person=b"sharaka-doc").digest()
    return int.from_bytes(digest, "little")


def person_fp(person_key: bytes, cost: int, name_key: str, birth_date: str) -> int:
    """A person's fingerprint: PBKDF2-HMAC-SHA256 with the person key as password, ``sharaka-person|KEY|YYMMDD`` as
    salt, ``cost`` iterations, 8 bytes read little-endian (the birth date as printed, ``<`` for an unknown part)."""
    salt = f"sharaka-person|{name_key}|{birth_date}".encode()
    return int.from_bytes(hashlib.pbkdf2_hmac("sha256", person_key, salt, cost, dklen=8), "little")


def _mix(x: int) -> int:  # the splitmix64 finaliser
    x ^= x >> 30
    x = x * 0xBF58476D1CE4E5B9 & MASK
    x ^= x >> 27
    x = x * 0x94D049BB133111EB & MASK
    return x ^ (x >> 31)


def state_hash(entries: list[Entry]) -> bytes:
    """The additive state hash of a list of entries (docs/hitlist.md "Hash chain and state hash")."""
    lanes = [0, 0, 0, 0]
    for fp, reason, ref in entries:
        h = int.from_bytes(hashlib.blake2b(reason.encode(), digest_size=8, person=b"sharaka-reason").digest(),
                           "little")
        padded = ref.ljust(-(-len(ref) // 8) * 8, b"\0")
        for c in range(len(padded) // 8):
            word = int.from_bytes(padded[8 * c: 8 * c + 8], "little")
            if word:
                h = h + _mix(word ^ ((c + 1) * SALTS[0] & MASK)) & MASK
        base = _mix(fp ^ _mix(h))
        lanes = [(lane + _mix(base + salt & MASK)) & MASK for lane, salt in zip(lanes, SALTS, strict=True)]
    raw = len(entries).to_bytes(8, "little") + b"".join(v.to_bytes(8, "little") for v in lanes)
    return hashlib.blake2b(raw, digest_size=32, person=b"sharaka-state").digest()


def chain(list_id: str, epoch: int, version: int, state: bytes, prev: bytes) -> bytes:
    """``chain(N)``: BLAKE2b-256 personalised ``sharaka-chain`` of msgpack [list_id, epoch, N, state, prev]."""
    record = msgpack.packb([list_id, epoch, version, state, prev], use_bin_type=True)
    return hashlib.blake2b(record, digest_size=32, person=b"sharaka-chain").digest()


def body_of(entries: list[Entry], width: int, removes: tuple[int, ...] | list[int] = ()) -> bytes:
    """Sections in order: fp (u64 LE), reason (u8 index), ref (NUL-padded to ``width``), removes (u64 LE)."""
    reasons = sorted({r for _, r, _ in entries})
    return (b"".join(fp.to_bytes(8, "little") for fp, _, _ in entries)
            + bytes(reasons.index(r) for _, r, _ in entries)
            + b"".join(ref.ljust(width, b"\0") for _, _, ref in entries)
            + b"".join(fp.to_bytes(8, "little") for fp in removes))


@dataclass
class FpKeys:
    doc: bytes = field(default_factory=lambda: os.urandom(32))
    person: bytes = field(default_factory=lambda: os.urandom(32))
    person_cost: int = 150

    def wire(self) -> dict[str, Any]:
        return {"doc": self.doc, "person": self.person, "person_cost": self.person_cost}


@dataclass
class Built:
    """One list version as the peer signed it."""

    version: int
    entries: list[Entry]
    state: bytes
    chain: bytes
    files: dict[str, bytes] = field(default_factory=dict)  # name -> file; "snapshot-N", "delta-B-N"


# ---------------------------------------------------------------------- the centre
@dataclass
class PeerCentre:
    """A central node driven by hand, from the documents only."""

    host: str
    port: int
    username: str
    password: str
    node: SigningKey = field(default_factory=SigningKey.generate)
    root: SigningKey = field(default_factory=SigningKey.generate)
    list_key: SigningKey = field(default_factory=SigningKey.generate)
    alert_key: SigningKey = field(default_factory=SigningKey.generate)
    command_keys: tuple[SigningKey, ...] = field(default_factory=lambda: (SigningKey.generate(), SigningKey.generate()))
    fp_keys: FpKeys = field(default_factory=FpKeys)
    lists: dict[str, list[Entry]] = field(default_factory=dict)
    person_lists: set[str] = field(default_factory=set)  # the lists that hold persons (signed as ``persons``)
    built: dict[str, list[Built]] = field(default_factory=dict)
    online: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)  # (state, number) -> listing
    devices: dict[str, bytes] = field(default_factory=dict)  # gate id -> device public key (enrolment)
    received: list[tuple[str, str, bytes]] = field(default_factory=list)  # (gate, leaf, payload)
    served: list[str] = field(default_factory=list)  # names of the files whose chunks were sent
    cmd_seq: dict[str, int] = field(default_factory=dict)
    correlate: bool = True  # echo a query's Correlation Data in its reply
    client: mqtt.Client | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        now = time.time()
        grants = [{"pub": bytes(self.list_key.verify_key), "roles": ["list"]},
                  {"pub": bytes(self.alert_key.verify_key), "roles": ["alert"]}]
        grants += [{"pub": bytes(k.verify_key), "roles": ["command"], "holder": f"holder-{i}"}
                   for i, k in enumerate(self.command_keys)]
        self.keyring = frame("keyring", {
            "version": 1, "root_keys": [bytes(self.root.verify_key)], "threshold": 1, "epoch": 0, "revoked": [],
            "keys": [{**g, "not_before": now - 3600, "not_after": now + 86400} for g in grants]}, [self.root])

    # ------------------------------------------------------------------ lists
    def add_person(self, list_id: str, surname: str, given_names: str, birth_date: str, reason: str,
                   ref: bytes) -> list[Entry]:
        """A wanted person listed under every record key of the name (docs/names.md "Key text"), one entry each."""
        keys = self.fp_keys
        entries = [(person_fp(keys.person, keys.person_cost, k, birth_date), reason, ref)
                   for k in peernames.record_keys(surname, given_names)]
        listed = {fp for fp, _, _ in self.lists.setdefault(list_id, [])}
        self.lists[list_id] += [e for e in dict.fromkeys(entries) if e[0] not in listed]
        self.person_lists.add(list_id)
        return entries

    def build(self, list_id: str, version: int, expires_in: float = 86400) -> Built:
        """A snapshot of ``self.lists[list_id]`` as version ``version``, and a delta from the previous one."""
        entries = sorted(self.lists[list_id])
        width = max(8, -(-max((len(r) for _, _, r in entries), default=0) // 8) * 8)
        previous = self.built.setdefault(list_id, [])[-1:] or None
        prev_hash = previous[0].chain if previous else bytes(32)
        state = state_hash(entries)
        common = {"list_id": list_id, "epoch": 0, "version": version, "prev_hash": prev_hash, "created": time.time(),
                  "expires": time.time() + expires_in, "count": len(entries), "key_id": list_key_id(
                      bytes(self.list_key.verify_key)), "name_key_version": peernames.VERSION,
                  "fp_keys": self.fp_keys.wire(), "state_hash": state, "persons": list_id in self.person_lists}
        out = Built(version, entries, state, chain(list_id, 0, version, state, prev_hash))
        body = body_of(entries, width)
        out.files[f"snapshot-{version}"] = frame("snapshot", {
            **common, "base_version": previous[0].version if previous else 0, "base_state_hash": bytes(32),
            "base_chain": bytes(32), "adds": 0, "removes": 0, "reasons": sorted({r for _, r, _ in entries}),
            "ref_width": width, "content_hash": hashlib.blake2b(body, digest_size=32).digest()},
            [self.list_key], body, self.keyring)
        if previous:
            old = previous[0]
            adds = [e for e in entries if e not in old.entries]
            removes = sorted(fp for fp, _, _ in old.entries if fp not in {e[0] for e in entries})
            body = body_of(adds, width, removes)
            out.files[f"delta-{old.version}-{version}"] = frame("delta", {
                **common, "base_version": old.version, "base_state_hash": old.state, "base_chain": old.chain,
                "adds": len(adds), "removes": len(removes), "reasons": sorted({r for _, r, _ in adds}),
                "ref_width": width, "content_hash": hashlib.blake2b(body, digest_size=32).digest()},
                [self.list_key], body, self.keyring)
        self.built[list_id].append(out)
        return out

    def head(self, list_id: str, *, lifetime: float = 600, issued: float | None = None) -> bytes:
        """A signed head naming the newest built version; published retained, expiring with the head."""
        b = self.built[list_id][-1]
        issued = time.time() if issued is None else issued
        wire = frame("head", {"list_id": list_id, "epoch": 0, "version": b.version, "state_hash": b.state,
                              "issued": issued, "expires": issued + lifetime, "keyring": 1}, [self.list_key])
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = int(lifetime)
        self._publish(f"{ROOT}/hitlists/{list_id}/head", wire, retain=True, properties=props)
        return wire

    def publish_list(self, list_id: str, version: int) -> Built:
        built = self.build(list_id, version)
        self.head(list_id)
        return built

    def _file_for(self, req: dict[str, Any]) -> tuple[str, int, bytes] | None:
        """What answers a ``hitlist_req``: the named file, the keyring after ``have``, or the delta from ``have``
        (else the newest snapshot) when the newest version is above ``have``."""
        if req.get("want") == "keyring":
            return ("keyring-1", 1, self.keyring) if req["have"] == 0 else None
        versions = self.built.get(req["list_id"], [])
        if not versions or (versions[-1].version <= req["have"] and req.get("want") != "snapshot"):
            return None
        newest = versions[-1]
        names = [f"delta-{req['have']}-{newest.version}"] if req.get("want") != "snapshot" else []
        for name in ([req["name"]] if req.get("name") else names + [f"snapshot-{newest.version}"]):
            for b in versions:
                if name in b.files:
                    return name, b.version, b.files[name]
        return None

    def _answer_request(self, gate: str, req: dict[str, Any]) -> None:
        body: dict[str, Any] = {"v": 1, "t": "hitlist_chunk", "id": uuid.uuid4().hex, "ts": time.time(),
                                "gate": gate, "req": req["id"], "list_id": req["list_id"], "name": "", "offset": 0,
                                "total": 0, "data": b""}
        found = self._file_for(req)
        if found is None:
            body["error"] = "nothing newer"
        else:
            name, version, blob = found
            off = req["offset"]
            body.update(name=name, version=version, offset=off, total=len(blob), data=blob[off: off + CHUNK])
            self.served.append(name)
        self._publish(gate_topic(gate, "hitlist/chunk"), envelope("hitlist_chunk", body, self.node))

    # ------------------------------------------------------------------ commands, alerts
    def command(self, gate: str, op: str, args: dict[str, Any], *, signers: tuple[SigningKey, ...] | None = None,
                issued: float | None = None, lifetime: float = 300, seq: int | None = None) -> tuple[str, bytes]:
        """Sign and send a command; returns (its id, its wire bytes, to replay)."""
        issued = time.time() if issued is None else issued
        if seq is None:
            seq = self.cmd_seq[gate] = self.cmd_seq.get(gate, 0) + 1
        cmd_id = uuid.uuid4().hex
        body = {"v": 1, "t": "cmd", "id": cmd_id, "ts": time.time(), "gate": gate, "seq": seq, "op": op,
                "args": args, "issued": issued, "not_after": issued + lifetime, "nonce": os.urandom(16)}
        wire = envelope("cmd", body, *(signers or self.command_keys[:1]))
        self._publish(gate_topic(gate, "cmd"), wire)
        return cmd_id, wire

    def results(self, gate: str, device_pub: bytes) -> list[dict[str, Any]]:
        """Every ``cmd_result`` from ``gate``, verified under its device key."""
        with self._cond:
            wires = [p for g, leaf, p in self.received if (g, leaf) == (gate, "cmd/result")]
        return [open_envelope("cmd_result", w, VerifyKey(device_pub)) for w in wires]

    def alert(self, listings: list[dict[str, Any]], *, notice: str = "urgent", ttl: int = 3600) -> str:
        """An early warning to every gate, its listings keyed with the alert's own fingerprint keys."""
        alert_id, now = uuid.uuid4().hex, time.time()
        body = {"v": 1, "t": "alert", "id": alert_id, "ts": now, "issued": now, "expires": now + ttl,
                "severity": "urgent", "notice": notice, "target": "all", "sites": [], "gates": [],
                "keys": self.fp_keys.wire(), "listings": listings}
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = ttl
        self._publish(f"{ROOT}/alerts/{alert_id}", envelope("alert", body, self.alert_key), retain=True,
                      properties=props)
        return alert_id

    # ------------------------------------------------------------------ online query
    def _answer_query(self, gate: str, body: dict[str, Any], props: Any) -> None:
        asked = msgpack.unpackb(SealedBox(self.node.to_curve25519_private_key()).decrypt(body["sealed"]), raw=False)
        found = self.online.get(tuple(asked.get("document") or ()))  # type: ignore[arg-type]
        reply: dict[str, Any] = {"v": 1, "t": "query_reply", "id": uuid.uuid4().hex, "ts": time.time(), "gate": gate,
                                 "req": body["id"], "hit": found is not None, "lists": [{"list_id": "online",
                                                                                        "version": 1}]}
        if found is not None:
            reply.update(kind="document", reason=found[0], ref=found[1], strength="exact", list_id=found[2])
        out = Properties(PacketTypes.PUBLISH)
        if self.correlate:
            out.CorrelationData = props.CorrelationData
        self._publish(props.ResponseTopic, envelope("query_reply", reply, self.node), qos=0, properties=out)

    # ------------------------------------------------------------------ MQTT
    def connect(self, timeout: float = 5.0) -> None:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.username, protocol=mqtt.MQTTv5)
        c.username_pw_set(self.username, self.password)
        ready = threading.Event()
        c.on_connect = lambda *_a: ready.set()
        c.on_message = self._on_message
        c.connect(self.host, self.port, keepalive=30, clean_start=True)
        c.loop_start()
        self.client = c
        if not ready.wait(timeout):
            raise TimeoutError("peer centre: no CONNACK")
        c.subscribe([(f"{ROOT}/gates/+/{leaf}", 1) for leaf in ("hitlist/req", "query", "cmd/result", "status",
                                                                 "event", "hit")])

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    def _publish(self, topic: str, wire: bytes, *, qos: int = 1, retain: bool = False,
                 properties: Properties | None = None) -> None:
        assert self.client is not None
        self.client.publish(topic, wire, qos=qos, retain=retain, properties=properties)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        gate, leaf = msg.topic.removeprefix(f"{ROOT}/gates/").split("/", 1)
        wire = bytes(msg.payload)
        with self._cond:
            self.received.append((gate, leaf, wire))
            self._cond.notify_all()
        if leaf not in ("hitlist/req", "query"):
            return
        # verified under the gate's enrolled device key, as the type its topic names
        body = open_envelope(leaf.replace("/", "_"), wire, VerifyKey(self.devices[gate]))
        if leaf == "hitlist/req":
            self._answer_request(gate, body)
        else:
            self._answer_query(gate, body, msg.properties)

    def wait_for(self, pred: Any, timeout: float) -> bool:
        return wait_on(self._cond, pred, timeout)
