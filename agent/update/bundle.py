"""Bundle versions and the downgrade guard (docs/update.md "Versions", RELIABILITY 54).

A version is dotted decimal (``1.4.20261203``), compared number by number. The running system's version
is in its root at ``/usr/lib/sharaka-release`` (``VERSION=…``, written by images/build.sh). RAUC runs
``sharaka-gate update check-bundle`` as its pre-install handler, after it verified the bundle's signature
and mounted it, so the version read from the bundle's ``manifest.raucm`` is the signed one: a bundle
older than the running system is refused there and RAUC writes nothing.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from agent.errors import BadDataError, RefusedError

RELEASE_FILE = Path("/usr/lib/sharaka-release")
COMPATIBLE = "sharaka-gate-arm64"
# RAUC's [system] bundle-formats on a gate (images/rauc/system.conf): a plain bundle is checked once, then read
# again for the install, so it can be changed in between; verity (and crypt) bundles are checked block by block
BUNDLE_FORMATS = "-plain"
_VERSION = re.compile(r"\d{1,12}(?:\.\d{1,12}){0,5}")


class DowngradeRefused(RefusedError):
    """The bundle is older than the system running: not installed."""


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.4.20261203"`` -> ``(1, 4, 20261203)``. Raises BadDataError for anything else."""
    if not isinstance(text, str) or not _VERSION.fullmatch(text.strip()):
        raise BadDataError(f"version {text!r}: expected dotted numbers such as '1.4.20261203'")
    return tuple(int(part) for part in text.strip().split("."))


def running_version(release: Path = RELEASE_FILE) -> str:
    """The running system's version from its release file. Raises BadDataError if it has none."""
    for line in Path(release).read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "VERSION":
            value = value.strip().strip('"')
            parse_version(value)
            return value
    raise BadDataError(f"{str(release)!r} has no VERSION= line")


def manifest_version(bundle_dir: Path) -> tuple[str, str]:
    """(compatible, version) from a mounted bundle's ``manifest.raucm``. Raises BadDataError."""
    parser = configparser.ConfigParser(interpolation=None)
    path = Path(bundle_dir) / "manifest.raucm"
    try:
        parser.read_string(path.read_text(), source=str(path))
        update = parser["update"]
        return update["compatible"], update["version"]
    except (KeyError, configparser.Error) as exc:
        raise BadDataError(f"{str(path)!r}: no [update] compatible= and version= ({exc})") from None


def check_not_older(bundle_version: str, running: str) -> None:
    """Refuse (DowngradeRefused) a bundle older than ``running``; the same version may be reinstalled
    (it repairs a damaged other slot)."""
    if parse_version(bundle_version) < parse_version(running):
        raise DowngradeRefused(f"bundle version {bundle_version} is older than the running {running}")
