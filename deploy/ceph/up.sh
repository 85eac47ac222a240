#!/usr/bin/env bash
# Bring up a single-node Ceph cluster for the cloud, its data under <state_dir>/ceph: one monitor, one manager and
# one OSD whose BlueStore lives in a sparse file, every one of them bound to one address (127.0.0.1, or the control
# node's underlay address when the hosts are host machines, which reach nothing of the machine's loopback; monitor:
# v2 port 3300, v1 6789), then the pools the cloud uses and its cephx user client.stratus (profile rbd on those
# pools). A cluster made on another address moves to the one asked for: its monitor map is rewritten (Ceph's
# "changing a monitor's IP address" procedure) and every daemon binds the new one.
#
# Idempotent: the first run makes the cluster (13-15 s), a run after `down.sh` starts the daemons again from their
# data (about 9 s), a run with the cluster up only checks it. Returns once every placement group is active+clean.
# No systemd: the daemons fork into the background with pid files in <state_dir>/ceph/run (down.sh stops them).
# Usage: up.sh [STATE_DIR] (default: $STRATUS_STATE_DIR, else the repository's .stratus). Environment:
# STRATUS_CEPH_MON_V2_PORT, STRATUS_CEPH_MON_V1_PORT (3300, 6789), STRATUS_CEPH_OSD_GB (32: the OSD's sparse file),
# STRATUS_CEPH_TIMEOUT (120 s for the placement groups), STRATUS_CEPH_ADDRESS (127.0.0.1: the address the daemons bind
# and clients dial).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/ceph/lib.sh
. "$here/lib.sh"
parse_state_dir "$@"

# The sparse file holding the OSD's BlueStore: it grows with the data written and never shrinks.
OSD_SIZE=$((${STRATUS_CEPH_OSD_GB:-32} << 30))
READY_TIMEOUT=${STRATUS_CEPH_TIMEOUT:-120}
ADDRESS=${STRATUS_CEPH_ADDRESS:-127.0.0.1}
[[ $ADDRESS =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "STRATUS_CEPH_ADDRESS: $ADDRESS is not an IPv4 address"
# The monitor's ports, fixed when the cluster is made (tests pick free ones: two clusters may run side by side).
V2_PORT=${STRATUS_CEPH_MON_V2_PORT:-3300}
V1_PORT=${STRATUS_CEPH_MON_V1_PORT:-6789}

mon_address() { echo "[v2:$ADDRESS:$V2_PORT,v1:$ADDRESS:$V1_PORT]"; }

write_conf() {
    local fsid=$1
    cat >"$conf.tmp" <<CONF
# Written by deploy/ceph/up.sh: a single-node cluster on $ADDRESS for this state directory.
[global]
fsid = $fsid
mon_host = $(mon_address)
public_addr = $ADDRESS
cluster_addr = $ADDRESS
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $dir/\$cluster.\$name.keyring
run_dir = $run
# one copy of everything: there is one OSD
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 16
osd_pool_default_pgp_num = 16
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false

[client]
# clients (the volume service, QEMU, the CLI) leave no log or socket behind
log_file =
admin_socket =

[mon]
mon_data = $dir/mon/\$cluster-\$id
keyring = $dir/mon/\$cluster-\$id/keyring
log_file = $log/\$cluster-\$name.log
mon_cluster_log_file = $log/\$cluster.log
pid_file = $run/\$cluster-\$name.pid
# the machine's root file system is shared with everything else: warn only when it is really short
mon_data_avail_warn = 10
mon_data_avail_crit = 3
# one monitor has nobody to batch map changes with: propose them at once (pools, users, the OSD's boot)
paxos_propose_interval = 0.1

[mgr]
mgr_data = $dir/mgr/\$cluster-\$id
keyring = $dir/mgr/\$cluster-\$id/keyring
log_file = $log/\$cluster-\$name.log
pid_file = $run/\$cluster-\$name.pid
# none of the modules that listen on a port (restful, dashboard, prometheus)
mgr_initial_modules = iostat

[osd]
osd_data = $dir/osd/\$cluster-\$id
keyring = $dir/osd/\$cluster-\$id/keyring
log_file = $log/\$cluster-\$name.log
pid_file = $run/\$cluster-\$name.pid
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $OSD_SIZE
# small: the minimum memory target and a fixed 128 MiB cache
osd_memory_target = 939524096
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
CONF
    mv "$conf.tmp" "$conf"
}

start_daemon() {
    local kind=$1 id=$2
    [ -z "$(pid_of "$kind" "$id")" ] || return 0
    # It forks into the background: nothing of ours may stay open in it (the lock, a pipe make reads).
    "ceph-$kind" -c "$conf" -i "$id" </dev/null >>"$log/ceph-$kind.$id.out" 2>&1 9>&- \
        || die "ceph-$kind.$id did not start; see $log/ceph-$kind.$id.log"
}

# The monitor, then the manager's and the OSD's keys (the monitor makes them), then those two. A run that stopped
# half-way leaves no .bootstrapped marker: its daemons are stopped and its data made again (it holds nothing yet).
bootstrap() {
    local fsid osd_uuid osd_key tmp
    if compgen -G "$dir/*" >/dev/null; then
        say "an earlier bring-up did not finish: starting again"
        bash "$here/down.sh" "$state" >/dev/null
        rm -rf "${dir:?}/mon" "${dir:?}/mgr" "${dir:?}/osd" "$dir"/*.keyring "$conf"
    fi
    mkdir -p "$run" "$log" "$dir/mon/ceph-a" "$dir/mgr/ceph-x" "$dir/osd/ceph-0"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    # The initial keyrings live outside the monitor's data directory, or `ceph-mon --mkfs` refuses it.
    tmp=$(mktemp -d "$dir/bootstrap.XXXXXX")
    ceph-authtool "$tmp/mon.keyring" --create-keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$dir/ceph.client.admin.keyring" --create-keyring --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    ceph-authtool "$tmp/mon.keyring" --import-keyring "$dir/ceph.client.admin.keyring" >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "$(mon_address)" "$tmp/monmap" >/dev/null
    ceph-mon -c "$conf" -i a --mkfs --monmap "$tmp/monmap" --keyring "$tmp/mon.keyring" >>"$log/ceph-mon.a.mkfs.log" 2>&1 \
        || die "ceph-mon --mkfs failed; see $log/ceph-mon.a.mkfs.log"
    rm -rf "$tmp"
    start_daemon mon a
    ceph_admin auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
        -o "$dir/mgr/ceph-x/keyring"
    start_daemon mgr x
    prepare_pools
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    osd_key=$(ceph-authtool --gen-print-key)
    printf '{"cephx_secret": "%s"}' "$osd_key" | ceph_admin osd new "$osd_uuid" -i - >/dev/null
    ceph-authtool "$dir/osd/ceph-0/keyring" --create-keyring --name osd.0 --add-key "$osd_key" >/dev/null
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$log/ceph-osd.0.mkfs.log" 2>&1 \
        || die "ceph-osd --mkfs failed; see $log/ceph-osd.0.mkfs.log"
    start_daemon osd 0
    touch "$dir/.bootstrapped"
}

helper() { /usr/bin/python3 "$here/cluster.py" "$@"; }

# conf_value KEY: a [global] value of this cluster's ceph.conf as up.sh wrote it ("KEY = VALUE").
conf_value() { sed -n "s/^$1 = //p" "$conf" | head -n 1; }

# A cluster made on another address (`make up VOLUMES=ceph` before `HOSTS=N` made host machines) moves to the one
# asked for: stopped, its monitor map rewritten (the monitor must find itself at the address it binds), ceph.conf
# written again with the same fsid and ports. The OSD and the manager take the new address from ceph.conf when
# they start; clients find it in ceph.conf.
readdress() {
    local old fsid hosts tmp
    old=$(conf_value public_addr)
    [ "$old" != "$ADDRESS" ] || return 0
    say "moving the cluster from ${old:-an unknown address} to $ADDRESS"
    bash "$here/down.sh" "$state" >/dev/null
    fsid=$(conf_value fsid)
    hosts=$(conf_value mon_host)
    if [[ $hosts =~ v2:[^,]*:([0-9]+),v1:[^]]*:([0-9]+) ]]; then
        V2_PORT=${BASH_REMATCH[1]}
        V1_PORT=${BASH_REMATCH[2]}
    fi
    tmp=$(mktemp -d "$dir/readdress.XXXXXX")
    ceph-mon -c "$conf" -i a --extract-monmap "$tmp/monmap" >>"$log/ceph-mon.a.readdress.log" 2>&1 \
        || die "could not read the monitor map; see $log/ceph-mon.a.readdress.log"
    monmaptool --rm a "$tmp/monmap" >/dev/null
    monmaptool --addv a "$(mon_address)" "$tmp/monmap" >/dev/null
    ceph-mon -c "$conf" -i a --inject-monmap "$tmp/monmap" >>"$log/ceph-mon.a.readdress.log" 2>&1 \
        || die "could not write the monitor map; see $log/ceph-mon.a.readdress.log"
    rm -rf "$tmp"
    write_conf "$fsid"
}

# The cloud's pools and its user (monitor-only work), done again only when the pools change (pools.done says
# which were made and initialised for RBD).
pools_are_ready() {
    [ -f "$dir/pools.done" ] && [ "$(cat "$dir/pools.done")" = "${POOLS[*]}" ] \
        && [ -s "$dir/ceph.client.$CEPH_USER.keyring" ]
}

prepare_pools() {
    pools_are_ready || helper prepare "$conf" "$dir/ceph.client.$CEPH_USER.keyring" "$CEPH_USER" "${POOLS[@]}"
}

init_pools() {
    pools_are_ready && return 0
    helper init "$conf" "${POOLS[@]}"
    echo "${POOLS[*]}" >"$dir/pools.done"
}

main() {
    local started=$SECONDS daemon stopped=() health
    bash "$here/install.sh"
    umask 077
    mkdir -p "$dir"
    chmod 700 "$dir"
    exec 9>"$state/ceph.lock"
    flock 9
    if [ ! -f "$dir/.bootstrapped" ]; then
        say "creating a single-node cluster in $dir"
        bootstrap
    else
        readdress
        for daemon in "${DAEMONS[@]}"; do
            [ -n "$(pid_of "${daemon%%:*}" "${daemon#*:}")" ] || stopped+=("$daemon")
        done
        if [ ${#stopped[@]} -eq 0 ] && pools_are_ready; then
            health=$(helper wait "$conf" 5 2>/dev/null) && { say "running: $health"; return 0; }
        fi
        for daemon in "${stopped[@]}"; do
            say "starting ceph-${daemon%%:*}.${daemon#*:}"
            start_daemon "${daemon%%:*}" "${daemon#*:}"
        done
        prepare_pools
    fi
    helper wait "$conf" "$READY_TIMEOUT" >/dev/null || die "see the logs in $log"
    init_pools
    health=$(helper wait "$conf" "$READY_TIMEOUT") || die "see the logs in $log"
    say "up in $((SECONDS - started)) s ($health); clients use $conf and $dir/ceph.client.$CEPH_USER.keyring"
}

main
