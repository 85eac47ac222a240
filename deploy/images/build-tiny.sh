#!/usr/bin/env bash
# Build the Stratus tiny guest image: a qcow2 of about 10 MB that SeaBIOS boots in seconds under software emulation.
#
#   deploy/images/build-tiny.sh [--force] OUTPUT.qcow2
#
# Offline, from Debian packages only (installed with apt-get when missing): the Debian kernel (linux-image-amd64)
# and a few of its modules, busybox-static, dropbear-bin (the SSH server, with its shared libraries and the dynamic
# loader), syslinux. No loop mounts, no downloads: the FAT file system is made in
# a file (mkfs.fat, mtools, syslinux's mtools installer) and copied into a disk file at its partition's offset.
# The guest's behaviour lives in deploy/images/guest/ (copied into the initramfs); see deploy/images/README.md.
#
# Cached: OUTPUT.stamp beside OUTPUT records the inputs (kernel and package versions, a hash of deploy/images/);
# when it matches and OUTPUT exists, nothing is written. --force rebuilds anyway. Concurrent builds of the same
# OUTPUT are serialised with flock on OUTPUT.lock, and OUTPUT is replaced atomically (rename).
#
# Environment: STRATUS_TINY_KERNEL=VERSION picks a kernel under /lib/modules (default: the newest one that has a
# /boot/vmlinuz-VERSION); SOURCE_DATE_EPOCH sets the file times inside the image (default 2024-01-01).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

parse_arguments "$@"

# --- host packages -------------------------------------------------------------------------------------------------
install_missing_packages busybox-static dropbear-bin syslinux syslinux-common mtools dosfstools fdisk qemu-utils cpio \
    kmod gzip genisoimage

# --- the kernel ----------------------------------------------------------------------------------------------------
choose_kernel
[ -f "$vmlinuz" ] || die "$vmlinuz not found"
[ -r "$vmlinuz" ] || die "$vmlinuz is not readable"

# Drivers the guest loads (their dependencies are added, in load order, by modprobe --show-depends):
# virtio NIC and disks, CD-ROMs on IDE (pc), SATA (q35) and virtio-scsi, ISO 9660 and VFAT config drives,
# the ACPI power button with the input event device that busybox acpid reads, and virtio-rng (when the VM has one,
# it seeds the kernel's random generator at once, which the SSH host key waits for).
modules=(virtio_pci virtio_net virtio_blk virtio_scsi ata_piix ahci sr_mod isofs vfat nls_cp437 nls_utf8 button evdev
    virtio_rng)

# Dynamically linked programs from Debian's packages, copied with every shared library ldd resolves and the dynamic
# loader, each at the path ldd prints (the loader finds them in its built-in multiarch directories, no ld.so.cache).
programs=(/usr/sbin/dropbear /usr/bin/dropbearkey)
elf_closure() {
    local program
    for program in "${programs[@]}"; do
        [ -x "$program" ] || die "$program not found"
        echo "$program"
        ldd "$program" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'
    done | LC_ALL=C sort -u
}
mapfile -t elf_files < <(elf_closure)

# --- cache check ---------------------------------------------------------------------------------------------------
stamp_text() {
    echo "stratus tiny image, format 2"
    echo "kernel $kver $(pkg_version "linux-image-$kver") $(stat -c %s "$vmlinuz")"
    echo "busybox-static $(pkg_version busybox-static)"
    echo "syslinux $(pkg_version syslinux) $(pkg_version syslinux-common)"
    echo "dropbear-bin $(pkg_version dropbear-bin)"
    # The libraries come from other packages (libc6, libtomcrypt1, ...): their bytes stand for their versions.
    local file
    for file in "${elf_files[@]}"; do echo "$(sha256sum < "$(readlink -f "$file")" | cut -d' ' -f1)  $file"; done
    echo "modules ${modules[*]}"
    echo "SOURCE_DATE_EPOCH ${SOURCE_DATE_EPOCH:-}"
    # cloud/ is another image's (build-cloud.sh): not an input of this one.
    (cd "$here" && find . -path ./cloud -prune \
        -o -type f ! -name '*.md' ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum)
}
want=$(stamp_text)

lock_output
if output_is_up_to_date "$want"; then
    say "$output is up to date (kernel $kver)"
    exit 0
fi

# --- build ---------------------------------------------------------------------------------------------------------
started=$(date +%s.%N)
epoch=${SOURCE_DATE_EPOCH:-1704067200}
python=${PYTHON:-$(command -v python3 || echo /usr/bin/python3)}
work=$(mktemp -d "$outdir/.tiny-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/initramfs

# Root file system: busybox and its applet links, then the guest's own files.
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,mnt/config,var/log,etc/stratus}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
for file in "${elf_files[@]}"; do
    mkdir -p "$root$(dirname "$file")"
    cp "$(readlink -f "$file")" "$root$file"
done
cp -R "$here/guest/." "$root/"
# Executable bits do not depend on how the repository was checked out: every "#!" file is a program.
elf_paths=" ${elf_files[*]} "
find "$root" -type f ! -path "$root/bin/busybox" | while read -r file; do
    case "$elf_paths" in *" ${file#"$root"} "*) chmod 0755 "$file"; continue ;; esac
    if [ "$(head -c 2 "$file")" = "#!" ]; then chmod 0755 "$file"; else chmod 0644 "$file"; fi
done
"$python" "$here/markers.py" --shell > "$root/etc/stratus/markers.sh"
if [ "$(id -u)" -eq 0 ]; then
    mknod -m 0600 "$root/dev/console" c 5 1  # else the kernel's built-in initramfs provides it
fi

# Kernel modules, decompressed (busybox insmod cannot), and their load order.
: > "$root/etc/stratus/modules"
for module in "${modules[@]}"; do
    modprobe -C /dev/null -S "$kver" --show-depends --ignore-install "$module" \
        || die "kernel $kver has no module $module"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r path; do
    rel=${path#/lib/modules/$kver/}
    case "$rel" in
    *.ko) dest=$rel; decompress=(cat) ;;
    *.ko.xz) dest=${rel%.xz}; decompress=(xz -dc) ;;
    *.ko.zst) dest=${rel%.zst}; decompress=(zstd -dcq) ;;
    *.ko.gz) dest=${rel%.gz}; decompress=(gzip -dc) ;;
    *) die "unexpected module file $path" ;;
    esac
    mkdir -p "$(dirname "$root/lib/modules/$kver/$dest")"
    "${decompress[@]}" "$path" > "$root/lib/modules/$kver/$dest"
    echo "$dest" >> "$root/etc/stratus/modules"
done
[ -s "$root/etc/stratus/modules" ] || die "no modules resolved for kernel $kver"

# initramfs: sorted, owned by root, fixed times.
find "$root" -exec touch -h -d "@$epoch" {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) | gzip -9 -n > "$work/initrd.img"

# FAT file system in a file: kernel, initramfs, syslinux.cfg, then syslinux's boot sector and ldlinux.
cp "$vmlinuz" "$work/vmlinuz"
cp "$here/syslinux.cfg" "$work/syslinux.cfg"
touch -d "@$epoch" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg"
payload=$(( $(stat -c %s "$work/vmlinuz") + $(stat -c %s "$work/initrd.img") ))
fat_mib=$(( (payload + 1048575) / 1048576 + 2 ))
[ "$fat_mib" -ge 8 ] || fat_mib=8
if [ "$fat_mib" -le 30 ]; then cluster=1; else cluster=4; fi   # FAT16 needs 4085..65524 clusters
truncate -s "${fat_mib}M" "$work/fat.img"
mkfs.fat -F 16 -s "$cluster" -h 2048 -n STRATUS -i 5354524e --invariant "$work/fat.img" >/dev/null
export MTOOLS_SKIP_CHECK=1 SOURCE_DATE_EPOCH="$epoch"   # mtools (and so syslinux) stamp files with it
for file in vmlinuz initrd.img syslinux.cfg; do
    mcopy -i "$work/fat.img" -m -o "$work/$file" "::/$file"
done
syslinux --install "$work/fat.img"

# Disk: MBR with syslinux's boot code and one bootable FAT16 partition at 1 MiB.
disk=$work/disk.raw
truncate -s "$(( fat_mib + 1 ))M" "$disk"
printf 'label: dos\nlabel-id: 0x5354524e\nunit: sectors\n\nstart=2048, size=%d, type=e, bootable\n' \
    $(( fat_mib * 2048 )) | sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/fat.img" of="$disk" bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 "$disk" "$work/tiny.qcow2"
chmod 0644 "$work/tiny.qcow2"

mv -f "$work/tiny.qcow2" "$output"
write_stamp "$work" "$want"
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
say "built $output: $(( $(stat -c %s "$output") / 1024 )) KiB, kernel $kver, ${elapsed}s"
