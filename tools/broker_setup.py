"""Broker enrolment: Mosquitto password lines, the topic ACL, and a small X.509 PKI for TLS client certificates.

Used by operators (``python -m tools.broker_setup --help``), by the test broker (``tests/support/broker.py``) and by
the demo. See docs/broker.md for the production layout (images/mosquitto/).

Certificates are made with the ``openssl`` command-line tool (Debian package ``openssl``), so the project needs
no X.509 library: ``openssl ca`` signs with explicit start and end dates, which also gives tests their expired
certificates without faking the clock.

Raises ``BrokerSetupError`` (a ``ValueError``) for a bad gate id or username, ``OpenSslError`` (an
``OSError``) when the openssl tool fails.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError, ConfigError
from agent.protocol import topics

TOPIC_ROOT = "sharaka/v1"
GATE_OUTBOUND = topics.GATE_OUT
"""Topics under ``sharaka/v1/gates/{gate_id}/`` a gate may publish to."""
GATE_INBOUND = topics.GATE_IN
"""Topics under ``sharaka/v1/gates/{gate_id}/`` a gate may subscribe to."""
SHARED_READ = ("hitlists/#",)
"""Topics under ``sharaka/v1/`` every gate may read."""
CENTRAL_USERS = ("central", "central-cmd")
"""Central usernames (or certificate CNs): ``central`` is the central node (``sharaka-central run``, full
access under ``sharaka/v1/#``); ``central-cmd`` is ``sharaka-central cmd``, its own identity so that sending a
command never takes over the node's session (issue 8.9)."""
RESERVED_PREFIX = "central"
COMMAND_PREFIX = "central-cmd"
"""Central users named ``central-cmd*`` may only publish commands and read command results."""
COMMAND_TOPICS = (("write", "gates/+/cmd"), ("read", "gates/+/cmd/result"))

GATE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""A gate id is one topic level: no ``/``, ``+``, ``#``, spaces or control characters (they would widen the
``%u`` patterns of the ACL); it is also the MQTT username and client id, and the certificate CN."""

PBKDF2_ITERATIONS = 101
"""What ``mosquitto_passwd`` (2.0) writes: ``$7$`` = PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt."""


class BrokerSetupError(ConfigError):
    """A gate id, username or option that the broker configuration cannot accept."""


class OpenSslError(AgentError, OSError):
    """The openssl tool failed or is missing; the message carries its command and stderr."""


def check_gate_id(gate_id: str) -> str:
    """Return ``gate_id`` if it can be a gate's username, client id and topic level; raise BrokerSetupError."""
    if not isinstance(gate_id, str) or not GATE_ID_RE.fullmatch(gate_id):
        raise BrokerSetupError(
            f"gate id {gate_id!r} is not valid: expected 1-64 characters of A-Z a-z 0-9 _ -, "
            "starting with a letter or digit"
        )
    if gate_id.lower().startswith(RESERVED_PREFIX):
        raise BrokerSetupError(
            f"gate id {gate_id!r} is reserved: names starting with {RESERVED_PREFIX!r} are central users"
        )
    return gate_id


def check_central_user(username: str) -> str:
    """Return ``username`` if it is a valid central username (``central`` or ``central-*``)."""
    if (
        not isinstance(username, str)
        or not GATE_ID_RE.fullmatch(username)
        or not username.startswith(RESERVED_PREFIX)
    ):
        raise BrokerSetupError(
            f"central username {username!r} is not valid: expected {RESERVED_PREFIX!r} optionally followed by "
            "characters of A-Z a-z 0-9 _ -"
        )
    return username


def new_password() -> str:
    """A random password for a new account (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def password_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    """One ``password_file`` line, byte-compatible with ``mosquitto_passwd -b`` (Mosquitto 2.0 ``$7$`` hash)."""
    if ":" in username or "\n" in username or not username:
        raise BrokerSetupError(
            f"username {username!r} is not valid: must be non-empty, without ':' or newline"
        )
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"{username}:$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def acl_text(central_users: tuple[str, ...] = CENTRAL_USERS) -> str:
    """The broker ACL: each gate (username = gate id) owns its own topics; central users own ``sharaka/v1/#``,
    except command senders (``central-cmd*``), who may only publish ``gates/+/cmd`` and read ``gates/+/cmd/result``.

    ``pattern`` lines apply to every authenticated user with ``%u`` replaced by the username (Mosquitto
    refuses a pattern match for usernames containing ``+`` or ``#``; ``check_gate_id`` refuses ``/`` too).
    Anything not granted is denied: publishing elsewhere gets PUBACK 0x87, subscribing gets SUBACK 0x87.
    """
    lines = [
        "# Sharaka Gate broker ACL (generated by tools/broker_setup.py; see docs/broker.md).",
        "# Anything not granted here is denied. A gate's username is its gate id (password listener) or",
        "# the CN of its client certificate (TLS listener, use_identity_as_username).",
        "",
        "# Every gate: publish its own outbound topics, subscribe to its own inbound topics.",
    ]
    lines += [f"pattern write {TOPIC_ROOT}/gates/%u/{t}" for t in GATE_OUTBOUND]
    lines += [f"pattern read {TOPIC_ROOT}/gates/%u/{t}" for t in GATE_INBOUND]
    lines += ["", "# Every gate: read the published hit-lists (heads, snapshots, deltas)."]
    lines += [f"pattern read {TOPIC_ROOT}/{t}" for t in SHARED_READ]
    lines += ["", "# The central node: everything under the topic root. Command senders (central-cmd*): commands only."]
    for user in central_users:
        lines.append(f"user {check_central_user(user)}")
        if user.startswith(COMMAND_PREFIX):
            lines += [f"topic {access} {TOPIC_ROOT}/{t}" for access, t in COMMAND_TOPICS]
        else:
            lines.append(f"topic readwrite {TOPIC_ROOT}/#")
    return "\n".join(lines) + "\n"


# --- PKI -------------------------------------------------------------------------------------------------

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
default_ca = sharaka_ca
[sharaka_ca]
dir = {ca_dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[policy_any]
commonName = supplied
[ext_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ext_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ext_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


_NEW_KEY = ("-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
"""ECDSA P-256 keys: small and fast on a Pi, supported by every TLS stack Mosquitto and paho use."""


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key (PEM files; the key is mode 0600)."""

    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    cmd = ["openssl", *map(str, args)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise OpenSslError("the openssl tool is not installed (Debian package 'openssl')")
    if out.returncode != 0:
        raise OpenSslError(f"{' '.join(cmd)!r} failed ({out.returncode}): {out.stderr.strip()}")


def _private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 so openssl writes the key into a file nobody else can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def _asn1_time(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise BrokerSetupError(f"certificate time {when!r} must be timezone-aware (UTC)")
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


def _write_cnf(ca_dir: Path, san: str = "DNS:localhost") -> Path:
    cnf = ca_dir / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF.format(ca_dir=ca_dir, san=san))
    return cnf


def create_ca(
    ca_dir: Path,
    name: str = "Sharaka Gate broker CA",
    *,
    now: dt.datetime,
    days: int = 3650,
    not_before: dt.datetime | None = None,
) -> CertFiles:
    """Create a self-signed CA in ``ca_dir`` (``ca.crt``, ``ca.key``, the ``openssl ca`` database), valid from
    ``not_before`` (default: an hour before ``now``) for ``days`` after ``now``. Raises OpenSslError."""
    ca_dir = Path(ca_dir).resolve()
    (ca_dir / "issued").mkdir(parents=True, exist_ok=True)
    (ca_dir / "index.txt").touch()
    (ca_dir / "serial").write_text(secrets.token_hex(16) + "\n")  # unused with rand_serial; openssl wants it
    cnf = _write_cnf(ca_dir)
    key, csr = new_key_and_csr(ca_dir, "ca")
    start = not_before or now - dt.timedelta(hours=1)
    _openssl(
        "ca",
        "-config",
        cnf,
        *["-batch", "-notext", "-selfsign", "-extensions", "ext_ca"],
        "-keyfile",
        key,
        "-in",
        csr,
        "-out",
        ca_dir / "ca.crt",
        "-subj",
        f"/CN={name}",
        "-startdate",
        _asn1_time(start),
        "-enddate",
        _asn1_time(now + dt.timedelta(days=days)),
    )
    csr.unlink()
    ca = CertFiles(ca_dir / "ca.crt", key)
    write_crl(ca)
    return ca


def new_key_and_csr(out_dir: Path, common_name: str) -> tuple[Path, Path]:
    """Make a P-256 private key and a certificate request for ``common_name``: what a gate does at enrolment,
    so its private key never leaves it. Returns ``(key, csr)``. Raises OpenSslError."""
    out_dir = Path(out_dir)
    key = _private_file(out_dir / f"{common_name}.key")
    csr = out_dir / f"{common_name}.csr"
    _openssl("req", *_NEW_KEY, "-keyout", key, "-subj", f"/CN={common_name}", "-out", csr)
    return key, csr


def sign_csr(
    ca: CertFiles,
    csr: Path,
    out: Path,
    common_name: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    server_names: tuple[str, ...] = (),
) -> Path:
    """Sign ``csr`` with the CA for ``common_name`` (the CN is set by the CA, not taken from the request).

    With ``server_names`` (DNS names or IP addresses) it is a TLS server certificate, else a client one.
    Validity is ``[not_before, not_after]`` (aware datetimes): pass past dates for an expired certificate.
    Raises OpenSslError.
    """
    ca_dir = ca.cert.parent
    san = (
        ", ".join(
            f"IP:{n}" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+:[0-9a-fA-F:]*", n) else f"DNS:{n}"
            for n in server_names
        )
        or "DNS:localhost"
    )
    cnf = _write_cnf(ca_dir, san)
    kind = "ext_server" if server_names else "ext_client"
    _openssl(
        "ca",
        "-config",
        cnf,
        *f"-batch -notext -rand_serial -extensions {kind}".split(),
        "-cert",
        ca.cert,
        "-keyfile",
        ca.key,
        "-in",
        csr,
        "-out",
        out,
        "-subj",
        f"/CN={common_name}",
        "-startdate",
        _asn1_time(not_before),
        "-enddate",
        _asn1_time(not_after),
    )
    return Path(out)


def issue_cert(
    ca: CertFiles,
    out_dir: Path,
    common_name: str,
    *,
    now: dt.datetime,
    days: int = 825,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    server_names: tuple[str, ...] = (),
) -> CertFiles:
    """Key + certificate for ``common_name`` in ``out_dir`` (``NAME.crt``, ``NAME.key``), valid from one hour
    before ``now`` (clock skew) for ``days``, unless ``not_before``/``not_after`` say otherwise."""
    key, csr = new_key_and_csr(out_dir, common_name)
    start = not_before or now - dt.timedelta(hours=1)
    end = not_after or now + dt.timedelta(days=days)
    cert = sign_csr(
        ca,
        csr,
        Path(out_dir) / f"{common_name}.crt",
        common_name,
        not_before=start,
        not_after=end,
        server_names=server_names,
    )
    csr.unlink()
    return CertFiles(cert, key)


def write_crl(ca: CertFiles, *, days: int = 3650) -> Path:
    """(Re)write ``ca.crl`` next to the CA certificate from the CA database. Mosquitto's ``crlfile`` refuses
    every client once the CRL's next-update time passes, hence the long default. Raises OpenSslError."""
    crl = ca.cert.parent / "ca.crl"
    _openssl(
        "ca",
        "-config",
        _write_cnf(ca.cert.parent),
        "-gencrl",
        "-crldays",
        str(days),
        "-cert",
        ca.cert,
        "-keyfile",
        ca.key,
        "-out",
        crl,
    )
    return crl


def revoke_cert(ca: CertFiles, cert: Path) -> Path:
    """Revoke ``cert`` (e.g. a stolen gate's) and rewrite the CRL; the broker refuses it after a restart.
    Returns the CRL path. Raises OpenSslError."""
    _openssl(
        "ca", "-config", _write_cnf(ca.cert.parent), "-revoke", cert, "-cert", ca.cert, "-keyfile", ca.key
    )
    return write_crl(ca)


# --- command line ----------------------------------------------------------------------------------------


def _cmd_acl(args: argparse.Namespace) -> None:
    sys.stdout.write(acl_text(tuple(args.central or CENTRAL_USERS)))


def _cmd_passwd(args: argparse.Namespace) -> None:
    check = check_central_user if args.central else check_gate_id
    check(args.username)
    password = args.password or new_password()
    print(password_line(args.username, password))
    if not args.password:
        print(f"password for {args.username}: {password}", file=sys.stderr)


def _cmd_ca(args: argparse.Namespace) -> None:
    files = create_ca(Path(args.dir), args.name, now=dt.datetime.now(dt.UTC), days=args.days)
    print(files.cert)


def _ca_in(directory: str) -> CertFiles:
    ca = CertFiles(Path(directory).resolve() / "ca.crt", Path(directory).resolve() / "ca.key")
    if not ca.cert.exists() or not ca.key.exists():
        raise BrokerSetupError(f"no CA in {directory!r}: expected ca.crt and ca.key (make one with 'ca')")
    return ca


def _cmd_revoke(args: argparse.Namespace) -> None:
    print(revoke_cert(_ca_in(args.ca), Path(args.cert)))


def _cmd_server(args: argparse.Namespace) -> None:
    now = dt.datetime.now(dt.UTC)
    files = issue_cert(
        _ca_in(args.ca),
        Path(args.out),
        args.name,
        now=now,
        days=args.days,
        server_names=tuple(args.san or [args.name]),
    )
    print(files.cert)


def _issue_client(args: argparse.Namespace, name: str) -> None:
    now = dt.datetime.now(dt.UTC)
    ca = _ca_in(args.ca)
    if args.csr:
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=args.days)
        print(
            sign_csr(
                ca, Path(args.csr), Path(args.out) / f"{name}.crt", name, not_before=start, not_after=end
            )
        )
    else:
        print(issue_cert(ca, Path(args.out), name, now=now, days=args.days).cert)


def _cmd_gate(args: argparse.Namespace) -> None:
    _issue_client(args, check_gate_id(args.gate_id))


def _cmd_central(args: argparse.Namespace) -> None:
    _issue_client(args, check_central_user(args.username))


def _client_cert_options(p: argparse.ArgumentParser, run: object) -> None:
    p.add_argument("--ca", required=True, help="CA directory")
    p.add_argument("--out", required=True)
    p.add_argument("--csr", help="sign this request (made where the key stays) instead of making a key here")
    p.add_argument("--days", type=int, default=825)
    p.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.broker_setup``: enrol gates and central users on a Mosquitto broker."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.broker_setup", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("acl", help="print the ACL file")
    p.add_argument("--central", action="append", help="central username (repeatable; default: central)")
    p.set_defaults(run=_cmd_acl)
    p = sub.add_parser("passwd", help="print a password_file line for a gate (or --central user)")
    p.add_argument("username")
    p.add_argument("--password", help="default: a new random one, printed on stderr")
    p.add_argument("--central", action="store_true", help="the user is a central node user")
    p.set_defaults(run=_cmd_passwd)
    p = sub.add_parser("ca", help="create a CA (ca.crt, ca.key) in DIR")
    p.add_argument("--dir", required=True)
    p.add_argument("--name", default="Sharaka Gate broker CA")
    p.add_argument("--days", type=int, default=3650)
    p.set_defaults(run=_cmd_ca)
    p = sub.add_parser("server", help="issue the broker's TLS server certificate")
    p.add_argument("--ca", required=True, help="CA directory")
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="localhost", help="certificate CN")
    p.add_argument("--san", action="append", help="DNS name or IP address (repeatable; default: --name)")
    p.add_argument("--days", type=int, default=825)
    p.set_defaults(run=_cmd_server)
    p = sub.add_parser("gate", help="issue a gate's TLS client certificate (CN = gate id)")
    p.add_argument("gate_id")
    _client_cert_options(p, _cmd_gate)
    p = sub.add_parser("central", help="issue the central node's TLS client certificate (CN = USERNAME)")
    p.add_argument("username", nargs="?", default="central", help="central or central-* (default: central)")
    _client_cert_options(p, _cmd_central)
    p = sub.add_parser("revoke", help="revoke a certificate and rewrite the CA's CRL (ca.crl)")
    p.add_argument("cert", help="the certificate file to revoke (the CA keeps a copy under issued/)")
    p.add_argument("--ca", required=True, help="CA directory")
    p.set_defaults(run=_cmd_revoke)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (BrokerSetupError, OpenSslError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
