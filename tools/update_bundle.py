"""`sharaka-update`: the update key and signed RAUC bundles of the gate's root file system (docs/update.md).

    sharaka-update keygen --out DIR
    sharaka-update build --keys DIR --rootfs DIR|EXT4 --version V --out FILE [--format verity|plain]
    sharaka-update verify FILE --keyring CA.pem [--json]

``keygen`` makes the update CA (``DIR/update-ca.pem``: the keyring every gate pins in
/etc/rauc/keyring.pem) and a signing certificate it issues, restricted to code signing, with their
private keys 0600 (P-256, openssl). ``build`` makes the root file system image (a directory is packed with
``mkfs.ext4 -d``, an ext4 image is taken as it is) and signs the bundle with ``rauc bundle``. ``verify``
checks a bundle as a gate does (``rauc info`` against the keyring, purpose codesign) and prints its
version, size and sha256: the figures the centre signs into its ``update`` command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent.errors import BadDataError, UsageError, command_path, run_command
from agent.update.bundle import BUNDLE_FORMATS, COMPATIBLE, parse_version
from agent.update.rauc import Rauc, existing_file

CERT_DAYS = 3650
KEY_ALG = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
SIGNING_EXT = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n"


def _openssl(*args: str) -> None:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BadDataError(f"openssl {args[0]} failed: {out.stderr.strip()}")


def keygen(args: argparse.Namespace) -> dict[str, Any]:
    """The update CA and a code-signing certificate issued by it, in ``args.out`` (never overwritten)."""
    out: Path = args.out
    names = ["update-ca.pem", "update-ca.key", "signing.pem", "signing.key"]
    if any((out / n).exists() for n in names):
        raise UsageError(f"{str(out)!r} already holds update keys; choose an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ext_sign, csr = Path(tmp, "sign.ext"), Path(tmp, "sign.csr")
            ext_sign.write_text(SIGNING_EXT)
            _openssl("req", "-x509", *KEY_ALG, "-keyout", str(out / "update-ca.key"), "-out", str(out / "update-ca.pem"),
                     "-days", str(CERT_DAYS), "-subj", "/O=Sharaka Gate/CN=Sharaka update CA",
                     "-extensions", "v3_ca", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
            _openssl("req", *KEY_ALG, "-keyout", str(out / "signing.key"), "-out", str(csr),
                     "-subj", "/O=Sharaka Gate/CN=Sharaka update signing")
            _openssl("x509", "-req", "-in", str(csr), "-CA", str(out / "update-ca.pem"), "-CAkey",
                     str(out / "update-ca.key"), "-CAcreateserial", "-CAserial", str(Path(tmp, "ca.srl")),
                     "-out", str(out / "signing.pem"), "-days", str(CERT_DAYS), "-extfile", str(ext_sign))
    finally:
        os.umask(old)
    for n in ("update-ca.pem", "signing.pem"):
        (out / n).chmod(0o644)
    return {"keyring": str(out / "update-ca.pem"), "signing_cert": str(out / "signing.pem")}


def _not_a_rootfs(what: str) -> BadDataError:
    exc = BadDataError(what)
    exc.remedy = "give an ext4 image or a directory to pack"
    return exc


def rootfs_image(src: Path, work: Path) -> Path:
    """``src`` as an ext4 image: an image is used as it is, a directory is packed (``mkfs.ext4 -d``) into
    an image a quarter larger than its contents (RAUC grows it to the slot, ``resize=true``)."""
    if not src.exists():
        raise FileNotFoundError(2, "No such file or directory", str(src))
    if src.is_file():
        with src.open("rb") as f:  # the ext4 superblock's magic, 0xEF53 at byte 1080
            f.seek(1080)
            magic = f.read(2)
        if magic != b"\x53\xef":
            what = "empty" if src.stat().st_size == 0 else "no ext4 superblock"
            raise _not_a_rootfs(f"--rootfs {str(src)!r}: not an ext4 image ({what})")
        return src
    if not src.is_dir():  # /dev/null, a pipe: "no such file" was not the reason
        raise _not_a_rootfs(f"--rootfs {str(src)!r}: not a regular file or a directory")
    used = sum(p.lstat().st_size for p in src.rglob("*")) + (8 << 20)
    image = work / "rootfs.ext4"
    with image.open("wb") as f:
        f.truncate(max(used * 5 // 4, 16 << 20) // 4096 * 4096)
    out = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "sharaka-root", "-d", str(src), str(image)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BadDataError(f"mkfs.ext4 -d {str(src)!r} failed: {out.stderr.strip()}")
    return image


def build(args: argparse.Namespace) -> dict[str, Any]:
    """A signed bundle of one root file system image for the ``rootfs`` slots."""
    parse_version(args.version)
    keys: Path = args.keys
    for n in ("signing.pem", "signing.key"):
        if not (keys / n).is_file():
            raise FileNotFoundError(2, "No such file", str(keys / n))
    if args.out.exists():
        raise UsageError(f"{str(args.out)!r} exists; bundles are never overwritten")
    with tempfile.TemporaryDirectory(dir=args.out.parent) as tmp:
        content = Path(tmp, "content")
        content.mkdir()
        image = rootfs_image(args.rootfs, Path(tmp))
        os.link(image, content / "rootfs.ext4") if image.parent == Path(tmp) else shutil.copyfile(image, content / "rootfs.ext4")
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={COMPATIBLE}\nversion={args.version}\n\n[bundle]\nformat={args.format}\n\n"
            "[image.rootfs]\nfilename=rootfs.ext4\n"
        )
        out = subprocess.run(["rauc", "bundle", f"--cert={keys / 'signing.pem'}", f"--key={keys / 'signing.key'}",
                              str(content), str(args.out)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise BadDataError(f"rauc bundle failed: {out.stderr.strip()}")
    return describe(args.out) | {"version": args.version}


def describe(bundle: Path) -> dict[str, Any]:
    """Size and sha256 of a bundle file: what the centre's signed offer carries."""
    digest = hashlib.sha256()
    with bundle.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return {"bundle": str(bundle), "size": bundle.stat().st_size, "sha256": digest.hexdigest()}


def verify(args: argparse.Namespace) -> dict[str, Any]:
    """Check the bundle's signature and compatible string as a gate would; its version, size and hash."""
    existing_file(args.keyring)
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "system.conf")
        conf.write_text(f"[system]\ncompatible={COMPATIBLE}\nbootloader=noop\nbundle-formats={BUNDLE_FORMATS}\n\n"
                        f"[keyring]\npath={args.keyring.resolve()}\n"
                        "check-purpose=codesign\n")
        info = Rauc(conf=conf).info(args.bundle)
    if info.get("compatible") != COMPATIBLE:
        raise BadDataError(f"bundle for {info.get('compatible')!r}, expected {COMPATIBLE!r}")
    return describe(args.bundle) | {"version": info.get("version"), "compatible": info.get("compatible")}


def build_parser() -> argparse.ArgumentParser:
    """The ``sharaka-update`` argument parser."""
    parser = argparse.ArgumentParser(prog="sharaka-update", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    k = sub.add_parser("keygen", help="the update CA and a code-signing certificate")
    k.add_argument("--out", type=Path, required=True, metavar="DIR")
    k.set_defaults(func=keygen)
    b = sub.add_parser("build", help="a signed bundle of a root file system")
    b.add_argument("--keys", type=Path, required=True, metavar="DIR", help="sharaka-update keygen's directory")
    b.add_argument("--rootfs", type=Path, required=True, metavar="IMAGE", help="an ext4 image, or a directory to pack")
    b.add_argument("--version", required=True, help="dotted numbers, e.g. 1.4.20261203")
    b.add_argument("--out", type=Path, required=True, metavar="FILE")
    b.add_argument("--format", choices=("verity", "plain"), default="verity",
                   help="verity (default; needs dm-verity on the gate) or plain (refused by gates: test rigs only)")
    b.set_defaults(func=build)
    v = sub.add_parser("verify", help="check a bundle against the update CA")
    v.add_argument("bundle", type=Path, metavar="FILE")
    v.add_argument("--keyring", type=Path, required=True, metavar="FILE", help="the update CA (update-ca.pem)")
    v.set_defaults(func=verify)
    for p in (k, b, v):
        p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``sharaka-update`` command; errors as in docs/adr/0001-errors.md."""
    args = build_parser().parse_args(argv)

    def go() -> int:
        result = args.func(args)
        print(json.dumps(result, sort_keys=True) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
        return 0

    return run_command("sharaka-update", command_path(args), go)


if __name__ == "__main__":
    sys.exit(main())
