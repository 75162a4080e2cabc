# Sharaka Gate boot selection (docs/update.md "Boot selection"): choose root slot A or B, use one of its
# boot attempts, and boot that slot's own kernel and initrd. images/build.sh compiles this into boot.scr
# (mkimage) on the boot partition, where U-Boot's distro boot finds it: on a Raspberry Pi 4 the firmware
# starts U-Boot (config.txt: kernel=u-boot.bin, Debian's u-boot-rpi); under QEMU it is U-Boot's qemu_arm64
# build (tools/image_boot.py). Distro boot sets devtype, devnum and distro_bootpart (the boot partition).
#
# The state is RAUC's reference A/B scheme, kept as text in sharaka-boot.state on the boot partition (RAUC's
# custom backend writes it: agent/update/bootstate.py). This script is BootState.boot's step: the first slot
# in BOOT_ORDER with attempts left boots and uses one; with none left anywhere both get 3 again and the first
# in order boots. A fresh image has no state file: A committed (3), B blank (0).
setenv BOOT_ORDER "A B"
setenv BOOT_A_LEFT 3
setenv BOOT_B_LEFT 0
if load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} sharaka-boot.state; then
    env import -t ${kernel_addr_r} ${filesize} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
fi
setenv slot
for s in ${BOOT_ORDER}; do
    if test -z "${slot}"; then
        if test "${s}" = A && test ${BOOT_A_LEFT} -gt 0; then
            setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
            setenv slot A
        elif test "${s}" = B && test ${BOOT_B_LEFT} -gt 0; then
            setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
            setenv slot B
        fi
    fi
done
if test -z "${slot}"; then
    echo "sharaka: no slot has boot attempts left: both get 3 again"
    for s in ${BOOT_ORDER}; do
        if test -z "${slot}"; then
            setenv slot ${s}
        fi
    done
    setenv BOOT_A_LEFT 3
    setenv BOOT_B_LEFT 3
    if test "${slot}" = A; then
        setenv BOOT_A_LEFT 2
    else
        setenv BOOT_B_LEFT 2
    fi
fi
# The attempt is used before the kernel starts: a slot that hangs or panics has spent it.
env export -t ${kernel_addr_r} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
if fatwrite ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} sharaka-boot.state ${filesize}; then
    echo "sharaka: slot ${slot} (attempts left: A ${BOOT_A_LEFT}, B ${BOOT_B_LEFT})"
else
    echo "sharaka: could not write sharaka-boot.state: booting slot ${slot} without using an attempt"
fi
if test "${slot}" = A; then
    setenv rootpart 2
    setenv rootlabel sharaka-root-a
else
    setenv rootpart 3
    setenv rootlabel sharaka-root-b
fi
# Extra kernel arguments (console, debugging) from sharaka-cmdline.txt: one line "sharaka_cmdline=ARGS".
setenv sharaka_cmdline
if load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} sharaka-cmdline.txt; then
    env import -t ${kernel_addr_r} ${filesize} sharaka_cmdline
fi
# Read-only root by its partition label (slot-specific: both slots may carry the same file system), checked
# by the initramfs at every boot; rauc.slot= tells RAUC which slot is running.
setenv bootargs "root=PARTLABEL=${rootlabel} rootwait ro rootflags=noatime,errors=remount-ro fsck.mode=auto fsck.repair=yes rauc.slot=${slot} console=ttyS1,115200 console=tty0 net.ifnames=0 cma=64M systemd.show_status=auto ${sharaka_cmdline}"
setexpr initrd_addr ${kernel_addr_r} + 0x6000000
echo "sharaka: loading /boot/vmlinuz and /boot/initrd.img from ${devtype} ${devnum}:${rootpart} (${rootlabel})"
if load ${devtype} ${devnum}:${rootpart} ${kernel_addr_r} /boot/vmlinuz; then
    if load ${devtype} ${devnum}:${rootpart} ${initrd_addr} /boot/initrd.img; then
        booti ${kernel_addr_r} ${initrd_addr}:${filesize} ${fdt_addr}
    fi
fi
echo "sharaka: slot ${slot} did not boot; resetting (its attempt is spent)"
reset
