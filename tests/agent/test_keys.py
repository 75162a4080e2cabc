"""One key module (agent/keys.py) for every side: both file encodings, clear errors, durable root pinning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from agent import keys
from agent.hitlist.format import pack, unpack_frame
from agent.hitlist.limits import DEFAULT_LIMITS
from agent.protocol.envelope import open_signed, seal
from tools.hitlist_cli import main as hitlist_cli


@pytest.mark.parametrize("encoding", ["raw", "hex"])
def test_key_files_load_in_either_encoding(tmp_path, encoding):
    key = keys.generate(tmp_path / "k.key", encoding=encoding)
    assert bytes(keys.load_signing_key(tmp_path / "k.key")) == bytes(key)
    assert keys.read_public_key(tmp_path / "k.key.pub") == bytes(key.verify_key)


def test_hitlist_keygen_public_key_is_accepted_where_the_gate_reads_a_public_key(tmp_path):
    """`sharaka-hitlist keygen` writes hex; `[link] node_pub` and command keys load through the same reader."""
    assert hitlist_cli(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k" / "root.pub").read_text().strip() == keys.read_public_key(tmp_path / "k" / "root.pub").hex()
    assert len(bytes(keys.load_public_key(tmp_path / "k" / "list-1.pub"))) == 32


@pytest.mark.parametrize(
    "content", [b"", b"x" * 31, b"zz" * 32, b"ab" * 31 + b"\n", b"\xff" * 64], ids=["empty", "31-bytes", "not-hex", "short-hex", "binary-64"]
)
def test_bad_key_file_names_file_and_expected_form(tmp_path, content):
    path = tmp_path / "bad.pub"
    path.write_bytes(content)
    with pytest.raises(keys.KeyFileError, match=r"bad\.pub.*32 raw bytes or 64 hex characters"):
        keys.read_public_key(path)


def test_missing_key_file_is_a_key_file_error(tmp_path):
    with pytest.raises(keys.KeyFileError, match="cannot read"):
        keys.load_signing_key(tmp_path / "absent.key")


def test_private_key_readable_by_others_refused(tmp_path):
    keys.generate(tmp_path / "k.key")
    os.chmod(tmp_path / "k.key", 0o644)
    with pytest.raises(keys.KeyFileError, match="0644.*expected 0600"):
        keys.load_signing_key(tmp_path / "k.key")


def test_generate_exclusive_never_overwrites_a_key(tmp_path):
    first = keys.generate(tmp_path / "k.key", exclusive=True)
    with pytest.raises(keys.KeyFileError, match="refusing to overwrite"):
        keys.generate(tmp_path / "k.key", exclusive=True)
    assert bytes(keys.load_signing_key(tmp_path / "k.key")) == bytes(first)


def test_the_two_key_ids_are_the_ones_each_wire_format_carries():
    key = SigningKey.generate()
    frame = unpack_frame(pack("head", b"\x80", [key]), DEFAULT_LIMITS)
    assert frame.sigs[0][0] == keys.list_key_id(key.verify_key)
    wire = seal("ack", {"id": "a", "ts": 1.0, "gate": "g", "ids": []}, [key])
    assert wire[4:12] == keys.message_key_id(key.verify_key)
    assert open_signed("ack", wire, keys.trusted([key.verify_key]))[1] == {keys.message_key_id(key.verify_key)}


def test_root_pinned_durably_once_and_a_different_root_refused(tmp_path):
    state, root, other = tmp_path / "state", tmp_path / "root.pub", tmp_path / "other.pub"
    root.write_bytes(bytes(SigningKey.generate().verify_key))  # raw, as another tool might write it
    other.write_text(bytes(SigningKey.generate().verify_key).hex())
    with pytest.raises(keys.KeyFileError, match="no root key pinned"):
        keys.pinned_root(state)
    pinned = keys.pinned_root(state, root, pin=True)
    assert (state / "root.pub").read_text() == pinned.hex() + "\n"
    assert keys.pinned_root(state) == pinned == keys.pinned_root(state, root)
    with pytest.raises(keys.KeyFileError, match="pinned to another root key"):
        keys.pinned_root(state, other, pin=True)
    assert keys.pinned_root(state) == pinned
    assert not [p for p in Path(state).iterdir() if p.name != "root.pub"], "a temp file was left behind"
