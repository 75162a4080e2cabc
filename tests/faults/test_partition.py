"""A network partition between a gate and the broker, made by the kernel: the real gate process runs in its
own network namespace behind a veth pair, and an nftables table in that namespace drops every packet. It
decides as with the link up, nothing is lost or duplicated at the centre, the gate's status shows the link
down and the backlog, the centre shows the gate offline (its last will) during the partition and online
again after, and the backlog arrives when the link returns."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.link import make_central
from tests.support.netproxy import NetProxy
from tests.support.screening_gate import ScreeningGate, assert_each_decision_stored_once
from tests.support.wait import wait_until

NFT = "/usr/sbin/nft"


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20)


class Namespace:
    """A network namespace joined to this one by a veth pair: 10.231.N.1 here, 10.231.N.2 inside."""

    def __init__(self) -> None:
        n = os.getpid() % 250 + 1
        self.name, self.veth = f"sgfault{os.getpid()}", f"sgv{os.getpid() % 100000}"
        self.host, self.inside = f"10.231.{n}.1", f"10.231.{n}.2"
        try:
            _run("ip", "netns", "add", self.name)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"network namespaces unavailable here: {exc}")
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        _run("ip", "addr", "add", f"{self.host}/30", "dev", self.veth)
        _run("ip", "link", "set", self.veth, "up")
        for cmd in (("ip", "addr", "add", f"{self.inside}/30", "dev", "eth0"), ("ip", "link", "set", "eth0", "up"),
                    ("ip", "link", "set", "lo", "up")):
            _run("ip", "netns", "exec", self.name, *cmd)

    def partition(self) -> None:
        """Drop every packet in and out of the namespace (the link's cable cut, silently)."""
        rules = ("table inet sgpart {\n chain in { type filter hook input priority 0; policy drop; }\n"
                 " chain out { type filter hook output priority 0; policy drop; }\n}\n")
        subprocess.run(["ip", "netns", "exec", self.name, NFT, "-f", "-"], input=rules, check=True,
                       capture_output=True, text=True, timeout=20)

    def heal(self) -> None:
        _run("ip", "netns", "exec", self.name, NFT, "delete table inet sgpart")

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=20)


def test_partition_by_nftables_in_a_network_namespace_loses_nothing_and_shows_the_gate_offline(mq, keys, tmp_path):
    if not Path(NFT).exists():
        pytest.skip("nftables missing: ./tools/dev installs it")
    ns = Namespace()
    proxy = None
    gate = None
    central = make_central(mq, tmp_path / "central.db", keys)
    try:
        proxy = NetProxy(mq.port, listen_host=ns.host).start()  # the broker, reachable on the veth address
        gate = ScreeningGate(tmp_path / "gate", mq, keys, central.store, host=ns.host, port=proxy.port,
                             prefix=["ip", "netns", "exec", ns.name])
        gate.start()
        gate.screen(5)
        assert_each_decision_stored_once(central.store, gate)
        assert wait_until(lambda: _online(central), 10)
        stored = central.store.count_events()
        ns.partition()
        gate.screen(15)  # decided as with the link up
        # the broker notices the silent gate after 1.5 x keepalive and publishes its will: shown at the centre
        assert wait_until(lambda: not _online(central), 20), "the centre still shows the partitioned gate online"
        # the gate notices within 2 x keepalive: its own status shows the link down and the backlog
        assert wait_until(lambda: gate.status()["link"]["connected"] is False, 15), gate.status()["link"]
        assert gate.status()["outbox"]["depth"] >= 15
        assert central.store.count_events() == stored, "events crossed a partition that drops every packet"
        ns.heal()
        assert_each_decision_stored_once(central.store, gate)  # none lost, none twice, no gap
        assert wait_until(lambda: _online(central), 15)
        assert wait_until(lambda: gate.status()["link"]["connected"], 15)
    finally:
        if gate is not None:
            gate.close()
        if proxy is not None:
            proxy.close()
        central.stop()
        ns.close()


def _online(central) -> bool:
    return any(g["gate_id"] == "gate-a" and g["online"] for g in central.store.gates())
