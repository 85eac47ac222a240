"""``/admin/hosts``: each compute host's capacity and allocation (vCPUs, RAM, disk as bars), whether it takes
new instances (enabled, with the reason it was disabled), and whether its agent is alive (its heartbeat); the
Drain button and the migrations in flight are ``portal.admin.drain``'s, and the servers still on a disabled host,
with why they have not moved, ``portal.admin.stays``'.

Read from Nova's ``os-hypervisors/detail`` (capacity, allocation, up/down) and ``os-services`` (the last
heartbeat, the reason). The portal speaks microversion 2.37, before services had UUIDs (2.53), so a host is
switched with ``PUT /os-services/enable`` and ``/disable-log-reason`` naming host and binary, as the API
supports. vCPU allocation may exceed the host's count: the scheduler over-commits CPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response

from portal.admin.drain import all_migrations, migrations_context
from portal.admin.stays import stays
from portal.blueprint import admin_only, api, bp, redirect_with, render
from portal.charts import Bar
from portal.client import ApiResponse
from portal.forms import Form, empty

COMPUTE_BINARY = "nova-compute"
REASON_MAX = 255  # Nova's limit on disabled_reason


@dataclass(frozen=True)
class Host:
    name: str
    up: bool
    enabled: bool
    reason: str
    heartbeat: str
    running: int
    hypervisor: str
    bars: list[tuple[Bar, str]]
    """Each bar with its text (used of total and the percentage, which may pass 100 for vCPUs)."""

    @property
    def form_id(self) -> str:
        return "host-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def _bar(label: str, used: int, total: int, unit: str = "") -> tuple[Bar, str]:
    bar = Bar(label, used, total, unit)
    suffix = f" {unit}" if unit else ""
    percent = f" ({100 * used / total:.0f} %)" if total > 0 else ""
    return bar, f"{used:,} of {total:,}{suffix} allocated{percent}"


def heartbeat_text(updated_at: str | None, now: datetime | None = None) -> str:
    """Nova's ``updated_at`` (UTC, no zone) as a time and how long ago: "2026-12-01 08:29:04 UTC (5 s ago)"."""
    if not updated_at:
        return "never"
    try:
        seen = datetime.fromisoformat(updated_at).replace(tzinfo=UTC)
    except ValueError:
        return updated_at
    seconds = max(0, int(((now or datetime.now(UTC)) - seen).total_seconds()))
    ago = f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"
    return f"{seen:%Y-%m-%d %H:%M:%S} UTC ({ago} ago)"


def hosts() -> list[Host]:
    client = api()
    hypervisors = client.get("/compute/v2.1/os-hypervisors/detail")["hypervisors"]
    services = {s["host"]: s for s in client.get("/compute/v2.1/os-services", binary=COMPUTE_BINARY)["services"]}
    found = []
    for h in sorted(hypervisors, key=lambda h: h["hypervisor_hostname"]):
        name = h["hypervisor_hostname"]
        service: dict[str, Any] = services.get(name, {})
        bars = [
            _bar("vCPUs", h["vcpus_used"], h["vcpus"]),
            _bar("RAM", h["memory_mb_used"], h["memory_mb"], "MiB"),
            _bar("Disk", h["local_gb_used"], h["local_gb"], "GiB"),
        ]
        found.append(Host(
            name=name, up=h["state"] == "up", enabled=h["status"] == "enabled",
            reason=(h.get("service") or {}).get("disabled_reason") or service.get("disabled_reason") or "",
            heartbeat=heartbeat_text(service.get("updated_at")), running=h["running_vms"],
            hypervisor=f"{h['hypervisor_type']} on {h['host_ip']}", bars=bars,
        ))  # fmt: skip
    return found


def _page(forms: dict[str, Form] | None = None, status: int = 200) -> Response:
    listed = hosts()
    forms = forms or {}
    by_host = {h.name: forms.get(h.name) or empty(h.form_id) for h in listed}
    found = all_migrations()
    panel = migrations_context(found)  # first: it confirms the drains' finished cold moves
    staying = {h.name: stays(h.name, found) for h in listed if not h.enabled and h.running}
    return render("portal/admin/hosts.html", status=status, title="Hosts", hosts=listed, forms=by_host,
                  reason_max=REASON_MAX, staying=staying, **panel)  # fmt: skip


@bp.get("/admin/hosts")
@admin_only
def admin_hosts() -> Response:
    return _page()


def _switch(action: str, host: str, reason: str = "") -> ApiResponse:
    body = {"host": host, "binary": COMPUTE_BINARY}
    if reason:
        action, body = "disable-log-reason", body | {"disabled_reason": reason}
    return api().put(f"/compute/v2.1/os-services/{action}", body)


@bp.post("/admin/hosts/<host>/disable")
@admin_only
def admin_host_disable(host: str) -> Response:
    form = Form.posted("host-" + re.sub(r"[^A-Za-z0-9_-]", "-", host))
    reason = form.get("reason")
    if len(reason) > REASON_MAX:
        form.errors["reason"] = f"Keep the reason to {REASON_MAX} characters (this one has {len(reason)})."
        return _page({host: form}, 400)
    # A 404 (no such host any more) goes to the error page: there is no form of it to show the error beside.
    fields = {"disabled_reason": "reason", "host": ""}
    if form.attempt(lambda: _switch("disable", host, reason), fields, passes=(404,)) is None:
        return _page({host: form}, form.status)
    because = f" ({reason})" if reason else ""
    return redirect_with("portal.admin_hosts", f"Host {host} is disabled{because}: it takes no new instances.")


@bp.post("/admin/hosts/<host>/enable")
@admin_only
def admin_host_enable(host: str) -> Response:
    _switch("enable", host)
    return redirect_with("portal.admin_hosts", f"Host {host} is enabled: it takes new instances again.")
