#!/usr/bin/env bash
# Start the host daemons Stratus relies on but does not own: virtlogd and libvirtd.
#
# Machines without systemd (containers, CI runners) have nobody to start them, so we do it, once: a daemon
# that is already running is left alone. Redis and the Stratus services are started by
# `stratus-manage services up`, which tracks their pids; these two are shared with the host and never stopped.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

start_daemon() {
    local name="$1"
    if pgrep -x "$name" >/dev/null; then
        echo "start-system-services: $name already running"
        return
    fi
    if ! command -v "$name" >/dev/null; then
        echo "start-system-services: $name not installed; run deploy/install-deps.sh" >&2
        exit 1
    fi
    as_root "$name" -d
    echo "start-system-services: started $name"
}

# libvirtd forks before its socket exists; clients that start right after us would race it.
wait_for_socket() {
    local sock="$1" i
    for i in $(seq 1 50); do
        [ -S "$sock" ] && return
        sleep 0.2
    done
    echo "start-system-services: $sock did not appear within 10s" >&2
    exit 1
}

start_daemon virtlogd
start_daemon libvirtd
wait_for_socket /run/libvirt/libvirt-sock
