"""The steps of ``sharaka-gate provision`` (docs/provisioning.md "What provision does"), in order:

1. check every input (gate id, site, device URLs, policy) before anything is written;
2. reach the broker (a TCP connection): when it is unreachable nothing is written at all;
3. make the identity on the gate: the Ed25519 device key, the TLS key and its certificate request;
4. enrol over MQTT with the one-time token (agent.provision.enrolment);
5. install what the centre granted (CA, certificate, node and command keys), pin the root, write the
   config; the provisioning record last, so a gate is "enrolled" only when everything is on disk.

On the appliance (``firewall``) its own firewall lets the enrolment listener out before step 2 and is refreshed
from the config once it is written (agent/provision/firewall.py).

Each step reports ``done`` (it changed something), ``kept`` (already so: nothing changed) or ``would``
(``--dry-run``). A re-run finds the record and keeps everything; it changes the config only when asked
(``rewrite_config``). Enrolling again with the same device key and token (a gate that lost power after
the centre answered) gets the same answer from the centre and no second registration (RELIABILITY 37).
"""

from __future__ import annotations

import logging
import os
import pwd
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import keys as keyfiles
from agent.config import Config, parse_config
from agent.durable import atomic_write
from agent.errors import UsageError
from agent.gate_toml import gate_toml, write_config_file
from agent.protocol import ids
from agent.provision import broker, x509
from agent.provision.enrolment import Grant, Reply, build_request, open_reply
from agent.provision.files import GateFiles
from agent.provision.firewall import ApplianceFirewall, FirewallError
from agent.provision.token import Token

logger = logging.getLogger(__name__)

AGENT_USER = "sharaka"  # the agent's system user on the appliance (images/, sysusers)


@dataclass
class Step:
    """One step's outcome: ``done``, ``kept``, ``would`` or ``failed``, and what it was about."""

    step: str
    status: str
    detail: str


@dataclass
class Inputs:
    """What the technician (or the bundle) gives. ``root_pub`` or ``root_fp`` pins the root; ``token`` is
    needed only until the gate is enrolled."""

    config: Path
    state: Path
    gate_id: str
    site: str
    broker: broker.Endpoint
    token: Token | None = None
    root_pub: bytes | None = None
    root_fp: str = ""
    enrol_ca: Path | None = None
    devices: dict[str, str] = field(default_factory=dict)
    screening: dict[str, Any] = field(default_factory=dict)
    list_id: str | None = None
    timeout: float = 20.0


class Provisioner:
    """Runs the steps for ``inputs``; ``steps`` lists what each did. ``dry_run``: read only, nothing sent."""

    def __init__(self, inputs: Inputs, *, dry_run: bool = False, rewrite_config: bool = False,
                 clock: Callable[[], float] = time.time, firewall: ApplianceFirewall | None = None) -> None:
        self.inputs, self.dry_run, self.rewrite_config, self._clock = inputs, dry_run, rewrite_config, clock
        self.firewall = firewall  # the appliance's, when its ruleset is loaded (agent/provision/firewall.py)
        self.files = GateFiles(inputs.state)
        self.steps: list[Step] = []
        self.reply: Reply | None = None
        self.grant: Grant | None = None

    def _note(self, step: str, status: str, detail: str) -> None:
        self.steps.append(Step(step, status, detail))
        logger.info("provision step", extra={"fields": {"step": step, "status": status}})

    # ---------------------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any] | None:
        """Every step in order; returns the provisioning record (None on a dry run of a new gate). Raises the
        step's error: UsageError/ConfigError (bad input, nothing written), LinkProblem (broker unreachable,
        nothing written), EnrolmentRefused (the centre refused; only the identity is on disk)."""
        self.check_inputs()
        record = self.files.read_record()
        if record is not None:
            return self._rerun(record)
        if self.inputs.token is None:
            raise UsageError("this gate is not enrolled yet: give the enrolment token (--token) the centre issued")
        if self.dry_run:
            for step in ("broker", "identity", "enrol", "install", "config"):
                self._note(step, "would", f"{step}: not done (dry run: nothing written, nothing sent)")
            return None
        self.open_firewall(lambda fw: f"MQTT let out to {', '.join(fw.let_out(self.inputs.broker.host))} "
                                      "for the enrolment")
        self.reach_broker()
        device_key = self.identity()
        self.reply = self.enrol(device_key)
        self.grant = self.reply.grant
        self.install(self.reply.grant)
        self.write_config(self.reply.grant)
        self.hand_over()
        record = {"gate": self.inputs.gate_id, "site": self.inputs.site, "token": self.inputs.token.token_id,
                  "enrolled_at": self._clock(), "device_key_id": keyfiles.message_key_id(device_key.verify_key).hex(),
                  "root_fingerprint": keyfiles.root_fingerprint(self.reply.grant.root_pub),
                  "broker": str(self.production_endpoint(self.reply.grant)), "list_id": self.reply.grant.list_id,
                  "config": str(self.inputs.config), "centre_time": self.reply.ts}
        self.files.write_record(record)
        self._note("record", "done", f"provisioning record written ({self.files.record})")
        self.refresh_firewall()
        return record

    def _rerun(self, record: dict[str, Any]) -> dict[str, Any]:
        """The gate is enrolled: show what is done; nothing changes but the config when asked."""
        if record.get("gate") != self.inputs.gate_id:
            raise UsageError(f"this gate is already provisioned as {record.get('gate')!r}, not "
                             f"{self.inputs.gate_id!r}: to make it another gate, decommission it first "
                             "(sharaka-gate provision --wipe)")
        key = keyfiles.load_signing_key(self.files.device_key)
        self._note("identity", "kept", f"device key {keyfiles.message_key_id(key.verify_key).hex()} "
                                       f"({self.files.device_key}, 0600)")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.get("enrolled_at", 0)))
        used = f" (token {record.get('token')})"
        if self.inputs.token is not None and self.inputs.token.token_id != record.get("token"):
            used += f"; the token given now ({self.inputs.token.token_id}) was not used"
        self._note("enrol", "kept", f"enrolled at {when}{used}")
        self._note("install", "kept", f"root fingerprint {record.get('root_fingerprint')}, CA and certificate in "
                                      f"{self.files.tls}")
        pinned = keyfiles.read_public_key(self.files.hitlist / keyfiles.ROOT_PUB)
        self._check_root(pinned)
        grant = Grant(pinned, keyfiles.read_public_key(self.files.node_pub), (), b"", b"",
                      *_split_endpoint(record.get("broker", "")), record.get("list_id", ""))
        self.grant = grant
        self.write_config(grant)
        self.refresh_firewall()
        return record

    def _check_root(self, root: bytes) -> None:
        """A re-run with a root pin that differs from what is pinned is refused (nothing changes)."""
        i = self.inputs
        if (i.root_pub is not None and i.root_pub != root) or (i.root_fp and keyfiles.root_fingerprint(root) != i.root_fp):
            raise keyfiles.RootPinConflict(f"this gate is pinned to root {keyfiles.root_fingerprint(root)}, not the one "
                                           "given now: to change the trust root, decommission the gate and provision "
                                           "it again")

    def open_firewall(self, change: Callable[[ApplianceFirewall], str]) -> None:
        """On the appliance (``firewall``), ``change`` its firewall and note what it did, or what to run by hand."""
        if self.firewall is None:
            return
        if self.dry_run:
            self._note("firewall", "would", "the gate's own firewall: not changed (dry run)")
            return
        try:
            self._note("firewall", "done", change(self.firewall))
        except FirewallError as exc:
            self._note("firewall", "failed", f"the gate's own firewall: {exc}")

    def refresh_firewall(self) -> None:
        """The broker the config names let out, before the checklist connects to it and the agent starts."""
        self.open_firewall(ApplianceFirewall.refresh)

    # ---------------------------------------------------------------------------------------- steps
    def check_inputs(self) -> None:
        """Validate the gate id, site, device URLs and policy with the config's own rules. Raises ConfigError."""
        i = self.inputs
        ids.check_gate_id(i.gate_id)
        ids.check_id(i.site, "site")
        if i.root_pub is None and not i.root_fp and self.files.read_record() is None:
            raise UsageError("no root key to pin: give --root-pub FILE or --root-fingerprint (read out by the centre)")
        if not i.devices.get("indicators"):
            raise UsageError("no indicator board: give --indicators URL (e.g. i2c://1/0x40?chip=pca9685)")
        if not i.devices.get("reader") and not i.devices.get("camera"):
            raise UsageError("no document reader: give --reader URL (e.g. serial:///dev/serial/by-id/…), or --camera "
                             "URL for a camera gate")
        parse_config(tomllib.loads(gate_toml(**self._base_kwargs())), i.config)

    def reach_broker(self) -> None:
        """A TCP connection (and TLS handshake) to the enrolment listener; LinkProblem before anything is
        written."""
        ep = self.inputs.broker
        try:
            broker.reach(ep, ca=self.inputs.enrol_ca, timeout=min(self.inputs.timeout, 10.0))
        except broker.LinkProblem as exc:
            shut = "".join(f" ({s.detail})" for s in self.steps if s.step == "firewall" and s.status == "failed")
            exc.args = (f"{exc}; nothing was written{shut}",)
            raise
        self._note("broker", "done", f"{ep} reachable" + (", certificate from the given CA" if self.inputs.enrol_ca
                                                          else ""))

    def identity(self) -> keyfiles.SigningKey:
        """The device key and the TLS key with its request: made when absent, kept when present (0600)."""
        f = self.files
        f.state.mkdir(parents=True, exist_ok=True, mode=0o750)
        if f.device_key.exists():
            key = keyfiles.load_signing_key(f.device_key)
            status = "kept"
        else:
            key = keyfiles.generate(f.device_key, exclusive=True)
            status = "done"
        self._note("identity", status, f"device key {keyfiles.message_key_id(key.verify_key).hex()} "
                                       f"({f.device_key}, 0600, never leaves the gate)")
        if f.tls_key.exists() and f.csr.exists() and x509.csr_matches_key(f.csr, f.tls_key):
            self._note("tls_key", "kept", f"TLS key and certificate request ({f.tls})")
        else:
            f.tls.mkdir(parents=True, exist_ok=True, mode=0o750)
            x509.new_key_and_csr(f.tls, self.inputs.gate_id, name="client")
            self._note("tls_key", "done", f"TLS key made on the gate and its certificate request ({f.tls})")
        return key

    def enrol(self, device_key: keyfiles.SigningKey) -> Reply:
        """One request with the token, the reply judged by agent.provision.enrolment.open_reply."""
        i = self.inputs
        if i.token is None:
            raise UsageError("no enrolment token: give --token")
        root_fp = i.root_fp or (keyfiles.root_fingerprint(i.root_pub) if i.root_pub else "")
        req_id, wire = build_request(i.token, device_key, i.gate_id, i.site, self.files.csr.read_bytes(), root_fp,
                                     self._clock())
        reply: Reply = broker.exchange(
            i.broker, i.token.client_id, wire,
            lambda w: open_reply(w, i.token, req_id, root_pub=i.root_pub, root_fp=i.root_fp),  # type: ignore[arg-type]
            ca=i.enrol_ca, timeout=i.timeout)
        self._note("enrol", "done", f"enrolled by the centre with token {i.token.token_id}; root fingerprint "
                                    f"{keyfiles.root_fingerprint(reply.grant.root_pub)}")
        return reply

    def install(self, grant: Grant) -> None:
        """The CA, the signed certificate, the centre's keys and the root pin, each written durably."""
        f = self.files
        atomic_write(f.ca, grant.ca_cert, mode=0o644)
        atomic_write(f.cert, grant.cert, mode=0o644)
        f.keys.mkdir(parents=True, exist_ok=True, mode=0o755)
        atomic_write(f.node_pub, keyfiles.encode_key(grant.node_pub, "hex"), mode=0o644)
        for n, pub in enumerate(grant.command_pubs, 1):
            atomic_write(f.command_pub(n), keyfiles.encode_key(pub, "hex"), mode=0o644)
        keyfiles.pin_root(f.hitlist, grant.root_pub)
        self._note("install", "done", f"broker CA, gate certificate (CN={self.inputs.gate_id}), centre keys and root "
                                      f"{keyfiles.root_fingerprint(grant.root_pub)} pinned")

    def hand_over(self, user: str = AGENT_USER) -> None:
        """On the appliance (run as root, the agent's user exists) the state becomes the agent's and the config
        root's, readable by the agent's group, as the image's first boot leaves them (docs/image.md)."""
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            return
        if os.geteuid() != 0:
            return
        for p in [self.files.state, *self.files.state.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
        if self.inputs.config.exists():
            os.chown(self.inputs.config, 0, pw.pw_gid)
            os.chmod(self.inputs.config, 0o640)
        self._note("owner", "done", f"state owned by {user}, config root:{user} 0640")

    def production_endpoint(self, grant: Grant) -> broker.Endpoint:
        """Where the gate connects once enrolled: the centre's choice, else the enrolment host."""
        return broker.Endpoint(grant.broker_host or self.inputs.broker.host, grant.broker_port or 8883, True)

    def config_text(self, grant: Grant) -> str:
        """The gate.toml this provisioning writes."""
        return gate_toml(**self.config_kwargs(grant))

    def config_kwargs(self, grant: Grant) -> dict[str, Any]:
        """The arguments of the one config writer (agent.gate_toml) for this gate."""
        i, f = self.inputs, self.files
        ep = self.production_endpoint(grant)
        list_id = i.list_id or grant.list_id
        link: dict[str, Any] = {"enabled": True, "host": ep.host, "port": ep.port, "ca_file": str(f.ca),
                                "cert_file": str(f.cert), "key_file": str(f.tls_key), "node_pub": str(f.node_pub)}
        pubs = sorted(f.keys.glob("command-*.pub")) if f.keys.exists() else []
        if pubs:
            link["command_pubs"] = [str(p) for p in pubs]
        hitlist: dict[str, Any] = {"store_dir": str(f.hitlist)}
        if list_id:
            hitlist["list_id"] = list_id
        return {**self._base_kwargs(), "hitlist": hitlist, "link": link}

    def _base_kwargs(self) -> dict[str, Any]:
        i = self.inputs
        devices = dict(i.devices)
        return {"gate_id": i.gate_id, "site": i.site, "state_dir": str(self.files.state),
                "reader": devices.pop("reader", ""), "indicators": devices.pop("indicators", ""), "devices": devices,
                "screening": i.screening}

    def write_config(self, grant: Grant) -> Config:
        """Write the config (checked by the loader first); an existing different one only with rewrite_config."""
        path, text = self.inputs.config, self.config_text(grant)
        parse_config(tomllib.loads(text), path)  # the loader is the judge, before anything is replaced
        try:
            current = path.read_text()
        except FileNotFoundError:
            current = None
        if current == text:
            self._note("config", "kept", f"{path} unchanged")
        elif current is not None and not self.rewrite_config:
            self._note("config", "kept", f"{path} differs from what provision would write "
                                         f"({_differences(current, text)}); run again with --rewrite-config to replace it")
        elif self.dry_run:
            self._note("config", "would", f"{path} would be written")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_config_file(path, **self.config_kwargs(grant))
            self._note("config", "done", f"{path} written")
        return parse_config(tomllib.loads(text), path)


def _differences(old: str, new: str) -> str:
    """Which ``[section] key``s differ between two config texts, for a person."""
    try:
        a, b = tomllib.loads(old), tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        return "the file is not valid TOML"
    keys = sorted({(s, k) for d in (a, b) for s, t in d.items() if isinstance(t, Mapping) for k in t}
                  | {(s, "") for d in (a, b) for s, t in d.items() if not isinstance(t, Mapping)})
    diff = [f"[{s}] {k}".strip() for s, k in keys if a.get(s, {}).get(k) != b.get(s, {}).get(k)]
    return ", ".join(diff[:8]) + (" …" if len(diff) > 8 else "") or "formatting only"


def _split_endpoint(url: str) -> tuple[str, int]:
    try:
        ep = broker.Endpoint.parse(url)
    except UsageError:
        return "", 0
    return ep.host, ep.port


