"""What ``stratus host ...`` and ``stratus rebalance`` read from and ask of the compute API: hosts with their
capacity and allocation, the servers on a host, the compute service switched on and off, and the moves.

Everything is Nova's API as the cloud serves it: ``os-hypervisors/detail`` (capacity and allocation, read at
2.36, before 2.88 took those figures away), ``os-services`` (the host's switch, at 2.36 by host and binary), the
server listing (2.59: each server's flavor embedded, so its size needs no flavor lookup, even of a deleted
flavor), ``os-migrations`` (2.59: each record's uuid) and the server actions ``os-migrateLive``, ``migrate`` and
``confirmResize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from cli.client import CliError, Cloud, Exit

COMPUTE_BINARY = "nova-compute"
DRAIN_REASON = "drained by stratus host drain"
MOVES = "compute 2.59"
"""The microversion of servers and migrations: flavors embedded (2.47), migration uuids (2.59)."""
CAPACITY = "compute 2.36"
"""The microversion of ``os-hypervisors/detail``: vCPU and RAM totals and allocation (gone from 2.88)."""
PAGE = 1000


@dataclass(frozen=True)
class Host:
    """A compute host as the API shows it: capacity, what its instances have claimed, and its switches."""

    name: str
    up: bool
    enabled: bool
    disabled_reason: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    servers: int


def listing(cloud: Cloud, path: str, key: str, version: str, **query: str) -> list[dict[str, Any]]:
    """Every item of a paged compute listing (``limit``/``marker``, following the ``next`` links)."""
    found: list[dict[str, Any]] = []
    params = {**query, "limit": str(PAGE)}
    while True:
        body = cloud.call("GET", "compute", f"{path}?{urlencode(params)}", version=version)
        found.extend(body[key])
        following = [link["href"] for link in body.get(f"{key}_links", []) if link.get("rel") == "next"]
        marker = parse_qs(urlparse(following[0]).query).get("marker") if following else None
        if not marker or not body[key]:
            return found
        params["marker"] = marker[0]


def hosts(cloud: Cloud) -> list[Host]:
    """Every compute host, by name."""
    hypervisors = listing(cloud, "/os-hypervisors/detail", "hypervisors", CAPACITY)
    return sorted(
        (
            Host(
                name=h["hypervisor_hostname"],
                up=h["state"] == "up",
                enabled=h["status"] == "enabled",
                disabled_reason=(h.get("service") or {}).get("disabled_reason") or "",
                vcpus=h["vcpus"],
                vcpus_used=h["vcpus_used"],
                memory_mb=h["memory_mb"],
                memory_mb_used=h["memory_mb_used"],
                servers=h["running_vms"],
            )
            for h in hypervisors
        ),
        key=lambda h: h.name,
    )


def find_host(cloud: Cloud, name: str) -> Host:
    """The compute host ``name``; exit 3 naming the hosts there are when there is none."""
    found = hosts(cloud)
    for host in found:
        if host.name == name:
            return host
    known = ", ".join(h.name for h in found) or "none"
    raise CliError(f"no compute host {name!r} (the hosts: {known})", Exit.NOT_FOUND)


def switch(cloud: Cloud, host: str, enable: bool, reason: str = DRAIN_REASON) -> None:
    """Enable the host's compute service, or disable it with ``reason`` (the scheduler then passes it by)."""
    body: dict[str, Any] = {"host": host, "binary": COMPUTE_BINARY}
    if enable:
        cloud.call("PUT", "compute", "/os-services/enable", body, version=CAPACITY)
    else:
        body["disabled_reason"] = reason
        cloud.call("PUT", "compute", "/os-services/disable-log-reason", body, version=CAPACITY)


def servers(cloud: Cloud, host: str | None = None) -> list[dict[str, Any]]:
    """Every project's servers (on ``host`` when given), oldest first."""
    query = {"all_tenants": "1"} | ({"host": host} if host else {})
    found = listing(cloud, "/servers/detail", "servers", MOVES, **query)
    return sorted(found, key=lambda s: (s.get("created") or "", s["id"]))


def server(cloud: Cloud, server_id: str) -> dict[str, Any]:
    return cloud.call("GET", "compute", f"/servers/{server_id}", version=MOVES)["server"]


def migrations(cloud: Cloud, **query: str) -> list[dict[str, Any]]:
    """``os-migrations`` records matching ``query`` (status, host, instance_uuid, migration_type), newest first."""
    found = listing(cloud, "/os-migrations", "migrations", MOVES, **query)
    return sorted(found, key=lambda m: (m.get("created_at") or "", str(m.get("id"))), reverse=True)


def action(cloud: Cloud, server_id: str, body: dict[str, Any]) -> str:
    """Send a server action (answered 202); the request id the cloud files its instance action under."""
    response = cloud.send("POST", "compute", f"/servers/{server_id}/action", body, expect=(202, 204), version=MOVES)
    return response.headers.get("x-openstack-request-id") or response.headers.get("x-compute-request-id") or ""


def failure(cloud: Cloud, server_id: str, request_id: str) -> str:
    """Why a move of the server failed, in the cloud's words: the server's fault, else its instance action's
    message or the last line of its failed event, else nothing."""
    shown = server(cloud, server_id)
    fault = (shown.get("fault") or {}).get("message")
    if fault:
        return str(fault)
    if not request_id:
        return ""
    try:
        found = cloud.call("GET", "compute", f"/servers/{server_id}/os-instance-actions/{request_id}", version=MOVES)
    except CliError:
        return ""
    record = found["instanceAction"]
    for event in record.get("events") or []:
        if event.get("result") == "Error" and event.get("traceback"):
            lines = [line for line in str(event["traceback"]).splitlines() if line.strip()]
            if lines:
                return lines[-1].strip()
    return str(record.get("message") or "")
