"""The image's firewall ruleset checked by nft itself (``nft -c``: parsed and resolved, nothing loaded)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.paths import IMAGES

NFT = "/usr/sbin/nft"  # Debian's nftables; ./tools/dev installs it


def nft_check(directory: Path, etc: Path) -> subprocess.CompletedProcess[str]:
    """Check the shipped ``nftables.conf`` with its ``/etc/sharaka/`` includes taken from ``etc``; the
    copy is written to ``directory``. Skips only where the kernel refuses ``nft -c`` (no CAP_NET_ADMIN)."""
    conf = directory / "nftables.conf"
    conf.write_text((IMAGES / "rootfs/etc/nftables.conf").read_text().replace("/etc/sharaka/", f"{etc}/"))
    out = subprocess.run([NFT, "-c", "-f", str(conf)], capture_output=True, text=True)
    if "Operation not permitted" in out.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    return out
