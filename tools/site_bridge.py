"""Site bridges: a border-crossing point runs its own Mosquitto, its gates connect to it, and it bridges their
topics to the national broker over one TLS connection (docs/central.md "Site bridges").

    python -m tools.site_bridge conf --site amman --national broker.example:8883 --ca ca.crt \\
        --cert bridge-amman.crt --key bridge-amman.key > /etc/mosquitto/conf.d/bridge.conf   # at the site
    python -m tools.site_bridge acl --site amman --gate amman-1 --gate amman-2 >> acl        # at the centre

The bridge's identity at the national broker is ``bridge-SITE`` (the CN of its client certificate, or a
username with ``--username``/``--password-file``); the national ACL lets it publish only for its own site's
gates and read only their inbound topics and the shared ones. Topics are mapped ``LOCAL_PREFIX`` ->
``REMOTE_PREFIX`` (both ``sharaka/v1/`` by default: a gate sees the same topics at the site as at the
centre). The bridge speaks MQTT 5, so an online query's response topic and correlation data cross it.

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

from agent.errors import run_command
from agent.protocol import ids, topics
from tools.broker_setup import GATE_INBOUND, GATE_OUTBOUND, SHARED_READ, TOPIC_ROOT, check_gate_id

BRIDGE_PREFIX = "bridge-"
FEDERATION_PREFIX = "federation-"


def bridge_user(site: str) -> str:
    """The bridge's identity at the national broker: ``bridge-SITE`` (checked like a gate id)."""
    return check_gate_id(BRIDGE_PREFIX + site)


def bridge_conf(
    site: str, national: str, *, ca: str, cert: str | None = None, key: str | None = None,
    username: str | None = None, password: str | None = None, local_prefix: str = f"{TOPIC_ROOT}/",
    remote_prefix: str = f"{TOPIC_ROOT}/", keepalive: int = 30,
) -> str:
    """The ``connection`` section of the site Mosquitto's config: TLS to ``national`` (``HOST:PORT``) with a
    client certificate (``cert``/``key``) or a username and password, a persistent session (the national
    broker queues the acks and commands for the site while the link is down), gate topics out, their
    inbound topics and the shared ones in, QoS 1 both ways."""
    lines = _connection(f"Site bridge {site}", bridge_user(site), national, ca=ca, cert=cert, key=key,
                        username=username, password=password, keepalive=keepalive)
    lines += [f"topic gates/+/{leaf} out 1 {local_prefix} {remote_prefix}" for leaf in GATE_OUTBOUND]
    lines += [f"topic gates/+/{leaf} in 1 {local_prefix} {remote_prefix}" for leaf in GATE_INBOUND]
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
    # MQTT 3.1.1: its ``cleansession false`` is a session the hub keeps across its own restart; Mosquitto 2.0's
    # MQTT 5 bridge connects with a session expiry of 0, so a restarted hub forgot the other bridges' sessions and
    # dropped what came in before they were back (test_an_alert_shared_while_the_hub_is_down_arrives_when_it_returns).
    # Federation needs no MQTT 5 feature (no response topic, no correlation data).
    lines = _connection(f"Federation bridge {centre}", federation_user(centre), hub, ca=ca, cert=cert, key=key,
                        username=username, password=password, keepalive=keepalive, protocol="mqttv311")
    region = topics.REGION + "/"
    lines += [f"topic + out 1 {topics.FED_OUT}/ {region}{ids.check_id(centre, 'centre id')}/",
              f"topic +/+ in 1 {topics.FED_IN}/ {region}"]
    return "\n".join(lines) + "\n"


def _connection(title: str, user: str, address: str, *, ca: str, cert: str | None, key: str | None,
                username: str | None, password: str | None, keepalive: int, protocol: str = "mqttv50") -> list[str]:
    """The head of a bridge ``connection`` section: identity ``user``, MQTT 5, persistent session, TLS that
    verifies the remote broker, and a client certificate or a username and password."""
    if (cert is None) != (key is None) or (cert is None and password is None):
        raise ValueError("a bridge needs --cert and --key (TLS client certificate) or --username/--password-file")
    lines = [
        f"# {title} -> {address} (generated by tools/site_bridge.py; docs/central.md)",
        f"connection {user}",
        f"address {address}",
        f"bridge_protocol_version {protocol}",
        f"remote_clientid {user}",
        f"local_clientid {user}-local",
        "cleansession false",
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
    """The national broker's ACL section for a site's bridge: publish only its gates' outbound topics, read
    only their inbound topics and the shared ones (append it to ``tools.broker_setup.acl_text``)."""
    lines = ["", f"# Site bridge {site}: its gates only.", f"user {bridge_user(site)}"]
    for gate in gates:
        check_gate_id(gate)
        lines += [f"topic write {TOPIC_ROOT}/gates/{gate}/{leaf}" for leaf in GATE_OUTBOUND]
        lines += [f"topic read {TOPIC_ROOT}/gates/{gate}/{leaf}" for leaf in GATE_INBOUND]
    lines += [f"topic read {TOPIC_ROOT}/{t}" for t in SHARED_READ]
    return "\n".join(lines) + "\n"


def _credential_args(p: argparse.ArgumentParser, remote: str, name: str) -> None:
    """How a bridge proves itself to ``remote``: a client certificate (CN ``name``) or a password."""
    p.add_argument("--ca", required=True, help=f"CA of {remote}'s server certificate")
    p.add_argument("--cert", help=f"the bridge's client certificate (CN {name})")
    p.add_argument("--key", help="its key")
    p.add_argument("--username", help=f"with --password-file instead of a certificate (default {name})")
    p.add_argument("--password-file", type=Path)


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.site_bridge conf|acl|federation|hub-acl``: print a site bridge's config or its national
    ACL section, a national broker's bridge to the regional hub or the hub's ACL."""
    parser = argparse.ArgumentParser(prog="python -m tools.site_bridge", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("conf", help="the site Mosquitto's bridge section")
    p.add_argument("--site", required=True)
    p.add_argument("--national", required=True, metavar="HOST:PORT")
    _credential_args(p, "the national broker", "bridge-SITE")
    p.add_argument("--local-prefix", default=f"{TOPIC_ROOT}/")
    p.add_argument("--remote-prefix", default=f"{TOPIC_ROOT}/")
    p = sub.add_parser("acl", help="the national broker's ACL section for a site's bridge")
    p.add_argument("--site", required=True)
    p.add_argument("--gate", action="append", default=[], required=True, help="a gate of the site (repeat)")
    p = sub.add_parser("federation", help="a national Mosquitto's bridge to the regional hub")
    p.add_argument("--centre", required=True, help="this national centre's id in the region")
    p.add_argument("--hub", required=True, metavar="HOST:PORT")
    _credential_args(p, "the hub", "federation-CENTRE")
    p = sub.add_parser("hub-acl", help="the regional hub's ACL")
    p.add_argument("--centre", action="append", default=[], required=True, help="a national centre (repeat)")
    args = parser.parse_args(argv)
    return run_command(parser.prog, args.cmd, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    password = args.password_file.read_text().strip() if getattr(args, "password_file", None) else None
    if args.cmd == "conf":
        sys.stdout.write(bridge_conf(args.site, args.national, ca=args.ca, cert=args.cert, key=args.key,
                                     username=args.username, password=password,
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
