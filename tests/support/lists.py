"""Signed hit-lists and keyrings made with the real `sharaka-hitlist`, laid out as the central node serves them."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from agent.keys import read_public_key
from tools.hitlist_cli import main as hitlist_cli

DOCS = [("UTO", f"L8989{i:04d}") for i in range(400)]


def _records(path: Path, docs) -> Path:
    path.write_text("".join(json.dumps({"kind": "document", "issuing_state": s, "document_number": n,
                                        "reason": "stolen", "ref": f"ref-{n}"}) + "\n" for s, n in docs))
    return path


class Lists:
    """Builds signed lists and keyrings with the real `sharaka-hitlist` into the central node's directories
    (``lists``: LISTS/sltd/, ``keyrings``: the keys directory's keyrings/, as `sharaka-central run` serves them)."""

    def __init__(self, root: Path) -> None:
        self.keys = root / "hlkeys"
        self.lists = root / "lists"
        self.keyrings = self.keys / "keyrings"
        self.dir = self.lists / "sltd"
        self.dir.mkdir(parents=True)
        self.work = root / "work"
        self.work.mkdir()
        assert hitlist_cli(["keygen", "--out", str(self.keys)]) == 0
        self.root_pub = read_public_key(self.keys / "root.pub")

    def snapshot(self, version: int, docs) -> Path:
        out = self.dir / f"snapshot-{version}.bin"
        assert hitlist_cli(["build", "--keys", str(self.keys), "--from", str(_records(self.work / f"r{version}", docs)),
                            "--list-id", "sltd", "--version", str(version), "--out", str(out)]) == 0
        return out

    def delta(self, old: Path, version: int, docs) -> Path:
        full = self.work / f"full-{version}.bin"
        assert hitlist_cli(["build", "--keys", str(self.keys), "--from", str(_records(self.work / f"r{version}", docs)),
                            "--list-id", "sltd", "--version", str(version), "--out", str(full),
                            "--base", str(old)]) == 0
        out = self.dir / f"delta-{version}.bin"
        assert hitlist_cli(["delta", "--keys", str(self.keys), "--from", str(old), "--to", str(full),
                            "--out", str(out)]) == 0
        return full

    def head(self, list_file: Path) -> None:
        tmp = self.work / "head"
        assert hitlist_cli(["head", "--keys", str(self.keys), "--list", str(list_file), "--out", str(tmp)]) == 0
        tmp.replace(self.dir / "head")

    def certify(self, *options: str) -> dict:
        """`sharaka-hitlist certify --keys KEYS OPTIONS --json`: the next keyring; returns its summary."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert hitlist_cli(["certify", "--keys", str(self.keys), *options, "--json"]) == 0
        return json.loads(out.getvalue())
