"""The hosts this machine's agents serve, remembered between ``services up`` runs, so the ones it no longer runs
are retired (``stratus-manage retire-hosts``, see ``compute.control.retirement``) instead of looking up for a while and
taking builds they will never run.

The roster lives in ``<state_dir>/run/hosts``, one name a line. A state directory from before the roster existed
names its old hosts only through the pid files of their agents (``leftover_services``), which is what we fall back
on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from common.hostnames import machine_hosts, network_served_hosts, served_hosts
from common.settings import Settings

AGENT_PREFIXES = ("compute-agent@", "network-agent@")


def roster_path(settings: Settings) -> Path:
    return settings.run_dir / "hosts"


def current_hosts(settings: Settings) -> set[str]:
    """Every host an agent of this machine serves now: its machine hosts, or the fake hosts they simulate."""
    hosts: set[str] = set()
    for host in machine_hosts(settings):
        host_settings = settings.replace(host=host)
        hosts |= set(served_hosts(host_settings)) | set(network_served_hosts(host_settings))
    return hosts


def previous_hosts(settings: Settings, leftover_markers: Iterable[str]) -> set[str]:
    """The hosts of the last run: the roster, or where there is none, the hosts named by leftover agents' markers
    (``compute-agent@<host>``)."""
    path = roster_path(settings)
    if path.exists():
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}
    return {marker.split("@", 1)[1] for marker in leftover_markers if marker.startswith(AGENT_PREFIXES)}


def remember(settings: Settings, hosts: set[str]) -> None:
    path = roster_path(settings)
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(f"{host}\n" for host in sorted(hosts)))
    os.replace(temporary, path)
