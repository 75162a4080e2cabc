"""What an operator sees of the fleet on the console, against the real central node and real gate links over a
real Mosquitto (docs/central.md "Operators' console"): a gate that vanishes, a gate's faults as its signed
status reports them, and that each clears."""

from __future__ import annotations

import time

from agent import __version__
from agent.hitlist.store import HitListStore
from tests.support.console import PASSWORD, VIEWER, running_console
from tests.support.hitlist_central import Central, doc
from tests.support.link import Keys, make_central, make_gate
from tests.support.netproxy import NetProxy
from tests.support.wait import wait_until
from tests.support.webclient import Client


def _row(page: str, gate: str) -> str:
    start = page.index(f'data-gate="{gate}"')
    return page[start:page.index("</tr>", start)]


def test_a_gate_gone_by_its_last_will_keeps_its_last_reported_lists_faults_and_backlog(broker, tmp_path):
    """The broker publishes the gate's last will (state offline, nothing else: it is signed at connect): the
    Gates page shows the gate offline with what it last reported (its list and version, its reader fault, its
    backlog, its agent version), and the Lists page still counts it on its version, so a gate stuck on an old
    list is not hidden by going offline. Before the fix the will replaced the stored status and all of it
    vanished."""
    keys, proxy = Keys(), NetProxy(broker.port).start()
    central = make_central(broker, tmp_path / "central.db", keys)
    lists, now = Central(now=time.time()), time.time()
    hitlist = HitListStore(tmp_path / "hl", lists.root_pub)
    hitlist.install(lists.keyring, now=now)
    hitlist.install(lists.snapshot([doc(1)], 41), now=now)
    gate = make_gate(broker, tmp_path / "g", keys, "gate-a", store=central.store, port=proxy.port, will_delay=1,
                     hitlist=hitlist, start=False,
                     status_source=lambda: {"faults": {"reader": "absent: [Errno 2] /dev/ttyUSB0"}})
    gate.emit(3)  # a backlog the gate reports (the link is not up to deliver it yet)
    try:
        with running_console(central.store, tmp_path / "operators.sqlite3") as console:
            c = Client(console.server.url)
            c.sign_in(VIEWER, PASSWORD)
            gate.link.start()
            assert wait_until(lambda: 'class="online"' in c.request("/gates").read().decode(), 10)
            online = _row(c.request("/gates").read().decode(), "gate-a")
            assert "sltd v41" in online and "ttyUSB0" in online
            proxy.refuse()
            proxy.cut()  # the link dies for good: the broker publishes its will after the delay
            assert wait_until(lambda: central.store.gates()[0]["online"] == 0, 15)
            offline = _row(c.request("/gates").read().decode(), "gate-a")
            assert 'class="offline"' in offline
            assert "sltd v41" in offline, "the offline gate's list and version vanished with its last will"
            assert "ttyUSB0" in offline, "the offline gate's last reported fault vanished"
            assert f"<td class=\"agent\">{__version__}</td>" in offline, "the offline gate's agent version vanished"
            assert '<td class="backlog">-' not in offline, "the offline gate's last reported backlog vanished"
            listed = c.request("/lists").read().decode()
            assert "<td>v41</td><td>gate-a</td>" in listed, "the offline gate is no longer on the Lists page"
    finally:
        gate.stop()
        central.stop()
        proxy.close()
