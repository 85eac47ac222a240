"""The cloud as operators see it: availability zones, hypervisors and services (a project's limits: ``limits``).

Every compute host is at once a hypervisor and a ``nova-compute`` service; other Stratus processes that keep a
``ServiceRecord`` (the scheduler) are services in the ``internal`` zone. Before microversion 2.53 Nova shows
integer ids for hypervisors and services; ours are UUIDs, so the integer is derived from the UUID, stable for
the life of the record, and accepted wherever Nova takes one. Usage is never stored: it is the sum of the
host's allocations, as the scheduler counts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import policy
from api.compute import admin_versions as versions
from api.compute.microversions import at_least
from api.compute.resource_schemas import SERVICE_UPDATE, SERVICE_UPDATE_V211, as_bool
from api.compute.views import paged, usage_time
from api.runtime import runtime
from api.validation import digits, query_bool, validated_body
from common.exceptions import BadRequest, Conflict, NotFound, StratusError
from compute import fencing
from compute import service as compute_service
from compute.models import Allocation, ComputeHost, Instance, ServiceRecord

bp = Blueprint("compute_admin", __name__, url_prefix="/compute/v2.1")

COMPUTE_BINARY = "nova-compute"
INTERNAL_ZONE = "internal"


class FeatureNotSupported(StratusError):
    msg_fmt = "Feature not supported: {reason}"
    code = 501
    title = "Not Implemented"


def legacy_id(uuid: str) -> int:
    """The integer id Nova shows before 2.53, derived from a record's UUID."""
    return (int(uuid.replace("-", "")[:8], 16) & 0x7FFFFFFF) or 1


def shown_id(uuid: str) -> int | str:
    """A hypervisor's or service's id as the microversion shows it: the UUID from 2.53, else the integer."""
    return uuid if versions.by_uuid() else legacy_id(uuid)


def _grace() -> timedelta:
    return timedelta(seconds=runtime().settings.compute_host_down_after)


# --- hosts and what they hold -------------------------------------------------------------------------------


@dataclass
class HostUsage:
    host: ComputeHost
    up: bool
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    current_workload: int = 0  # instances with a task in flight

    @property
    def free_ram_mb(self) -> int:
        return self.host.memory_mb - self.memory_mb_used

    @property
    def free_disk_gb(self) -> int:
        return self.host.disk_gb - self.local_gb_used


def _usages(session: Session, pattern: str | None = None) -> list[HostUsage]:
    """Every compute host with its usage, in the order of its integer id (Nova's order)."""
    query = select(ComputeHost)
    if pattern is not None:
        query = query.where(ComputeHost.name.contains(pattern, autoescape=True))
    found = {h.name: HostUsage(h, compute_service.host_is_up(h, _grace())) for h in session.scalars(query)}
    claims = session.execute(
        select(
            Allocation.host,
            func.sum(Allocation.vcpus),
            func.sum(Allocation.memory_mb),
            func.sum(Allocation.disk_gb),
        )
        .where(Allocation.host.in_(list(found)))
        .group_by(Allocation.host)
    )
    for name, vcpus, memory_mb, disk_gb in claims:
        found[name].vcpus_used, found[name].memory_mb_used, found[name].local_gb_used = vcpus, memory_mb, disk_gb
    guests = session.execute(
        select(Instance.host, func.count(Instance.id), func.count(Instance.task_state))
        .where(Instance.host.in_(list(found)), Instance.deleted.is_(False))
        .group_by(Instance.host)
    )
    for name, running, busy in guests:
        found[name].running_vms, found[name].current_workload = running, busy
    return sorted(found.values(), key=lambda u: legacy_id(u.host.id))


def hypervisor_view(usage: HostUsage, detail: bool) -> dict[str, Any]:
    host = usage.host
    body: dict[str, Any] = {
        "id": shown_id(host.id),
        "hypervisor_hostname": host.name,
        "state": "up" if usage.up else "down",
        "status": "enabled" if host.enabled else "disabled",
    }
    if not detail:
        return body
    cpu_info = {"arch": host.cpu_arch}
    return versions.trim_hypervisor(
        body
        | {
            "vcpus": host.vcpus,
            "memory_mb": host.memory_mb,
            "local_gb": host.disk_gb,
            "vcpus_used": usage.vcpus_used,
            "memory_mb_used": usage.memory_mb_used,
            "local_gb_used": usage.local_gb_used,
            "hypervisor_type": host.hypervisor_type,
            "hypervisor_version": host.hypervisor_version,
            "free_ram_mb": usage.free_ram_mb,
            "free_disk_gb": usage.free_disk_gb,
            "current_workload": usage.current_workload,
            "running_vms": usage.running_vms,
            "cpu_info": cpu_info if at_least("2.28") else json.dumps(cpu_info),
            "disk_available_least": usage.free_disk_gb,
            "host_ip": host.host_ip,
            "service": {"host": host.name, "id": shown_id(host.service_id), "disabled_reason": host.disabled_reason},
        },
        detail,
    )


# --- os-hypervisors ----------------------------------------------------------------------------------------


def _hypervisor_list(detail: bool) -> Response:
    policy.enforce("compute:hypervisors")
    pattern = request.args.get("hypervisor_hostname_pattern") if versions.by_uuid() else None
    if pattern is not None and ("limit" in request.args or "marker" in request.args):
        raise BadRequest(
            "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported."
        )
    with runtime().db.session() as session:
        usages = _usages(session) if pattern is None else _matching(session, pattern)
        links: list[dict[str, str]] = []
        if at_least("2.33") and pattern is None:
            collection = "os-hypervisors/detail" if detail else "os-hypervisors"
            usages, links = paged(usages, lambda u: shown_id(u.host.id), collection)
        views = [_with_servers(session, u, hypervisor_view(u, detail)) for u in usages]
    body: dict[str, Any] = {"hypervisors": views}
    if links:
        body["hypervisors_links"] = links
    return jsonify(body)


@bp.get("/os-hypervisors")
def list_hypervisors() -> Response:
    return _hypervisor_list(detail=False)


@bp.get("/os-hypervisors/detail")
def list_hypervisors_detail() -> Response:
    return _hypervisor_list(detail=True)


def _with_servers(session: Session, usage: HostUsage, view: dict[str, Any]) -> dict[str, Any]:
    """2.53's ``with_servers``: the hypervisor's servers in its view (see ``admin_versions.servers_field``)."""
    if not versions.by_uuid() or not query_bool("with_servers", False):
        return view
    servers = versions.servers_field(_guests(session, usage.host.name))
    return view if servers is None else view | {"servers": servers}


def _guests(session: Session, host: str) -> list[tuple[str, str]]:
    query = select(Instance.name, Instance.id).where(Instance.host == host, Instance.deleted.is_(False))
    return [(name, uuid) for name, uuid in session.execute(query.order_by(Instance.created_at))]


def _hypervisor(session: Session, hypervisor_id: str) -> HostUsage:
    if versions.by_uuid():
        wanted_uuid = versions.checked_uuid(hypervisor_id)
        for usage in _usages(session):
            if usage.host.id == wanted_uuid:
                return usage
        raise NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    wanted = digits(hypervisor_id)
    if wanted is not None:
        for usage in _usages(session):
            if legacy_id(usage.host.id) == wanted:
                return usage
    raise NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")


@bp.get("/os-hypervisors/<hypervisor_id>")
def show_hypervisor(hypervisor_id: str) -> Response:
    policy.enforce("compute:hypervisors")
    with runtime().db.session() as session:
        usage = _hypervisor(session, hypervisor_id)
        return jsonify({"hypervisor": _with_servers(session, usage, hypervisor_view(usage, detail=True))})


@bp.get("/os-hypervisors/<hypervisor_id>/uptime")
def hypervisor_uptime(hypervisor_id: str) -> Response:
    versions.gone_from("2.88")
    policy.enforce("compute:hypervisors")
    with runtime().db.session() as session:
        _hypervisor(session, hypervisor_id)
    raise FeatureNotSupported(reason="host agents do not report their uptime")


def _matching(session: Session, pattern: str) -> list[HostUsage]:
    usages = _usages(session, pattern)
    if not usages:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return usages


@bp.get("/os-hypervisors/<pattern>/search")
def search_hypervisors(pattern: str) -> Response:
    versions.gone_from("2.53")
    policy.enforce("compute:hypervisors")
    with runtime().db.session() as session:
        return jsonify({"hypervisors": [hypervisor_view(u, detail=False) for u in _matching(session, pattern)]})


@bp.get("/os-hypervisors/<pattern>/servers")
def hypervisor_servers(pattern: str) -> Response:
    versions.gone_from("2.53")
    policy.enforce("compute:hypervisors")
    views = []
    with runtime().db.session() as session:
        for usage in _matching(session, pattern):
            view = hypervisor_view(usage, detail=False)
            guests = session.execute(
                select(Instance.name, Instance.id)
                .where(Instance.host == usage.host.name, Instance.deleted.is_(False))
                .order_by(Instance.created_at)
            ).all()
            if guests:  # Nova leaves the key out for a host without servers
                view["servers"] = [{"name": name, "uuid": uuid} for name, uuid in guests]
            views.append(view)
    return jsonify({"hypervisors": views})


@bp.get("/os-hypervisors/statistics")
def hypervisor_statistics() -> Response:
    """Totals over enabled hosts only, as Nova sums them."""
    versions.gone_from("2.88")
    policy.enforce("compute:hypervisors")
    with runtime().db.session() as session:
        enabled = [u for u in _usages(session) if u.host.enabled]
    fields = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used", "free_ram_mb")
    fields += ("free_disk_gb", "current_workload", "running_vms", "disk_available_least")
    views = [hypervisor_view(u, detail=True) for u in enabled]
    totals = {field: sum(view[field] for view in views) for field in fields}
    return jsonify({"hypervisor_statistics": {"count": len(enabled), **totals}})


@bp.get("/os-aggregates")
def list_aggregates() -> Response:
    """Stratus has no host aggregates: every listing is empty (clients ask for it beside hypervisors)."""
    policy.enforce("compute:aggregates:index")
    return jsonify({"aggregates": []})


# --- os-services --------------------------------------------------------------------------------------------


@dataclass
class Service:
    """A row of ``os-services``: a compute host or a ServiceRecord, read and changed the same way."""

    record: ComputeHost | ServiceRecord
    binary: str
    host: str
    zone: str
    up: bool
    updated_at: datetime | None

    @property
    def uuid(self) -> str:
        record = self.record
        return record.service_id if isinstance(record, ComputeHost) else record.id

    @property
    def id(self) -> int | str:
        return shown_id(self.uuid)

    @property
    def disabled(self) -> bool:
        record = self.record
        return not record.enabled if isinstance(record, ComputeHost) else record.disabled

    def set_disabled(self, disabled: bool, reason: str | None) -> None:
        if isinstance(self.record, ComputeHost):
            self.record.enabled = not disabled
        else:
            self.record.disabled = disabled
        self.record.disabled_reason = reason


def _services(session: Session) -> list[Service]:
    found = [
        Service(r, r.binary, r.host, r.zone, compute_service.service_is_up(r, _grace()), r.last_seen)
        for r in session.scalars(select(ServiceRecord).order_by(ServiceRecord.binary, ServiceRecord.host))
    ]
    for usage in sorted(_usages(session), key=lambda u: u.host.name):
        host = usage.host
        found.append(Service(host, COMPUTE_BINARY, host.name, host.availability_zone, usage.up, host.last_heartbeat))
    return found


def service_view(service: Service) -> dict[str, Any]:
    body = {
        "id": service.id,
        "binary": service.binary,
        "host": service.host,
        "zone": service.zone,
        "status": "disabled" if service.disabled else "enabled",
        "state": "up" if service.up else "down",
        "updated_at": usage_time(service.updated_at),
        "disabled_reason": service.record.disabled_reason,
    }
    if at_least("2.11"):
        body["forced_down"] = service.record.forced_down
    return body


@bp.get("/os-services")
def list_services() -> Response:
    policy.enforce("compute:services")
    with runtime().db.session() as session:
        services = _services(session)
        for param in ("host", "binary"):
            if request.args.get(param):
                services = [s for s in services if getattr(s, param) == request.args[param]]
        return jsonify({"services": [service_view(s) for s in services]})


def _changes(action: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What an ``os-services`` action changes, and the ``service`` it answers with."""
    answer: dict[str, Any] = {"host": body["host"], "binary": body["binary"]}
    if action == "enable":
        return {"disabled": False, "reason": None}, answer | {"status": "enabled"}
    if action == "disable":
        return {"disabled": True, "reason": None}, answer | {"status": "disabled"}
    if action == "disable-log-reason":
        if "disabled_reason" not in body:
            raise BadRequest("Missing disabled reason field")
        reason = body["disabled_reason"]
        return {"disabled": True, "reason": reason}, answer | {"status": "disabled", "disabled_reason": reason}
    if action == "force-down" and at_least("2.11"):
        if "forced_down" not in body:
            raise BadRequest("Missing forced_down field")
        forced = as_bool(body["forced_down"])
        return {"forced_down": forced}, answer | {"forced_down": forced}
    raise NotFound("Unknown action")


def _update_by_uuid(service_id: str) -> Response:
    """2.53's ``PUT /os-services/{uuid}``: the whole service in the answer."""
    body = validated_body(versions.SERVICE_UPDATE_V253)
    with runtime().db.session() as session:
        service = _service_by_uuid(session, service_id)
        versions.service_changes(body, service.binary)
        if "status" in body:
            disabled = body["status"] == "disabled"
            service.set_disabled(disabled, body.get("disabled_reason") if disabled else None)
        if "forced_down" in body:
            _force_down(session, service, as_bool(body["forced_down"]))
            service.up = service.up and not service.record.forced_down
        session.flush()
        return jsonify({"service": service_view(service)})


def _force_down(session: Session, service: Service, forced: bool) -> None:
    """An operator's statement about a host (``compute.fencing``): forced down, it is fenced (its servers may be
    evacuated); forced up again, it no longer is, which is refused while a server evacuated from it may still have
    a copy there (Nova's 400, bug 1922053): the host must report once, dropping its stale copies, first."""
    record = service.record
    if isinstance(record, ComputeHost):
        if not forced and record.forced_down and fencing.done_evacuations(session, record.name):
            raise BadRequest(
                f"Unable to force up host {record.name} as `done` evacuation migration records remain associated "
                "with the host. Ensure the compute service has been restarted, allowing these records to move to "
                "`completed` before retrying this request."
            )
        if forced and not record.forced_down and record.fenced_at is None:
            record.fenced_at, record.fenced_by = compute_service.now(), fencing.FencedBy.OPERATOR.value
        elif not forced:
            fencing.unfence(record)
    record.forced_down = forced


def _service_by_uuid(session: Session, service_id: str) -> Service:
    wanted = versions.checked_uuid(service_id)
    for service in _services(session):
        if service.uuid == wanted:
            return service
    raise NotFound(f"Service {service_id} could not be found.")


@bp.put("/os-services/<action>")
def update_service(action: str) -> Response:
    policy.enforce("compute:services")
    if versions.by_uuid():
        return _update_by_uuid(action)
    body = validated_body(SERVICE_UPDATE_V211 if at_least("2.11") else SERVICE_UPDATE)
    changes, answer = _changes(action, body)
    with runtime().db.session() as session:
        matches = [s for s in _services(session) if s.host == body["host"] and s.binary == body["binary"]]
        if not matches:
            raise NotFound(f"Could not find binary {body['binary']} on host {body['host']}.")
        service = matches[0]
        if "forced_down" in changes:
            _force_down(session, service, changes["forced_down"])
        else:
            service.set_disabled(changes["disabled"], changes["reason"])
    return jsonify({"service": answer})


@bp.delete("/os-services/<service_id>")
def delete_service(service_id: str) -> Response:
    policy.enforce("compute:services")
    with runtime().db.session() as session:
        if versions.by_uuid():
            matches = [_service_by_uuid(session, service_id)]
        else:
            matches = [s for s in _services(session) if str(s.id) == service_id]
        if not matches:
            raise NotFound(f"Service {service_id} not found.")
        record = matches[0].record
        if isinstance(record, ComputeHost):
            hosting = session.scalar(
                select(func.count(Instance.id)).where(Instance.host == record.name, Instance.deleted.is_(False))
            )
            if hosting:
                raise Conflict(
                    "Unable to delete compute service that is hosting instances. Migrate or delete the instances first."
                )
        session.delete(record)
    return Response(status=204)


# --- os-availability-zone -----------------------------------------------------------------------------------


def _zones(services: list[Service]) -> tuple[list[str], list[str]]:
    """Zones with an enabled service, and zones whose services are all disabled."""
    available = sorted({s.zone for s in services if not s.disabled})
    return available, sorted({s.zone for s in services} - set(available))


@bp.get("/os-availability-zone")
def list_zones() -> Response:
    policy.enforce("compute:availability_zones:list")
    with runtime().db.session() as session:
        services = [s for s in _services(session) if s.zone != INTERNAL_ZONE]
    available, unavailable = _zones(services)
    zones = [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in available]
    zones += [{"zoneName": z, "zoneState": {"available": False}, "hosts": None} for z in unavailable]
    return jsonify({"availabilityZoneInfo": zones})


@bp.get("/os-availability-zone/detail")
def list_zones_detail() -> Response:
    policy.enforce("compute:availability_zones:detail")
    with runtime().db.session() as session:
        services = _services(session)
    available, unavailable = _zones(services)
    zones = []
    for zone in available:
        members: dict[str, dict[str, Any]] = {}
        for service in services:
            if service.zone == zone and not service.disabled:
                members.setdefault(service.host, {})[service.binary] = {
                    "available": service.up,
                    "active": True,
                    "updated_at": usage_time(service.updated_at),
                }
        zones.append({"zoneName": zone, "zoneState": {"available": True}, "hosts": members})
    zones += [{"zoneName": z, "zoneState": {"available": False}, "hosts": None} for z in unavailable]
    return jsonify({"availabilityZoneInfo": zones})
