#!/usr/bin/env bash
# One line per daemon of the single-node Ceph cluster of a state directory, in the columns of
# `stratus-manage services status` (NAME PID STATE LOG), then the cluster's health when its monitor runs.
# Exits 1 when a daemon is stopped; prints nothing and exits 0 when the state directory has no cluster.
# Usage: status.sh [STATE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/ceph/lib.sh
. "$here/lib.sh"
parse_state_dir "$@"

[ -f "$dir/.bootstrapped" ] || exit 0
rc=0
for daemon in "${DAEMONS[@]}"; do
    kind=${daemon%%:*} id=${daemon#*:}
    pid=$(pid_of "$kind" "$id")
    if [ -n "$pid" ]; then state=running; else pid=- state=stopped rc=1; fi
    printf '%-16s%-9s%-10s%s\n' "ceph-$kind" "$pid" "$state" "$log/ceph-$kind.$id.log"
done
if [ -n "$(pid_of mon a)" ]; then
    echo "ceph: $(ceph_admin health 2>&1 | head -n 1); $(ceph_admin pg stat 2>&1 | head -n 1)"
fi
exit $rc
