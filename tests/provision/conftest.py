"""A site for provisioning tests: a real Mosquitto with the gates' TLS listener and the enrolment listener,
the reference central node answering enrolment requests and serving a signed list built with the real
`sharaka-hitlist`, and a helper that runs `sharaka-gate provision` as a technician would."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main as gate_cli
from agent.keys import root_fingerprint
from agent.provision.token import Token, format_token
from tests.support.broker import Broker, Pki, shipped_broker
from tests.support.link import Keys, make_central
from tests.support.lists import DOCS, Lists
from tools.central.enrolment import EnrolmentConfig, EnrolmentDesk, issue_token
from tools.central.hitlists import HitListServer
from tools.central.node import CentralNode

GATE, SITE = "gate-7", "port-a"


@dataclass
class Run:
    """One `sharaka-gate provision` run: exit code, stdout, stderr, and stdout parsed when it was --json."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


@dataclass
class Site:
    broker: Broker
    node: CentralNode
    lists: Lists
    keys: Keys
    pki: Pki
    tmp: Path
    clock_offset: float = 0.0
    runs: list[Run] = field(default_factory=list)

    @property
    def store(self):
        return self.node.store

    @property
    def fingerprint(self) -> str:
        return root_fingerprint(self.lists.root_pub)

    def token(self, gate: str = GATE, site: str = SITE, ttl: float = 3600.0, replace: str | None = None) -> str:
        return format_token(issue_token(self.store, gate, site, ttl=ttl, now=time.time(), replace_reason=replace))

    def gate_dir(self, name: str = "gate") -> Path:
        return self.tmp / name

    def provision(self, *extra: str, token: str | None = None, gate_dir: str = "gate", gate: str = GATE,
                  fingerprint: str | None = None, broker: str | None = None, as_json: bool = True) -> Run:
        d = self.gate_dir(gate_dir)
        args = ["provision", "--config", str(d / "etc" / "gate.toml"), "--state-dir", str(d / "state"),
                "--gate", gate, "--site", SITE, "--yes", "--list-timeout", "30", "--timeout", "15",
                "--broker", broker or f"mqtts://{self.broker.host}:{self.broker.enrol_port}",
                "--reader", "sim://reader?framing=lines", "--indicators", "sim://pca9685"]
        if token is not None:
            args += ["--token", token]
        if fingerprint is not False:
            args += ["--root-fingerprint", fingerprint or self.fingerprint]
        if as_json:
            args.append("--json")
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = gate_cli([*args, *extra])
        run = Run(code, out.getvalue(), err.getvalue())
        self.runs.append(run)
        return run


def token_id(text: str) -> str:
    from agent.provision.token import parse_token

    token: Token = parse_token(text)
    return token.token_id


@contextlib.contextmanager
def running_site(tmp_path: Path, pki: Pki, broker: Broker) -> Iterator[Site]:
    """The reference centre and lists around a running ``broker`` (its TLS and enrolment listeners)."""
    lists = Lists(tmp_path / "hl")
    keys = Keys()
    node = make_central(broker, tmp_path / "central.db", keys)
    node.hitlists = HitListServer(lists.lists, keyrings=lists.keyrings)
    s = Site(broker, node, lists, keys, pki, tmp_path)
    node.enrolment = EnrolmentDesk(
        node.store, keys.node,
        EnrolmentConfig(ca=pki.ca, root_pub=lists.root_pub, command_pubs=tuple(bytes(k.verify_key) for k in keys.commands),
                        broker_host=broker.host, broker_port=broker.tls_port or 0, list_id="sltd"),
        clock=lambda: time.time() + s.clock_offset)
    lists.head(lists.snapshot(1, DOCS[:50]))
    node.poll_hitlists()
    try:
        yield s
    finally:
        node.stop()


@pytest.fixture
def site(tmp_path: Path, pki: Pki) -> Iterator[Site]:
    broker = Broker(tmp_path / "broker", tls=pki, enrol=True)
    broker.start()
    try:
        with running_site(tmp_path, pki, broker) as s:
            yield s
    finally:
        broker.stop()


@pytest.fixture
def shipped_site(tmp_path: Path, pki: Pki) -> Iterator[Site]:
    """The site with Mosquitto on the production configuration as shipped (images/mosquitto/)."""
    with shipped_broker(tmp_path / "broker", pki) as broker, running_site(tmp_path, pki, broker) as s:
        yield s
