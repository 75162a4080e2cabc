#!/bin/bash
# Build the Sharaka Gate SD-card image for Raspberry Pi 4 (arm64, Debian 12 bookworm; the Pi 5: docs/update.md).
#
#   sudo SHARAKA_UPDATE_KEYRING=update-ca.pem images/build.sh [OUTDIR]
#                                          full build: stage, root tree (mkosi), disk image (systemd-repart)
#   images/build.sh stage [OUTDIR]         only stage the extra tree (no root needed; used by the tests)
#
# Needs on the build host (Debian 12): mkosi systemd-container systemd-repart debootstrap dosfstools mtools
# e2fsprogs u-boot-tools (mkimage) qemu-user-static binfmt-support (for the arm64 chroot on an x86 host), python3-venv.
# Reproducible: pinned Python wheels (pyproject.toml), SOURCE_DATE_EPOCH from the last commit, and
# partition UUIDs derived from a fixed seed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
VERB=build
if [ "${1:-}" = stage ]; then VERB=stage; shift; fi
OUT=$(realpath -m "${1:-$REPO/build/image}")
EXTRA=$OUT/extra
BOOTFILES=$OUT/bootfs  # the boot partition's own files (images/boot)
# Seed for partition and file-system UUIDs: same inputs, same image.
SEED=${SHARAKA_IMAGE_SEED:-5d4a8a4e-3c4b-4c52-9d0e-7a1f2b3c4d5e}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || echo 0)}
# The system's version (dotted numbers): a gate installs no bundle older than the one it runs.
AGENT_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/pyproject.toml")
VERSION=${SHARAKA_IMAGE_VERSION:-$AGENT_VERSION.$SOURCE_DATE_EPOCH}

stage() {  # the files this repository puts into the root tree, at their final paths and modes
    rm -rf "$EXTRA"
    mkdir -p "$EXTRA"
    cp -a "$HERE/rootfs/." "$EXTRA/"
    install -D -m 0644 -t "$EXTRA/usr/lib/systemd/system" "$HERE"/systemd/*.service "$HERE"/systemd/*.path
    install -D -m 0644 -t "$EXTRA/usr/lib/udev/rules.d" "$HERE"/udev/*.rules
    # At boot, systemd-repart grows the data partition (last on the card) to fill the card.
    install -D -m 0644 "$HERE/repart.d/30-data.conf" "$EXTRA/usr/lib/repart.d/30-sharaka-data.conf"
    install -D -m 0755 "$HERE/firstboot/sharaka-firstboot" "$EXTRA/usr/lib/sharaka/sharaka-firstboot"
    install -D -m 0644 "$HERE/gate.example.toml" "$EXTRA/usr/share/sharaka/gate.example.toml"
    # Signed A/B updates (docs/update.md): RAUC's config, its handlers, the update CA, this system's version.
    install -D -m 0644 "$HERE/rauc/system.conf" "$EXTRA/etc/rauc/system.conf"
    install -D -m 0755 -t "$EXTRA/usr/lib/sharaka" "$HERE/rauc/rauc-bootloader" "$HERE/rauc/rauc-pre-install" \
        "$HERE/rauc/rauc-post-install"
    if [ -n "${SHARAKA_UPDATE_KEYRING:-}" ]; then
        install -D -m 0644 "$SHARAKA_UPDATE_KEYRING" "$EXTRA/etc/rauc/keyring.pem"
    fi
    printf 'VERSION="%s"\n' "$VERSION" > "$EXTRA/usr/lib/sharaka-release"
    chmod 0644 "$EXTRA/etc/fstab" "$EXTRA/etc/nftables.conf"
    find "$EXTRA" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    # The boot partition's own files: the firmware's config.txt and U-Boot's boot script, which chooses the
    # root slot (docs/update.md "Boot selection"); mkimage stamps SOURCE_DATE_EPOCH into its header.
    rm -rf "$BOOTFILES"
    mkdir -p "$BOOTFILES"
    install -m 0644 "$HERE/boot/config.txt" "$BOOTFILES/config.txt"
    mkimage -A arm64 -O linux -T script -C none -n "Sharaka Gate boot selection" \
        -d "$HERE/boot/boot.cmd" "$BOOTFILES/boot.scr" >/dev/null
}

wheelhouse() {  # the agent wheel, plus its dependencies as the exact arm64 wheels of wheels-arm64.lock
    local wh=$EXTRA/opt/sharaka/wheelhouse py=${PYTHON:-python3}
    mkdir -p "$wh"
    "$py" -m pip wheel --no-deps --wheel-dir "$wh" "$REPO"
    "$py" -m pip download --dest "$wh" --no-deps --require-hashes --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform any \
        -r "$HERE/wheels-arm64.lock"
}

stage
[ "$VERB" = stage ] && { echo "$EXTRA"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "build.sh: the image build needs root (debootstrap, nspawn, loop devices)" >&2; exit 1; }
[ -n "${SHARAKA_UPDATE_KEYRING:-}" ] || {
    echo "build.sh: set SHARAKA_UPDATE_KEYRING to the update CA certificate (sharaka-update keygen: update-ca.pem)" >&2
    exit 2; }
wheelhouse

mkdir -p "$OUT/cache"
# mkosi 14 reuses its package-stage cache (sharaka-rootfs.cache-pre-inst) only when a build-script cache
# (cache-pre-dev) exists too, which it never makes without a build script: mark it present, so a rebuild
# skips debootstrap and apt (about 40 min under qemu-user) and reruns only the extra tree and postinst.
# mkosi 14 never compares that cache with the configuration (a package added to mkosi.conf would be missing
# from a cached rebuild): the cache is kept only while mkosi.conf is the one it was made from.
CACHE=$OUT/debian~bookworm/sharaka-rootfs
CONF_SUM=$(sha256sum "$HERE/mkosi.conf" | cut -d' ' -f1)
if [ "$(cat "$CACHE.conf-sha256" 2>/dev/null)" != "$CONF_SUM" ]; then
    rm -rf "$CACHE.cache-pre-inst" "$CACHE.cache-pre-dev"
fi
mkdir -p "$(dirname "$CACHE")"
echo "$CONF_SUM" > "$CACHE.conf-sha256"
if [ -d "$CACHE.cache-pre-inst" ]; then
    mkdir -p "$CACHE.cache-pre-dev"
fi
# --incremental: the package stage is cached in OUT (a rebuild after a recipe or agent change reruns only
# the extra tree and mkosi.postinst); --cache keeps the downloaded .debs; --nspawn-keep-unit: the chroot
# steps run in the caller's unit, so a build host without systemd as PID 1 (a container, CI) works too.
mkosi --directory "$HERE" --output-dir "$OUT" --cache "$OUT/cache" --incremental --nspawn-keep-unit \
    --extra-tree "$EXTRA" --force build
ROOTFS=$OUT/debian~bookworm/sharaka-rootfs  # mkosi 14 puts its output under DISTRIBUTION~RELEASE/
IMG=$OUT/sharaka-gate-arm64.img
rm -f "$IMG"
systemd-repart --empty=create --size=auto --dry-run=no --seed="$SEED" \
    --definitions="$HERE/repart.d" --root="$ROOTFS" "$IMG"
part() {  # "OFFSET SIZE" in bytes of the partition labelled $1
    sfdisk -J "$IMG" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
p = next(p for p in t["partitions"] if p.get("name") == sys.argv[1])
print(p["start"] * t.get("sectorsize", 512), p["size"] * t.get("sectorsize", 512))' "$1"
}
# The boot partition, with mtools: the firmware and device trees raspi-firmware put in the root tree (not its
# config.txt, cmdline.txt or kernel copies: U-Boot loads the kernel from the slot it boots), U-Boot for the
# Raspberry Pi 4, and images/boot's config.txt and boot.scr.
read -r BOOT_START _ < <(part RASPIFIRM)
FIRMWARE=()
for f in "$ROOTFS"/boot/firmware/*; do
    case $(basename "$f") in vmlinuz-*|initrd.img-*|config.txt|cmdline.txt) ;; *) FIRMWARE+=("$f") ;; esac
done
MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -i "$IMG@@$BOOT_START" "${FIRMWARE[@]}" \
    "$ROOTFS/usr/lib/u-boot/rpi_arm64/u-boot.bin" "$BOOTFILES"/* ::/
(cd "$OUT" && sha256sum "$(basename "$IMG")" > "$(basename "$IMG").sha256")
echo "$IMG"
