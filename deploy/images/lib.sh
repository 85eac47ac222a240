# shellcheck shell=bash
# What build-tiny.sh and cloud/build-cloud.sh do alike, sourced by both right after `set -euo pipefail`, so that the
# two image builds take their arguments, install host packages, choose the kernel and cache their output the same
# way. Messages carry the sourcing script's name. The functions set globals that the scripts read (force, output,
# outdir, stamp; kver, vmlinuz). Both images' stamps hash this file, as part of their build scripts.

prog=${0##*/}

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*"; }

# parse_arguments "$@": [--force] OUTPUT.qcow2. Sets force (1 with --force), output (absolute, its directory made),
# outdir and stamp (OUTPUT.stamp).
parse_arguments() {
    force=0
    if [ "${1:-}" = "--force" ]; then force=1; shift; fi
    [ $# -eq 1 ] && [ -n "$1" ] || die "usage: $prog [--force] OUTPUT.qcow2"
    output=$1
    mkdir -p "$(dirname "$output")"
    output="$(cd "$(dirname "$output")" && pwd)/$(basename "$output")"
    # shellcheck disable=SC2034  # read by the scripts
    outdir=$(dirname "$output")
    stamp="$output.stamp"
}

# install_missing_packages PACKAGE...: checks each with dpkg-query and installs only what is missing (as root), with
# linux-image-amd64 when /boot holds no kernel for choose_kernel to find.
install_missing_packages() {
    local packages=("$@") missing=() pkg status
    if ! compgen -G '/boot/vmlinuz-*' >/dev/null; then packages+=(linux-image-amd64); fi
    for pkg in "${packages[@]}"; do
        status=$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" -eq 0 ] || die "missing packages (install them as root): ${missing[*]}"
        say "installing ${missing[*]}"
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

# choose_kernel: the Debian package's kernel, never the host's running one. Sets kver (STRATUS_TINY_KERNEL, else the
# newest version with both /boot/vmlinuz-VERSION and /lib/modules/VERSION/modules.dep) and vmlinuz (its path; the
# scripts check it).
choose_kernel() {
    local dir
    if [ -n "${STRATUS_TINY_KERNEL:-}" ]; then
        kver=$STRATUS_TINY_KERNEL
    else
        kver=""
        for dir in $(ls -1 /lib/modules | sort -V); do
            [ -f "/boot/vmlinuz-$dir" ] && [ -f "/lib/modules/$dir/modules.dep" ] && kver=$dir
        done
    fi
    [ -n "$kver" ] || die "no kernel with both /boot/vmlinuz-VERSION and /lib/modules/VERSION/modules.dep"
    # shellcheck disable=SC2034  # read by the scripts
    vmlinuz=/boot/vmlinuz-$kver
}

pkg_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown; }

# lock_output: holds OUTPUT.lock (file descriptor 9) until the script exits, so that builds of the same OUTPUT run
# one after the other and the second finds the first's output up to date.
lock_output() {
    exec 9>"$output.lock"
    flock 9
}

# output_is_up_to_date STAMP_TEXT: OUTPUT exists, its stamp records these inputs, and there was no --force.
output_is_up_to_date() {
    [ "$force" -eq 0 ] && [ -f "$output" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$1" ]
}

# write_stamp WORK_DIR STAMP_TEXT: replaces OUTPUT.stamp by a rename from the build's WORK_DIR. Called once OUTPUT is
# in place, so that the stamp never vouches for an output that was not built from the inputs it records.
write_stamp() {
    printf '%s\n' "$2" > "$1/stamp"
    mv -f "$1/stamp" "$stamp"
}
