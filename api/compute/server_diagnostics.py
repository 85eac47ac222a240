"""``GET /servers/{id}/diagnostics`` (admins): the guest's live statistics, asked of its host each time.

Before 2.48 Nova's answer was whatever the driver gave (for libvirt: ``cpu0_time``, ``memory``, ``vda_read``,
``tap..._rx``...); from 2.48 it is one standard shape for every driver. The host reads its hypervisor
(``ComputeDriver.get_diagnostics``); the API adds what the records know (uptime since launch, the config drive).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Blueprint, Response, jsonify

from api import policy
from api.compute import lookups
from api.compute.microversions import at_least
from api.runtime import runtime
from common.exceptions import Conflict
from compute import client, service
from compute.models import ComputeHost
from compute.states import PowerState

bp = Blueprint("compute_server_diagnostics", __name__, url_prefix="/compute/v2.1")

WAIT_SECONDS = 10.0


def _legacy(stats: dict[str, Any]) -> dict[str, Any]:
    """The libvirt driver's pre-2.48 dict: per-vCPU time, memory in KiB, each disk's and NIC's counters."""
    body: dict[str, Any] = {f"cpu{c['id']}_time": c["time"] for c in stats["cpu_details"]}
    if stats.get("memory_maximum_mb") is not None:
        body["memory"] = stats["memory_maximum_mb"] * 1024
    if stats.get("memory_used_mb") is not None:
        body["memory-rss"] = stats["memory_used_mb"] * 1024
    for disk in stats["disk_details"]:
        name = disk["device"]
        body |= {
            f"{name}_read": disk["read_bytes"],
            f"{name}_read_req": disk["read_requests"],
            f"{name}_write": disk["write_bytes"],
            f"{name}_write_req": disk["write_requests"],
            f"{name}_errors": disk["errors_count"] if disk["errors_count"] is not None else -1,
        }
    for index, nic in enumerate(stats["nic_details"]):
        name = nic.get("device") or f"nic{index}"
        body |= {
            f"{name}_rx": nic["rx_octets"],
            f"{name}_rx_drop": nic["rx_drop"],
            f"{name}_rx_errors": nic["rx_errors"],
            f"{name}_rx_packets": nic["rx_packets"],
            f"{name}_tx": nic["tx_octets"],
            f"{name}_tx_drop": nic["tx_drop"],
            f"{name}_tx_errors": nic["tx_errors"],
            f"{name}_tx_packets": nic["tx_packets"],
        }
    return body


def _standard(stats: dict[str, Any], uptime: int | None, config_drive: bool) -> dict[str, Any]:
    """2.48's shape: every key always present, None where the hypervisor cannot tell."""
    nic_keys = ("mac_address", "rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate", "tx_octets")
    nic_keys += ("tx_errors", "tx_drop", "tx_packets", "tx_rate")
    disk_keys = ("read_bytes", "read_requests", "write_bytes", "write_requests", "errors_count")
    return {
        "state": stats["state"],
        "driver": stats["driver"],
        "hypervisor": stats.get("hypervisor"),
        "hypervisor_os": stats.get("hypervisor_os"),
        "uptime": uptime,
        "config_drive": config_drive,
        "num_cpus": len(stats["cpu_details"]),
        "num_nics": len(stats["nic_details"]),
        "num_disks": len(stats["disk_details"]),
        "memory_details": {"maximum": stats.get("memory_maximum_mb"), "used": stats.get("memory_used_mb")},
        "cpu_details": [{k: c.get(k) for k in ("id", "time", "utilisation")} for c in stats["cpu_details"]],
        "nic_details": [{k: n.get(k) for k in nic_keys} for n in stats["nic_details"]],
        "disk_details": [{k: d.get(k) for k in disk_keys} for d in stats["disk_details"]],
    }


@bp.get("/servers/<server_id>/diagnostics")
def show_diagnostics(server_id: str) -> Response:
    """409 unless the server runs on a host that is up and answers in time (Nova: only a running guest)."""
    ctx = policy.enforce("compute:server_diagnostics")
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        if not instance.host:
            raise Conflict(f"Cannot 'get_diagnostics' instance {server_id}: it is not on a host.")
        if instance.power_state != PowerState.RUNNING or instance.task_state is not None:
            raise Conflict(
                f"Cannot 'get_diagnostics' instance {server_id} while it is in power_state "
                f"{PowerState(instance.power_state).name.lower()}"
                + (f" and task_state {instance.task_state}" if instance.task_state else "")
            )
        down_after = timedelta(seconds=rt.settings.compute_host_down_after)
        if not service.host_is_up(session.get(ComputeHost, instance.host), down_after):
            raise Conflict(f"The diagnostics of instance {server_id} are not available: its host is down.")
        host, launched, config_drive = instance.host, instance.launched_at, bool(instance.config_drive)
    try:
        stats = client.diagnostics(rt.celery, host, server_id, WAIT_SECONDS)
    except CeleryTimeout:
        raise Conflict(
            f"The diagnostics of instance {server_id} are not available right now: its host did not answer within "
            f"{WAIT_SECONDS:g} s."
        ) from None
    except Exception as exc:  # the broker or the host failed: a clear 409 rather than a 500
        raise Conflict(f"The diagnostics of instance {server_id} are not available right now: {exc}") from None
    if not isinstance(stats, dict) or "error" in stats:
        reason = stats.get("error") if isinstance(stats, dict) else "the host gave no answer"
        raise Conflict(f"The diagnostics of instance {server_id} are not available: {reason}")
    if not at_least("2.48"):
        return jsonify(_legacy(stats))
    uptime = int((service.now() - launched).total_seconds()) if launched else None
    return jsonify(_standard(stats, uptime, config_drive))
