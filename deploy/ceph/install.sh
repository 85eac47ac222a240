#!/usr/bin/env bash
# Install what a single-node Ceph and the cloud's rbd backend need, only what is missing: Debian's packages
# (monitor, manager, OSD, the CLI, librados/librbd's Python modules, QEMU's rbd driver) and, in the virtualenv, the
# two modules `rados` and `rbd` alone.
#
# Debian builds python3-rados/python3-rbd for its own /usr/bin/python3 (3.11). The virtualenv must not see the rest
# of Debian's dist-packages (other versions of what pip installed), so this puts symbolic links to just those two
# extension modules in .venv/ceph-bindings/ and names that directory in .venv's site-packages/stratus-ceph.pth.
# Usage: install.sh [VENV] (default: the repository's .venv; skipped when it does not exist yet).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/ceph/lib.sh
. "$here/lib.sh"

PACKAGES=(ceph-mon ceph-mgr ceph-osd ceph-common python3-rbd python3-rados qemu-block-extra)
DIST=/usr/lib/python3/dist-packages

install_packages() {
    local missing=() pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (install them as root): ${missing[*]}"
    say "installing ${missing[*]}"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

link_bindings() {
    local venv=$1 tag site module target
    [ -x "$venv/bin/python" ] || return 0
    tag=$("$venv/bin/python" -c 'import sys; print(f"cpython-{sys.version_info[0]}{sys.version_info[1]}")')
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    mkdir -p "$venv/ceph-bindings"
    for module in rados rbd; do
        target=$(compgen -G "$DIST/$module.$tag-*.so" | head -n 1 || true)
        [ -n "$target" ] || die "$DIST has no $module module for the virtualenv's Python ($tag)"
        ln -sfn "$target" "$venv/ceph-bindings/${target##*/}"
    done
    (cd "$venv/ceph-bindings" && pwd) >"$site/stratus-ceph.pth"
}

[ $# -le 1 ] || die "usage: $prog [VENV]"
install_packages
link_bindings "${1:-$(cd "$here/../.." && pwd)/.venv}"
