"""How compute resources look on the wire at the negotiated microversion, as Nova's api-ref lists them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import request
from sqlalchemy.orm import object_session

from api import policy
from api.compute import addresses as server_addresses
from api.compute import server_fields
from api.compute.microversions import at_least
from api.context import RequestContext
from api.runtime import runtime
from api.urls import public_url
from api.validation import digits
from common.exceptions import BadRequest, ValidationError
from compute import service, volumes
from compute.models import BlockDeviceMapping, ComputeHost, Flavor, Instance
from compute.states import server_status


def nova_time(moment: Any) -> str | None:
    """Nova's timestamp format: seconds and a ``Z``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_time(moment: Any) -> str | None:
    """``OS-SRV-USG`` times: microseconds, no zone."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


T = TypeVar("T")
MAX_LIMIT = 1000


def links(collection: str, resource_id: str) -> list[dict[str, str]]:
    return [
        {"href": f"{public_url()}/compute/v2.1/{collection}/{resource_id}", "rel": "self"},
        {"href": f"{public_url()}/compute/{collection}/{resource_id}", "rel": "bookmark"},
    ]


def bookmark(collection: str, resource_id: str) -> list[dict[str, str]]:
    return [{"href": f"{public_url()}/compute/{collection}/{resource_id}", "rel": "bookmark"}]


def host_id(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: stable per project and host, without naming the host."""
    return hashlib.sha224(f"{project_id}{host}".encode()).hexdigest() if host else ""


def server_summary(instance: Instance) -> dict[str, Any]:
    return {"id": instance.id, "links": links("servers", instance.id), "name": instance.name}


PROGRESS_STATUSES = frozenset(("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"))
"""Nova shows ``progress`` only in these statuses; a stopped or errored server has none (Tempest checks it)."""


def server_view(
    instance: Instance,
    ctx: RequestContext,
    addresses: dict[str, list[dict[str, Any]]] | None = None,
    disks: list[BlockDeviceMapping] | None = None,
) -> dict[str, Any]:
    """``addresses`` from ``api.compute.addresses.of_servers`` and ``disks`` from ``compute.volumes.of_servers``;
    None reads them for this one server."""
    if addresses is None:
        addresses = server_addresses.of_servers(object_session(instance), [instance]).get(instance.id, {})
    if disks is None:
        disks = volumes.mappings(object_session(instance), instance.id)
    status = server_status(instance.vm_state, instance.task_state)
    body: dict[str, Any] = {
        "id": instance.id,
        "name": instance.name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "metadata": dict(instance.metadata_items or {}),
        "hostId": host_id(instance.project_id, instance.host),
        "image": {"id": instance.image_ref, "links": bookmark("images", instance.image_ref)}
        if instance.image_ref
        else "",
        "flavor": {"id": instance.flavor["id"], "links": bookmark("flavors", instance.flavor["id"])},
        "created": nova_time(instance.created_at),
        "updated": nova_time(instance.updated_at or instance.created_at),
        "addresses": addresses,
        "accessIPv4": instance.access_ip_v4 or "",
        "accessIPv6": instance.access_ip_v6 or "",
        "links": links("servers", instance.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": instance.progress if status == "BUILD" else 0,
        "OS-EXT-AZ:availability_zone": instance.availability_zone or "",
        "config_drive": "True" if instance.config_drive else "",
        "key_name": instance.key_name,
        "OS-SRV-USG:launched_at": usage_time(instance.launched_at),
        "OS-SRV-USG:terminated_at": usage_time(instance.terminated_at),
        "security_groups": [{"name": name} for name in instance.security_groups or []],
        "OS-EXT-STS:task_state": instance.task_state,
        "OS-EXT-STS:vm_state": instance.vm_state,
        "OS-EXT-STS:power_state": instance.power_state,
        "os-extended-volumes:volumes_attached": [volume_attached(m) for m in disks if m.volume_id],
    }
    if status not in PROGRESS_STATUSES:
        del body["progress"]
    if not instance.security_groups:
        del body["security_groups"]
    if instance.fault and status in ("ERROR", "DELETED"):
        fault = dict(instance.fault)
        # Nova's rule: a 5xx fault's details (the error as a host raised it) are for admins; a 4xx fault's are
        # the user's own mistake and shown to them. A fault without a code counts as a 5xx.
        code = fault.get("code")
        if not (isinstance(code, int) and code < 500) and not policy.allowed("compute:servers:fault_details", ctx=ctx):
            fault.pop("details", None)
        body["fault"] = fault
    if ctx.is_admin:
        body |= {
            "OS-EXT-SRV-ATTR:host": instance.host,
            "OS-EXT-SRV-ATTR:hypervisor_hostname": instance.host,
            "OS-EXT-SRV-ATTR:instance_name": f"stratus-{instance.id}",
        }
        if at_least("2.3"):
            body |= {
                "OS-EXT-SRV-ATTR:reservation_id": instance.reservation_id,
                "OS-EXT-SRV-ATTR:launch_index": instance.launch_index,
                "OS-EXT-SRV-ATTR:hostname": instance.hostname,
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                "OS-EXT-SRV-ATTR:user_data": instance.user_data,
            }
    if at_least("2.9"):
        body["locked"] = instance.locked
    if at_least("2.73"):  # why it is locked (None: unlocked, or locked without a reason)
        body["locked_reason"] = instance.locked_reason if instance.locked else None
    if at_least("2.16") and ctx.is_admin:
        body["host_status"] = host_status(instance)
    if at_least("2.19"):
        body["description"] = instance.description
    if at_least("2.26"):
        body["tags"] = list(instance.tags or [])
    return server_fields.add_later_fields(body, instance, ctx)


def volume_attached(mapping: BlockDeviceMapping) -> dict[str, Any]:
    """One of ``os-extended-volumes:volumes_attached``: the volume id, and from 2.3 ``delete_on_termination``."""
    entry: dict[str, Any] = {"id": mapping.volume_id}
    if at_least("2.3"):
        entry["delete_on_termination"] = mapping.delete_on_termination
    return entry


def host_status(instance: Instance) -> str:
    """Nova's ``host_status`` (2.16, admins only): "" without a host, MAINTENANCE when its service is disabled, UP
    while it heartbeats. A host that stopped heartbeating is DOWN, as a forced-down one is in Nova: Stratus declares
    it down after ``compute_host_down_after`` and acts on it (its builds move, deletes finish without it), which is
    what Nova waits for an operator's force-down to do. UNKNOWN: the host's record is gone."""
    if not instance.host:
        return ""
    session = object_session(instance)
    record = session.get(ComputeHost, instance.host) if session is not None else None  # one read per host a request
    if record is None:
        return "UNKNOWN"
    if not service.host_is_up(record, timedelta(seconds=runtime().settings.compute_host_down_after)):
        return "DOWN"
    return "UP" if record.enabled else "MAINTENANCE"


def flavor_view(flavor: Flavor, brief: bool = False) -> dict[str, Any]:
    """Nova's flavor: ``description`` from 2.55 (in the brief listing too), ``extra_specs`` from 2.61 (not in the
    brief listing; every caller may read them here), ``swap`` 0 rather than "" when there is none from 2.75."""
    view = _flavor_fields(flavor, brief)
    if at_least("2.55"):
        view["description"] = flavor.description
    if at_least("2.61") and not brief:
        view["extra_specs"] = dict(flavor.extra_specs or {})
    if at_least("2.75") and not brief:
        view["swap"] = flavor.swap or 0
    return view


def _flavor_fields(flavor: Flavor, brief: bool) -> dict[str, Any]:
    if brief:
        return {"id": flavor.id, "name": flavor.name, "links": links("flavors", flavor.id)}
    return {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.memory_mb,
        "vcpus": flavor.vcpus,
        "disk": flavor.root_gb,
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "swap": flavor.swap or "",
        "rxtx_factor": flavor.rxtx_factor,
        "os-flavor-access:is_public": flavor.is_public,
        "OS-FLV-DISABLED:disabled": flavor.disabled,
        "links": links("flavors", flavor.id),
    }


def flavor_snapshot(flavor: Flavor) -> dict[str, Any]:
    """The flavor as an instance keeps it: later changes to the flavor do not change running servers."""
    return {
        "id": flavor.id,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        "ephemeral": flavor.ephemeral_gb,
        "swap": flavor.swap,
        "extra_specs": dict(flavor.extra_specs or {}),
    }


def paged(items: Sequence[T], key: Callable[[T], Any], collection: str) -> tuple[list[T], list[dict[str, str]]]:
    """Nova's ``limit``/``marker`` paging of a full, ordered listing.

    Returns the page after the item whose ``key`` is ``marker`` and, as Nova does, a ``next`` link when a
    ``limit`` was asked for and the page is full. An unknown marker is a 400.
    """
    args = request.args
    start = 0
    if "marker" in args:
        keys = [str(key(item)) for item in items]
        if args["marker"] not in keys:
            raise BadRequest(f"marker [{args['marker']}] not found")
        start = keys.index(args["marker"]) + 1
    raw = args.get("limit")
    if raw is not None and digits(raw) is None:
        raise ValidationError(field="limit", reason=f"{raw!r} is not a non-negative integer")
    limit = min(int(raw), MAX_LIMIT) if raw is not None else MAX_LIMIT
    page = list(items[start : start + limit])
    if raw is None or not page or len(page) < limit:
        return page, []
    query = [(k, v) for k, v in args.items(multi=True) if k != "marker"] + [("marker", str(key(page[-1])))]
    return page, [{"href": f"{public_url()}/compute/v2.1/{collection}?{urlencode(query)}", "rel": "next"}]


REBUILD_FIELDS = frozenset(
    (
        "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created",
        "updated", "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "locked",
        "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason",
    )
)  # fmt: skip


def changed_view(instance: Instance, ctx: RequestContext) -> dict[str, Any]:
    """The server in the answer of an update (PUT) or a rebuild: Nova leaves out the extension attributes there
    (no OS-EXT-*, no security groups, no key name, no config drive), whatever the caller's role, until 2.75, where
    both answer the server as show has it. (Tempest's schemas forbid the extra keys below 2.75.)"""
    full = server_view(instance, ctx)
    return full if at_least("2.75") else {k: v for k, v in full.items() if k in REBUILD_FIELDS}


def rebuild_view(instance: Instance, ctx: RequestContext) -> dict[str, Any]:
    """The server in a rebuild's answer (``changed_view``), with the key name (2.54) and the user data (2.57),
    which a rebuild may change, from then on."""
    view = changed_view(instance, ctx)
    view.pop("OS-EXT-SRV-ATTR:user_data", None)  # the user data is ``user_data`` here, even for admins
    if at_least("2.54"):
        view["key_name"] = instance.key_name
    if at_least("2.57"):
        view["user_data"] = instance.user_data
    return view
