"""Layout migration (docs/hitlist.md "Store layout"): a base written in layout 1 (whole fingerprints,
reasons and refs in ``fp.u64``, ``reason.u8``, ``ref.bin``) is rewritten in the current layout at
start-up, as an installation would (new files, new state record, CURRENT switched, old files removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np

from agent.hitlist.layout import BASE_LAYOUT, map_array
from agent.hitlist.table import U64, Entries


@dataclass(frozen=True)
class OldBase:
    """A base in force that is written in layout 1: the state record naming it and its entries."""

    record_name: str
    record: dict
    directory: Path
    entries: Entries

    @property
    def version(self) -> int:
        """The list version the base was written for (from its directory name)."""
        return int(self.directory.name.split("-")[0])


def find_old_base(state_dir: Path) -> OldBase | None:
    """The base in force when it is in layout 1 (memory-mapped, nothing read yet), else None."""
    current = state_dir / "CURRENT"
    if not current.exists():
        return None
    name = current.read_text().strip()
    record = msgpack.unpackb((state_dir / name).read_bytes())
    if not record["base"]:
        return None
    old = state_dir / "bases" / record["base"]
    manifest = msgpack.unpackb((old / "manifest.msgpack").read_bytes())
    if manifest.get("layout", BASE_LAYOUT if "rem_dtype" in manifest else 1) != 1:
        return None
    n, width = manifest["count"], manifest["ref_width"]
    entries = Entries(
        map_array(old / "fp.u64", U64, (n,)), map_array(old / "reason.u8", np.uint8, (n,)),
        map_array(old / "ref.bin", np.uint8, (n, width)), tuple(manifest["reasons"]),
    )  # fmt: skip
    return OldBase(name, record, old, entries)
