"""Decommissioning a gate (docs/provisioning.md "Decommissioning"): ``sharaka-gate provision --wipe`` and the
remote two-key ``wipe`` command do the same three things, in this order:

1. the relay to its safe state (de-energised, gate shut) and the indicators amber;
2. the centre told, while the gate still holds its key: a signed ``status`` with ``kind: decommissioned``
   (the remote command's signed result says the same), after which the centre trusts the key no more;
3. every file of the gate destroyed: keys (device, TLS, fingerprint), hit-lists, the outbox with its
   queued personal data, link and time state, the status file, the provisioning record, the config and
   its logs — each regular file overwritten with random bytes, fsynced, then removed.

Overwriting cannot promise erasure on flash (wear levelling may keep old blocks); what protects the data
is that queued personal data was sealed to the centre's key before it was written (RELIABILITY 31) and
that the keys which could open anything else are gone. The steps that cannot be done (no indicator board,
no link) are reported, and the files are destroyed regardless.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.durable import fsync_dir

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
APPLIANCE_CONFIG = Path("/etc/sharaka/gate.toml")  # the image's config: its journal is the gate's log


def is_appliance(config_path: Path) -> bool:
    """True for the appliance's own config (images/): only there does a wipe vacuum the systemd journal."""
    return Path(config_path).absolute() == APPLIANCE_CONFIG


def destroy_file(path: Path) -> None:
    """Overwrite a regular file with random bytes (its whole length), fsync, then unlink it. A file with
    other hard links (one outside the state directory is someone else's file), or that is no longer a regular
    file (a symlink swapped in since it was listed), is only unlinked: the wipe, run as root, never writes
    through a name to anything else."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO):  # a symlink, or a FIFO, now
            raise
    else:
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                left = st.st_size
                while left > 0:
                    left -= os.write(fd, os.urandom(min(CHUNK, left)))
                os.fsync(fd)
        finally:
            os.close(fd)
    path.unlink()


def destroy_tree(root: Path, *, dry_run: bool = False) -> list[str]:
    """Destroy every regular file under ``root`` (symlinks are removed, never followed), then the directories.
    Returns the paths destroyed (or that would be)."""
    if not root.exists():
        return []
    if root.is_file() or root.is_symlink():
        files = [root]
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
    done = []
    for p in files:
        done.append(str(p))
        if dry_run:
            continue
        if p.is_symlink():
            p.unlink()
        else:
            destroy_file(p)
    if not dry_run and root.is_dir():
        shutil.rmtree(root)
        fsync_dir(root.parent)
    return done


def relay_safe(indicators_url: str | None) -> str:
    """Drive the indicator board to its safe state (relay de-energised); what was done, in words."""
    if not indicators_url:
        return "not configured"
    import hal
    from hal.indicators import SAFE_STATE

    try:
        board = hal.open_indicators(indicators_url)
    except Exception as exc:  # a dead board must not stop the wipe: reported
        return f"not reached ({type(exc).__name__}: {exc})"
    try:
        board.apply(SAFE_STATE)
    finally:
        board.close()
    return "safe (de-energised)"


def tell_centre(config: Any, timeout: float = 10.0) -> str:
    """Publish a signed ``decommissioned`` status as the gate, with its own key and certificate."""
    import paho.mqtt.client as mqtt

    from agent import keys as keyfiles
    from agent.protocol import topics
    from agent.protocol.envelope import seal
    from agent.provision.broker import Endpoint, LinkProblem, connect, new_client

    lc = config.link
    if not lc.enabled or lc.ca_file is None:
        return "not told (no TLS link configured): retire the gate at the centre by hand"
    key = keyfiles.load_signing_key(lc.device_key or Path(config.gate.state_dir) / "device.key")
    body = {"id": uuid.uuid4().hex, "ts": time.time(), "gate": config.gate.id, "session": 0,
            "state": "offline", "kind": "decommissioned"}
    ep = Endpoint(lc.host, lc.port, True)
    client = new_client(config.gate.id, ep, ca=lc.ca_file, cert=lc.cert_file, key=lc.key_file)
    try:
        connect(client, ep, timeout)
    except LinkProblem as exc:
        return f"not told ({exc}): retire the gate at the centre by hand"
    try:
        info: mqtt.MQTTMessageInfo = client.publish(topics.gate(config.gate.id, topics.STATUS),
                                                    seal("status", body, [key]), qos=1, retain=True)
        info.wait_for_publish(timeout)
        told = info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    return "told (signed decommissioned status)" if told else "not told (no PUBACK): retire the gate by hand"


def vacuum_journal(run: Callable[..., Any] = subprocess.run) -> str:
    """Rotate and drop the systemd journal (the appliance's logs); what was done."""
    if shutil.which("journalctl") is None:
        return "no journal"
    for args in (["journalctl", "--rotate"], ["journalctl", "--vacuum-time=1s"]):
        run(args, capture_output=True, timeout=60, check=False)
    return "rotated and vacuumed"


def decommission(config_path: Path, state: Path, *, dry_run: bool = False, journal: bool = False,
                 notify: bool = True) -> dict[str, Any]:
    """Relay safe, centre told, every file destroyed (see the module docstring). ``journal``: vacuum the
    systemd journal too (on the appliance). ``notify``: tell the centre (the remote command has already).
    Returns ``{"destroyed": [paths], "relay": …, "centre": …, "journal": …}``."""
    from agent.config import load_config
    from agent.errors import AgentError

    config = None
    try:
        config = load_config(config_path)
    except (AgentError, OSError, ValueError) as exc:
        logger.warning("wipe: config unreadable, wiping the state directory only", extra={"fields": {"error": str(exc)}})
    relay = "not reached (no config)" if config is None else (
        "would be made safe" if dry_run else relay_safe(config.devices.indicators))
    centre = "not told (no config)"
    if config is not None and notify:
        centre = "would be told" if dry_run else tell_centre(config)
    elif not notify:
        centre = "told by the command's signed result"
    destroyed = destroy_tree(state, dry_run=dry_run)
    if config_path.exists():
        destroyed += destroy_tree(config_path, dry_run=dry_run)
    logs = ("would be vacuumed" if dry_run else vacuum_journal()) if journal else "not touched"
    logger.warning("gate decommissioned", extra={"fields": {"files": len(destroyed), "relay": relay, "centre": centre}})
    return {"destroyed": destroyed, "relay": relay, "centre": centre, "journal": logs}
