"""Site bridges: a border-crossing point runs its own Mosquitto, its gates connect to it, and it bridges their
topics to the national broker over one TLS connection (docs/central.md "Site bridges").

    python -m tools.site_bridge conf --site amman --national broker.example:8883 --ca ca.crt \\
        --cert bridge-amman.crt --key bridge-amman.key \\
        --v5-cert bridge-amman-v5.crt --v5-key bridge-amman-v5.key > /etc/mosquitto/conf.d/bridge.conf  # site
    python -m tools.site_bridge acl --site amman --gate amman-1 --gate amman-2 >> acl        # at the centre

A site bridge is two connections to the national broker, each with its own identity (the CN of its client
certificate, or a username with ``--username``/``--password-file``):

- ``bridge-SITE``, MQTT 3.1.1 with a persistent session (``cleansession false``): every gate topic except the
  online query. The national broker keeps this session, and what it queued for the site (acks, commands,
  hit-list chunks), across a link cut and across its own restart.
- ``bridge-SITE-v5``, MQTT 5 with a clean session: the online query (its response topic and correlation data
  need MQTT 5) and the retained shared topics (hit-list heads, alerts: their MQTT 5 message expiry crosses
  too). Nothing on it needs a session: a query is worth its answer only within its deadline, and the retained
  messages come again at every (re)subscription.

Why two: Mosquitto 2.0's MQTT 5 bridge sends no session expiry interval in its CONNECT, so the national broker
ends its session when the link drops (mosquitto issues #1632, #2424, #2980; ``bridge_session_expiry_interval``
arrives only with Mosquitto 2.1) and drops what was queued for the site: a command to a gate behind the
bridge was lost (test_a_command_queued_for_a_bridged_gate_survives_a_national_broker_restart).

The national ACL lets each identity publish only for its own site's gates and read only their inbound topics
and the shared ones. Topics are mapped ``LOCAL_PREFIX`` -> ``REMOTE_PREFIX`` (both ``sharaka/v1/`` by default:
a gate sees the same topics at the site as at the centre).

The same place generates the federation bridges (docs/central.md "Federation"): each national broker bridged
to the regional hub as ``federation-CENTRE``, and the hub's ACL that confines each to its own region topics.

    python -m tools.site_bridge federation --centre ATL --hub hub.example:8883 --ca hub-ca.crt \\
        --cert federation-ATL.crt --key federation-ATL.key >> /etc/mosquitto/conf.d/federation.conf  # national
    python -m tools.site_bridge hub-acl --centre ATL --centre BOR > /etc/mosquitto/acl              # at the hub
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.arguments import host_port
from agent.errors import run_command
from agent.protocol import ids, topics
from tools.broker_setup import GATE_INBOUND, GATE_OUTBOUND, SHARED_READ, TOPIC_ROOT, check_gate_id

BRIDGE_PREFIX = "bridge-"
V5_SUFFIX = "-v5"
FEDERATION_PREFIX = "federation-"
V5_OUTBOUND = (topics.QUERY,)
"""Gate topics (out) the MQTT 5 connection carries: the online query needs its response topic and correlation data."""
V5_INBOUND = (topics.QUERY_REPLY,)
"""Gate topics (in) the MQTT 5 connection carries, with the shared retained topics (``SHARED_READ``)."""
PERSISTENT_OUTBOUND = tuple(t for t in GATE_OUTBOUND if t not in V5_OUTBOUND)
PERSISTENT_INBOUND = tuple(t for t in GATE_INBOUND if t not in V5_INBOUND)


def bridge_user(site: str) -> str:
    """The persistent connection's identity at the national broker: ``bridge-SITE`` (checked like a gate id)."""
    return check_gate_id(BRIDGE_PREFIX + site)


def bridge_v5_user(site: str) -> str:
    """The MQTT 5 connection's identity at the national broker: ``bridge-SITE-v5``."""
    return check_gate_id(BRIDGE_PREFIX + site + V5_SUFFIX)


def bridge_conf(
    site: str, national: str, *, ca: str, cert: str | None = None, key: str | None = None,
    v5_cert: str | None = None, v5_key: str | None = None, username: str | None = None,
    password: str | None = None, local_prefix: str = f"{TOPIC_ROOT}/", remote_prefix: str = f"{TOPIC_ROOT}/",
    keepalive: int = 30,
) -> str:
    """The two ``connection`` sections of the site Mosquitto's config (module docstring): TLS to ``national``
    (``HOST:PORT``), each with its client certificate (``cert``/``key``, ``v5_cert``/``v5_key``) or a username
    (``username``, and ``username-v5``) and ``password``; QoS 1 both ways.

    ``bridge-SITE`` (MQTT 3.1.1, persistent session, local session kept too): the gates' topics out and their
    inbound ones in, but the online query; the national broker queues acks and commands for the site while the
    link is down, also across its restart. ``bridge-SITE-v5`` (MQTT 5, clean session): the online query and its
    reply, and the retained hit-list heads and alerts with their message expiry."""
    if password is None and (v5_cert is None) != (cert is None):
        raise ValueError("a site bridge with certificates needs --v5-cert and --v5-key too (the MQTT 5 connection's)")
    name = username or bridge_user(site)
    lines = _connection(f"Site bridge {site}, persistent", bridge_user(site), national, ca=ca, cert=cert,
                        key=key, username=name, password=password, keepalive=keepalive, protocol="mqttv311")
    lines += [f"topic gates/+/{leaf} out 1 {local_prefix} {remote_prefix}" for leaf in PERSISTENT_OUTBOUND]
    lines += [f"topic gates/+/{leaf} in 1 {local_prefix} {remote_prefix}" for leaf in PERSISTENT_INBOUND]
    lines += [""]
    lines += _connection(f"Site bridge {site}, MQTT 5", bridge_v5_user(site), national, ca=ca, cert=v5_cert,
                         key=v5_key, username=name + V5_SUFFIX, password=password, keepalive=keepalive,
                         clean=True)
    lines += [f"topic gates/+/{leaf} out 1 {local_prefix} {remote_prefix}" for leaf in V5_OUTBOUND]
    lines += [f"topic gates/+/{leaf} in 1 {local_prefix} {remote_prefix}" for leaf in V5_INBOUND]
    lines += [f"topic {t} in 1 {local_prefix} {remote_prefix}" for t in SHARED_READ]
    return "\n".join(lines) + "\n"


def federation_user(centre: str) -> str:
    """A national broker's identity at the regional hub: ``federation-CENTRE``."""
    return check_gate_id(FEDERATION_PREFIX + centre)


def federation_conf(
    centre: str, hub: str, *, ca: str, cert: str | None = None, key: str | None = None,
    username: str | None = None, password: str | None = None, keepalive: int = 30,
) -> str:
    """The ``connection`` section of a national Mosquitto's config bridging it to the regional hub (docs/central.md
    "Federation"): what this centre shares (``sharaka/v1/federation/out/ITEM``) goes out as
    ``sharaka/v1/region/CENTRE/ITEM``; what every centre shared comes in as ``sharaka/v1/federation/in/ORIGIN/ITEM``
    (this centre's own items too, which its relay drops as a loop). Nothing else crosses: no gate topic, no
    alert, no list. TLS, persistent session and QoS 1 as a site bridge."""
    # MQTT 3.1.1, as a site bridge's persistent connection (module docstring: Mosquitto 2.0's MQTT 5 bridge keeps
    # no session; test_an_alert_shared_while_the_hub_is_down_arrives_when_it_returns). Federation needs no MQTT 5
    # feature (no response topic, no correlation data).
    lines = _connection(f"Federation bridge {centre}", federation_user(centre), hub, ca=ca, cert=cert, key=key,
                        username=username, password=password, keepalive=keepalive, protocol="mqttv311")
    region = topics.REGION + "/"
    lines += [f"topic + out 1 {topics.FED_OUT}/ {region}{ids.check_id(centre, 'centre id')}/",
              f"topic +/+ in 1 {topics.FED_IN}/ {region}"]
    return "\n".join(lines) + "\n"


def _connection(title: str, user: str, address: str, *, ca: str, cert: str | None, key: str | None,
                username: str | None, password: str | None, keepalive: int, protocol: str = "mqttv50",
                clean: bool = False) -> list[str]:
    """The head of a bridge ``connection`` section: identity ``user``, ``protocol``, a persistent session
    (``cleansession false``, which only MQTT 3.1.1 keeps with Mosquitto 2.0; ``clean``: none), TLS that verifies
    the remote broker, and a client certificate or a username and password."""
    if (cert is None) != (key is None) or (cert is None and password is None):
        raise ValueError("a bridge needs --cert and --key (TLS client certificate) or --username/--password-file")
    lines = [
        f"# {title} -> {address} (generated by tools/site_bridge.py; docs/central.md)",
        f"connection {user}",
        f"address {address}",
        f"bridge_protocol_version {protocol}",
        f"remote_clientid {user}",
        f"local_clientid {user}-local",
        f"cleansession {'true' if clean else 'false'}",
        f"local_cleansession {'true' if clean else 'false'}",
        "try_private true",
        "notifications false",
        f"keepalive_interval {keepalive}",
        "restart_timeout 1 10",
        f"bridge_cafile {ca}",
        "bridge_tls_version tlsv1.2",
        "bridge_insecure false",
    ]
    if cert is not None:
        lines += [f"bridge_certfile {cert}", f"bridge_keyfile {key}"]
    if password is not None:
        lines += [f"remote_username {username or user}", f"remote_password {password}"]
    return lines


def hub_acl(centres: list[str]) -> str:
    """The regional hub's ACL: each national broker's bridge (``federation-CENTRE``) writes only under its own
    ``sharaka/v1/region/CENTRE/`` (so the hub topic an item arrives on names the bridge that brought it) and
    reads every centre's."""
    lines = ["# Regional hub ACL (generated by tools/site_bridge.py; docs/central.md \"Federation\").",
             "# Anything not granted here is denied."]
    for centre in centres:
        lines += ["", f"user {federation_user(centre)}", f"topic write {topics.REGION}/{centre}/+",
                  f"topic read {topics.REGION}/+/+"]
    return "\n".join(lines) + "\n"


def bridge_acl(site: str, gates: list[str]) -> str:
    """The national broker's ACL sections for a site's bridge (append them to ``tools.broker_setup.acl_text``):
    each of its two identities publishes only its gates' outbound topics and reads only their inbound ones of
    its own connection; the MQTT 5 one reads the shared ones."""
    for gate in gates:
        check_gate_id(gate)
    lines = ["", f"# Site bridge {site}: its gates only (persistent connection, MQTT 3.1.1).", f"user {bridge_user(site)}"]
    for gate in gates:
        lines += [f"topic write {TOPIC_ROOT}/gates/{gate}/{leaf}" for leaf in PERSISTENT_OUTBOUND]
        lines += [f"topic read {TOPIC_ROOT}/gates/{gate}/{leaf}" for leaf in PERSISTENT_INBOUND]
    lines += ["", f"# Site bridge {site}: online queries and the shared topics (MQTT 5).", f"user {bridge_v5_user(site)}"]
    for gate in gates:
        lines += [f"topic write {TOPIC_ROOT}/gates/{gate}/{leaf}" for leaf in V5_OUTBOUND]
        lines += [f"topic read {TOPIC_ROOT}/gates/{gate}/{leaf}" for leaf in V5_INBOUND]
    lines += [f"topic read {TOPIC_ROOT}/{t}" for t in SHARED_READ]
    return "\n".join(lines) + "\n"


def _credential_args(p: argparse.ArgumentParser, remote: str, name: str) -> None:
    """How a bridge proves itself to ``remote``: a client certificate (CN ``name``) or a password."""
    p.add_argument("--ca", required=True, help=f"CA of {remote}'s server certificate")
    p.add_argument("--cert", help=f"the bridge's client certificate (CN {name})")
    p.add_argument("--key", help="its key")
    p.add_argument("--username", help=f"with --password-file instead of a certificate (default {name})")
    p.add_argument("--password-file", type=Path)


def _address(text: str) -> str:
    """``HOST:PORT`` of a broker as Mosquitto's ``address`` line takes it (``agent.arguments.host_port``), as given."""
    host_port(text)
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.site_bridge conf|acl|federation|hub-acl``: print a site bridge's config or its national
    ACL section, a national broker's bridge to the regional hub or the hub's ACL."""
    parser = argparse.ArgumentParser(prog="python -m tools.site_bridge", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("conf", help="the site Mosquitto's bridge section")
    p.add_argument("--site", required=True)
    p.add_argument("--national", required=True, type=_address, metavar="HOST:PORT")
    _credential_args(p, "the national broker", "bridge-SITE")
    p.add_argument("--v5-cert", help="the MQTT 5 connection's client certificate (CN bridge-SITE-v5)")
    p.add_argument("--v5-key", help="its key")
    p.add_argument("--local-prefix", default=f"{TOPIC_ROOT}/")
    p.add_argument("--remote-prefix", default=f"{TOPIC_ROOT}/")
    p = sub.add_parser("acl", help="the national broker's ACL section for a site's bridge")
    p.add_argument("--site", required=True)
    p.add_argument("--gate", action="append", default=[], required=True, help="a gate of the site (repeat)")
    p = sub.add_parser("federation", help="a national Mosquitto's bridge to the regional hub")
    p.add_argument("--centre", required=True, help="this national centre's id in the region")
    p.add_argument("--hub", required=True, type=_address, metavar="HOST:PORT")
    _credential_args(p, "the hub", "federation-CENTRE")
    p = sub.add_parser("hub-acl", help="the regional hub's ACL")
    p.add_argument("--centre", action="append", default=[], required=True, help="a national centre (repeat)")
    args = parser.parse_args(argv)
    return run_command(parser.prog, args.cmd, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    password = args.password_file.read_text().strip() if getattr(args, "password_file", None) else None
    if args.cmd == "conf":
        sys.stdout.write(bridge_conf(args.site, args.national, ca=args.ca, cert=args.cert, key=args.key,
                                     v5_cert=args.v5_cert, v5_key=args.v5_key, username=args.username, password=password,
                                     local_prefix=args.local_prefix, remote_prefix=args.remote_prefix))
    elif args.cmd == "federation":
        sys.stdout.write(federation_conf(args.centre, args.hub, ca=args.ca, cert=args.cert, key=args.key,
                                         username=args.username, password=password))
    elif args.cmd == "hub-acl":
        sys.stdout.write(hub_acl(args.centre))
    else:
        sys.stdout.write(bridge_acl(args.site, args.gate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
