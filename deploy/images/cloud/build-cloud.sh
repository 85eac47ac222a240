#!/usr/bin/env bash
# Build the Stratus cloud-init image: Debian 12 (minbase) with Debian's own cloud-init, ifupdown, isc-dhcp-client
# and openssh-server, booting without systemd so that cloud-init's stages run within a minute or two under
# software emulation. Its job is to let cloud-init, which we did not write, judge our config drive and metadata.
#
#   deploy/images/cloud/build-cloud.sh [--force] OUTPUT.qcow2
#
# Packages come from the Debian mirror at build time (debootstrap); nothing is downloaded when the guest boots.
# No loop mounts: the root file system is made from a directory with `mkfs.ext4 -d`, the boot partition (FAT:
# syslinux, the Debian kernel, a busybox initramfs that loads the drivers and switch_roots) with mtools, and both
# are copied into a disk file at their partitions' offsets. See deploy/images/cloud/README.md.
#
# Cached: OUTPUT.stamp records the inputs (the candidate versions of the guest's packages in the host's apt lists,
# the kernel, the host tools' versions, a hash of deploy/images/cloud/ and of deploy/images/lib.sh); when it matches
# and OUTPUT exists, nothing is written. --force rebuilds anyway. Concurrent builds of the same OUTPUT are serialised
# with flock on OUTPUT.lock; OUTPUT is replaced by a rename. Downloaded packages are kept in OUTPUT's directory
# (.cloud-debs/) for the next build. OUTPUT.packages lists what the guest got (package and version).
#
# Environment: STRATUS_CLOUD_MIRROR (default http://deb.debian.org/debian), STRATUS_TINY_KERNEL=VERSION (the same
# kernel choice as the tiny image), SOURCE_DATE_EPOCH (file times inside the image, default 2024-01-01).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

parse_arguments "$@"
mirror=${STRATUS_CLOUD_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

# What the guest gets on top of minbase. python3-cffi-backend is listed because debootstrap's resolver does not
# follow virtual packages (python3-cryptography needs python3-cffi-backend-api-*).
# net-tools: cloud-init's ifupdown renderer writes routes as `route add` commands. sudo: cloud-init recommends
# it and gives the default user passwordless sudo rights.
guest_packages=(cloud-init python3-cffi-backend ifupdown isc-dhcp-client iproute2 net-tools openssh-server sudo)

# --- host tools ----------------------------------------------------------------------------------------------------
install_missing_packages debootstrap e2fsprogs busybox-static syslinux syslinux-common mtools dosfstools fdisk \
    qemu-utils cpio kmod gzip
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"

# --- the kernel ----------------------------------------------------------------------------------------------------
choose_kernel
[ -r "$vmlinuz" ] || die "$vmlinuz is not readable"

# Drivers loaded by the initramfs (dependencies added in load order by modprobe --show-depends): virtio PCI, NIC
# and disks; the config drive on an IDE (pc) or SATA (q35) CD-ROM; ext4 for the root file system, whose checksum
# code asks for crc32c through the crypto API (a request_module the initramfs cannot answer, so it is loaded
# first). The root file system has no kernel modules of its own.
modules=(virtio_pci virtio_net virtio_blk virtio_scsi ata_piix ahci sr_mod isofs crc32c_generic ext4 button)

# --- cache check ---------------------------------------------------------------------------------------------------
# The guest's package versions are those of the suite's release on the mirror. Asking the mirror (or apt-cache,
# seconds per call) would make the check slow; the host's apt lists say which release the host last saw, so an
# `apt-get update` that brings a new point release rebuilds the image, and --force does otherwise.
# OUTPUT.packages records the versions the guest really got.
release_file=/var/lib/apt/lists/$(echo "${mirror#*://}" | sed 's|/*$||; s|/|_|g')_dists_${suite}_InRelease
suite_release() { grep -m 2 -E '^(Version|Date):' "$1" 2>/dev/null | tr '\n' ' ' || true; }
stamp_text() {
    echo "stratus cloud-init image, format 1"
    echo "suite $suite $mirror $(suite_release "$release_file")"
    echo "guest packages ${guest_packages[*]}"
    echo "kernel $kver $(pkg_version "linux-image-$kver") $(stat -c %s "$vmlinuz")"
    for pkg in debootstrap e2fsprogs busybox-static syslinux; do echo "host $pkg $(pkg_version "$pkg")"; done
    echo "modules ${modules[*]}"
    echo "SOURCE_DATE_EPOCH ${SOURCE_DATE_EPOCH:-}"
    (cd "$here" && find . -type f ! -name '*.md' ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$here/.." && sha256sum lib.sh)
}
want=$(stamp_text)

lock_output
if output_is_up_to_date "$want"; then
    say "$output is up to date"
    exit 0
fi

# --- build ---------------------------------------------------------------------------------------------------------
started=$(date +%s.%N)
epoch=${SOURCE_DATE_EPOCH:-1704067200}
python=${PYTHON:-$(command -v python3 || echo /usr/bin/python3)}
work=$(mktemp -d "$outdir/.cloud-build.XXXXXX")
root=$work/root
cleanup() {
    # debootstrap mounts /proc and /sys inside the target; never let rm walk into them.
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
        umount -l "$mnt" || true
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
debs=$outdir/.cloud-debs
mkdir -p "$debs"

say "debootstrap $suite (minbase + ${guest_packages[*]}) from $mirror"
include=$(IFS=,; echo "${guest_packages[*]}")
if ! debootstrap --variant=minbase --cache-dir="$debs" --include="$include" "$suite" "$root" "$mirror" \
    >"$work/debootstrap.out" 2>&1; then
    tail -n 20 "$work/debootstrap.out" >&2
    [ -f "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed"
fi
cloud_init=$(chroot "$root" dpkg-query -W -f '${Version}' cloud-init)
case "$cloud_init" in 22.4.2*) ;; *) die "expected Debian 12's cloud-init 22.4.2, got $cloud_init" ;; esac
{
    echo "# $suite from $mirror: $(suite_release "$(ls "$root"/var/lib/apt/lists/*_InRelease "$root"/var/lib/apt/lists/*_Release 2>/dev/null | head -n 1)")"
    chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' | LC_ALL=C sort
} > "$work/packages"

# The image's own files, then what a booted image must not share: host keys (cloud-init makes them per instance),
# the machine id, apt's lists and caches, documentation, logs.
cp -R "$here/rootfs/." "$root/"
chmod 0755 "$root/usr/sbin/stratus-init"
mkdir -p "$root/usr/lib/stratus"
"$python" "$here/markers.py" --shell > "$root/usr/lib/stratus/markers.sh"
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/debootstrap "$root"/var/cache/debconf/*-old \
    "$root"/tmp/* "$root"/var/tmp/*
# Clamp the times of what this build made (maintainer scripts' files, bytecode, ours) to the epoch, and only
# those: files from packages keep their packaged times, which is what their bytecode was compiled against (a
# changed source time makes Python recompile every module at each start, many seconds under emulation).
find "$root" -newermt "@${started%.*}" -exec touch -h -d "@$epoch" {} +

# Root file system: ext4 made straight from the directory, a fixed UUID and hash seed, a quarter free.
used_mib=$(du -s --block-size=1M "$root" | cut -f1)
root_mib=$(( used_mib * 5 / 4 + 64 ))
mke2fs_env=(E2FSPROGS_FAKE_TIME="$epoch")
env "${mke2fs_env[@]}" mkfs.ext4 -q -L stratus-root -U 5354524e-0000-4000-8000-000000000001 \
    -E hash_seed=5354524e-0000-4000-8000-000000000002,root_owner=0:0 -m 0 \
    -d "$root" "$work/root.img" "${root_mib}M" >/dev/null

# initramfs: busybox, the init, the drivers (decompressed: busybox insmod cannot) in load order.
initramfs=$work/initramfs
mkdir -p "$initramfs"/{bin,dev,proc,sys,newroot,etc,lib/modules}
cp /bin/busybox "$initramfs/bin/busybox"
for applet in sh mount umount insmod findfs switch_root sleep cut; do ln -s busybox "$initramfs/bin/$applet"; done
install -m 0755 "$here/initramfs/init" "$initramfs/init"
mknod -m 0600 "$initramfs/dev/console" c 5 1
: > "$initramfs/etc/modules.order"
for module in "${modules[@]}"; do
    modprobe -C /dev/null -S "$kver" --show-depends --ignore-install "$module" \
        || die "kernel $kver has no module $module"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r path; do
    name=$(basename "$path")
    case "$name" in
    *.ko) cp "$path" "$initramfs/lib/modules/$name" ;;
    *.ko.xz) xz -dc "$path" > "$initramfs/lib/modules/${name%.xz}"; name=${name%.xz} ;;
    *.ko.zst) zstd -dcq "$path" > "$initramfs/lib/modules/${name%.zst}"; name=${name%.zst} ;;
    *) die "unexpected module file $path" ;;
    esac
    echo "$name" >> "$initramfs/etc/modules.order"
done
find "$initramfs" -exec touch -h -d "@$epoch" {} +
(cd "$initramfs" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) | gzip -9 -n > "$work/initrd.img"

# Boot partition: FAT16 with the kernel, the initramfs, syslinux.cfg, and syslinux's boot sector.
cp "$vmlinuz" "$work/vmlinuz"
cp "$here/syslinux.cfg" "$work/syslinux.cfg"
touch -d "@$epoch" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg"
fat_mib=32
truncate -s "${fat_mib}M" "$work/fat.img"
mkfs.fat -F 16 -s 4 -h 2048 -n STRATUSBOOT -i 5354524e --invariant "$work/fat.img" >/dev/null
export MTOOLS_SKIP_CHECK=1 SOURCE_DATE_EPOCH="$epoch"
for file in vmlinuz initrd.img syslinux.cfg; do
    mcopy -i "$work/fat.img" -m -o "$work/$file" "::/$file"
done
syslinux --install "$work/fat.img"

# Disk: MBR with syslinux's boot code, the bootable FAT16 partition at 1 MiB, the ext4 root right after it.
disk=$work/disk.raw
truncate -s "$(( 1 + fat_mib + root_mib ))M" "$disk"
printf 'label: dos\nlabel-id: 0x5354524e\nunit: sectors\n\nstart=2048, size=%d, type=e, bootable\nstart=%d, size=%d, type=83\n' \
    $(( fat_mib * 2048 )) $(( (1 + fat_mib) * 2048 )) $(( root_mib * 2048 )) \
    | sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/fat.img" of="$disk" bs=1M seek=1 conv=notrunc status=none
dd if="$work/root.img" of="$disk" bs=1M seek=$(( 1 + fat_mib )) conv=notrunc,sparse status=none
qemu-img convert -c -f raw -O qcow2 "$disk" "$work/cloud.qcow2"
chmod 0644 "$work/cloud.qcow2"

mv -f "$work/cloud.qcow2" "$output"
mv -f "$work/packages" "$output.packages"
write_stamp "$work" "$want"
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
say "built $output: $(( $(stat -c %s "$output") / 1048576 )) MiB (virtual $(( 1 + fat_mib + root_mib )) MiB)," \
    "cloud-init $cloud_init, kernel $kver, ${elapsed}s"
