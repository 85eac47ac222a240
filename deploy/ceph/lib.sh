# shellcheck shell=bash
# What up.sh, down.sh, status.sh and install.sh share, sourced right after `set -euo pipefail`: messages, the paths
# of the single-node cluster under <state_dir>/ceph, and how a daemon is found again by its pid file.
#
# Layout of <state_dir>/ceph (mode 700):
#   ceph.conf                    the cluster's configuration; clients use it too (no secret in it)
#   ceph.client.admin.keyring    the admin key (mode 600), for these scripts only
#   ceph.client.stratus.keyring  the cloud's cephx user (mode 600): the volume service and QEMU's librbd use it
#   mon/ mgr/ osd/               the daemons' data (the OSD's BlueStore is the sparse file osd/ceph-0/block)
#   run/ log/                    pid files, admin sockets, logs

# shellcheck disable=SC2034  # the variables below are read by the scripts that source this file
prog=${0##*/}

die() { echo "ceph/$prog: $*" >&2; exit 1; }
say() { echo "ceph/$prog: $*"; }

# Daemons of the cluster, in start order (stopped in reverse): name, ceph id.
DAEMONS=(mon:a mgr:x osd:0)
# Pools the cloud uses: volumes (volume_rbd_pool), images (image_rbd_pool), backups, and instance root disks (vms,
# images_rbd_pool).
POOLS=(volumes images backups vms)
CEPH_USER=stratus

# parse_state_dir [STATE_DIR]: the cloud's state directory (default: $STRATUS_STATE_DIR, else .stratus in the
# repository, as common.settings has it). Sets state (absolute), dir (its ceph/), conf, run, log.
parse_state_dir() {
    [ $# -le 1 ] || die "usage: $prog [STATE_DIR]"
    local repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    state=${1:-${STRATUS_STATE_DIR:-$repo/.stratus}}
    case $state in /*) ;; *) state=$repo/$state ;; esac
    dir=$state/ceph
    conf=$dir/ceph.conf
    run=$dir/run
    log=$dir/log
}

# pid_of KIND ID: the pid of that daemon of this cluster when it runs (its pid file names a live process whose
# command line holds this cluster's ceph.conf), else nothing. A zombie counts as stopped.
pid_of() {
    local pid_file="$run/ceph-$1.$2.pid" pid
    [ -f "$pid_file" ] || return 0
    pid=$(cat "$pid_file" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [ -r "/proc/$pid/cmdline" ] || return 0
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-c $conf " && echo "$pid"
    return 0
}

# ceph_admin ARGS...: the ceph CLI as client.admin of this cluster, never waiting long for an absent monitor.
ceph_admin() {
    ceph -c "$conf" --connect-timeout 10 "$@"
}
