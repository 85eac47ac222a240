#!/usr/bin/env bash
# Install what Stratus needs on one Debian 12 machine: system packages, then the Python virtualenv.
#
# Idempotent and quick on a second run: apt is only touched when a package is missing, and pip only runs
# when pyproject.toml changed since the last install. Starting daemons is
# not done here (see start-system-services.sh and `stratus-manage services up`).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    # broker and database; Redis Sentinel watches the primary and promotes a replica (`make up HA=1`, manage/redis_ha.py)
    redis-server redis-sentinel postgresql
    # several API processes behind one address (`make up HA=1`, manage/api_proxy.py): HAProxy as a process of the cloud
    haproxy
    # LDAP-backed identity domains: the functional tests run a real OpenLDAP slapd (ldap-utils for debugging one)
    slapd ldap-utils
    # compute dataplane: libvirt + QEMU (software emulation when /dev/kvm is absent)
    qemu-system-x86 qemu-utils libvirt-daemon-system
    # virt-xml-validate (unit tests check our domain XML against libvirt's schema) needs xmllint
    libvirt-clients libxml2-utils
    # network dataplane: bridges, VXLAN, namespaces, DHCP, security groups
    dnsmasq-base nftables iproute2 iputils-ping tcpdump
    # routers: gratuitous ARP when a floating IP moves, and flushing its stale connection tracking entries
    iputils-arping conntrack
    # volume backups: libnbd's Python binding reads qcow2 volumes and their dirty bitmaps from qemu-nbd
    python3-libnbd
    # guest image and config drive building (deploy/images/)
    genisoimage mtools dosfstools fdisk syslinux syslinux-common busybox-static linux-image-amd64 dropbear-bin
    # the cloud-init image (deploy/images/cloud/): a Debian root file system made into ext4 without mounting it
    debootstrap e2fsprogs
    # the end-to-end tests log in to guests over SSH
    openssh-client
    # Python and what libvirt-python needs to build (it ships no wheels)
    python3 python3-venv python3-dev gcc libvirt-dev pkg-config
    # pgrep/pkill used by the scripts
    procps
    # portal browser tests: headless Chromium and its driver (Playwright drives /usr/bin/chromium)
    chromium chromium-driver
)

VENV=.venv
STAMP="$VENV/.stratus-install-stamp"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "install-deps: system packages present"
        return
    fi
    echo "install-deps: installing ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# A content hash, not an mtime: a git checkout touches files without changing what an install depends on
# (the editable install maps the top-level package directories, which pyproject.toml lists).
install_fingerprint() {
    sha256sum pyproject.toml | cut -d' ' -f1
}

install_python() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "install-deps: $python must be Python >= 3.11 with the venv module" >&2
        exit 1
    fi
    [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
    local want
    want="$(install_fingerprint)"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        echo "install-deps: $VENV up to date"
        return
    fi
    # pip and the build backend are chatty; keep their output in a file and show it only when it failed.
    local log="$VENV/pip-install.log"
    echo "install-deps: installing the project into $VENV (log: $log)"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e '.[dev]'; } \
        >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "install-deps: pip install failed; full log in $log" >&2
        exit 1
    fi
    echo "$want" >"$STAMP"
    echo "install-deps: $VENV installed"
}

# Debian's libnbd binding is built for Debian's python3 (3.11); the virtualenv's Python finds it through a .pth
# naming a directory that holds just that module, so no other system package leaks into the virtualenv.
link_nbd_binding() {
    local dist=/usr/lib/python3/dist-packages site module
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    mkdir -p "$VENV/nbd-binding"
    for module in "$dist/nbd.py" "$dist"/libnbdmod.cpython-311-*.so; do
        [ -e "$module" ] && ln -sfn "$module" "$VENV/nbd-binding/${module##*/}"
    done
    (cd "$VENV/nbd-binding" && pwd) >"$site/stratus-nbd.pth"
}

# The portal's front-end libraries (htmx) from the npm registry, exactly as package-lock.json pins them;
# node_modules is not committed. Skipped when the installed tree already matches the lock file.
install_portal_assets() {
    local dir=portal/assets
    local stamp="$dir/node_modules/.stratus-lock-sha256"
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "install-deps: portal assets up to date"
        return
    fi
    if ! command -v npm >/dev/null; then
        echo "install-deps: npm not found; the portal works without htmx but loses live updates" >&2
        return
    fi
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
    echo "install-deps: portal assets installed"
}

install_packages
install_python
link_nbd_binding
install_portal_assets
