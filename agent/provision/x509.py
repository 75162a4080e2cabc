"""TLS keys and certificate requests made on the gate, with the ``openssl`` command (Debian package
``openssl``, in the image): the project needs no X.509 library. The host-side PKI (``tools.broker_setup``)
runs the same tool through ``openssl`` here.

    key, csr = new_key_and_csr(state / "tls", "gate-7", name="client")   # the key never leaves the gate
    not_after(state / "tls" / "client.crt")                             # for the technician's checklist
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from agent.errors import AgentError

NEW_KEY = ("-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
"""ECDSA P-256 keys: small and fast on a Pi, supported by every TLS stack Mosquitto and paho use."""


class OpenSslError(AgentError, OSError):
    """The openssl tool failed or is missing; the message carries its command and stderr."""


def openssl(*args: str | Path, input: bytes | None = None) -> str:
    """Run ``openssl ARGS``; its stdout. Raises OpenSslError."""
    cmd = ["openssl", *map(str, args)]
    try:
        out = subprocess.run(cmd, capture_output=True, input=input, timeout=60)
    except FileNotFoundError:
        raise OpenSslError("the openssl tool is not installed (Debian package 'openssl')")
    if out.returncode != 0:
        raise OpenSslError(f"{' '.join(cmd)!r} failed ({out.returncode}): {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode(errors="replace")


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 so openssl writes a key into a file nobody else can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def new_key_and_csr(out_dir: Path, common_name: str, *, name: str | None = None) -> tuple[Path, Path]:
    """Make a P-256 private key (0600) and a certificate request for ``common_name`` in ``out_dir`` as
    ``NAME.key`` and ``NAME.csr`` (``name`` defaults to the common name). Returns ``(key, csr)``."""
    out_dir = Path(out_dir)
    stem = name or common_name
    key = private_file(out_dir / f"{stem}.key")
    csr = out_dir / f"{stem}.csr"
    openssl("req", *NEW_KEY, "-keyout", key, "-subj", f"/CN={common_name}", "-out", csr)
    return key, csr


def csr_matches_key(csr: Path, key: Path) -> bool:
    """True when the request ``csr`` is for the private key ``key`` (a re-run keeps a matching pair)."""
    try:
        return openssl("req", "-in", csr, "-noout", "-pubkey") == openssl("pkey", "-in", key, "-pubout")
    except OpenSslError:
        return False


def not_after(cert: Path) -> dt.datetime:
    """The end of a certificate's validity (UTC). Raises OpenSslError."""
    text = openssl("x509", "-in", cert, "-noout", "-enddate").strip()
    return dt.datetime.strptime(text.partition("=")[2], "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.UTC)
