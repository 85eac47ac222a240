#!/usr/bin/env bash
# Stop the single-node Ceph cluster of a state directory (data kept; up.sh starts it again): the OSD, the manager,
# then the monitor, each by the pid its pid file names and only when that process is this cluster's daemon.
# A daemon that ignores SIGTERM for 15 s is killed. Nothing to do when none runs.
# Usage: down.sh [STATE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/ceph/lib.sh
. "$here/lib.sh"
parse_state_dir "$@"

stop_daemon() {
    local kind=$1 id=$2 pid i
    pid=$(pid_of "$kind" "$id")
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
        [ -n "$(pid_of "$kind" "$id")" ] || break
        sleep 0.1
    done
    if [ -n "$(pid_of "$kind" "$id")" ]; then
        echo "ceph/$prog: ceph-$kind.$id ignored SIGTERM for 15 s; killed" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$run/ceph-$kind.$id.pid"
    say "stopped ceph-$kind.$id (pid $pid)"
}

[ -d "$run" ] || exit 0
for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    daemon=${DAEMONS[$i]}
    stop_daemon "${daemon%%:*}" "${daemon#*:}"
done
