"""``POST /servers``: validate everything the build needs, record the servers, then send the builds.

Every check that can fail for a reason the user can fix happens here, before anything is written, so a bad
request leaves nothing behind (400 with the reason). The instances, their ``create`` actions and server
group memberships are written in one transaction, which also counts them (and their ports) against the
project's quota under its quota lock (``server_quota``), and the build tasks are sent only after it commits.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import boot_volumes, lookups, server_networks, server_quota, server_tags, volume_backed_images
from api.compute.access_ips import check_access_ips
from api.compute.microversions import at_least
from api.compute.schemas import SERVER_CREATE
from api.compute.version_rules import check_create as check_version_fields
from api.compute.version_rules import create_fields, with_fields
from api.compute.views import flavor_snapshot, links
from api.context import RequestContext, current
from api.image import access as image_access
from api.runtime import runtime
from api.validation import validated_body
from common.exceptions import BadRequest, Forbidden, NotFound
from compute import actions, client
from compute.models import ComputeHost, Flavor, Instance, KeyPair, ServerGroup, ServerGroupMember
from compute.states import TaskState, VmState
from image.models import Image
from volume import client as volume_client

bp = Blueprint("compute_server_create", __name__, url_prefix="/compute/v2.1")

MAX_USER_DATA = 65535


@dataclass
class BuildRequest:
    flavor: Flavor
    image: Image | None
    """None: the server boots from ``root_volume``."""
    key_name: str | None
    key_data: str | None
    zone: str | None
    forced_host: str | None
    group_id: str | None
    user_data: str | None
    count: int
    min_count: int
    root_volume: boot_volumes.RootVolume | None = None
    image_meta: dict[str, Any] | None = None


def hostname_for(name: str) -> str:
    """A DNS label from a display name, as Nova sanitises it."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return (label or "server")[:63]


def _user_data(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Invalid input for field 'server.user_data': not valid base64.") from None
    if len(decoded) > MAX_USER_DATA:
        raise BadRequest(f"Invalid input for field 'server.user_data': more than {MAX_USER_DATA} bytes.")
    return raw


user_data_checked = _user_data  # rebuild's user data (2.57) is checked as create's


def bootable_image(session: Session, ctx: RequestContext, image_ref: str | None, memory_mb: int, root_gb: int) -> Image:
    """The image a server with ``flavor`` may boot (create, rebuild) or keep (resize); 400 with the reason if not."""
    if not image_ref:
        raise BadRequest("Missing imageRef: give an image, or a block device mapping of a volume with boot_index 0.")
    image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
    try:
        image = image_access.get_visible(session, ctx, image_id)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
    if image.status != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    if memory_mb < (image.min_ram or 0):
        raise BadRequest(f"Flavor's memory is too small for requested image (image needs {image.min_ram} MB).")
    needed_gb = max(image.min_disk or 0, -(-(image.virtual_size or image.size or 0) // (1 << 30)))
    if root_gb and root_gb < needed_gb:
        raise BadRequest(f"Flavor's disk is too small for requested image (image needs {needed_gb} GB).")
    return image


def image_snapshot(image: Image) -> dict[str, Any]:
    """What an instance keeps of its image: hosts need nothing else from the image service. ``ceph_snapshot`` is the
    protected RBD snapshot of a raw image in the Ceph image store (Glance's location, as Nova reads it): a host
    with root disks in Ceph clones it instead of downloading the image."""
    location = image.location if image.disk_format == "raw" else None
    return {
        "id": image.id,
        "disk_format": image.disk_format,
        "checksum": image.checksum,
        "size": image.size,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "properties": dict(image.properties or {}),
        "ceph_snapshot": runtime().image_store.ceph_snapshot(location) if location else None,
    }


def _zone(session: Session, ctx: RequestContext, requested: str | None) -> tuple[str | None, str | None]:
    """``zone``, ``zone:host`` or ``:host`` (admins only name a host)."""
    if not requested:
        return None, None
    zone, _, host = requested.partition(":")
    host = host.split(":", 1)[0] or None
    if host:
        policy.enforce("compute:servers:create:forced_host")
        if session.get(ComputeHost, host) is None:
            raise BadRequest(f"Compute host {host} could not be found.")
    zones = set(session.scalars(select(ComputeHost.availability_zone)))
    if zone and zone not in zones:
        raise BadRequest(f"The requested availability zone is not available: {zone}")
    return zone or None, host


def _requested_destination(session: Session, body: dict[str, Any], forced: str | None) -> str | None:
    """2.74's ``host`` and ``hypervisor_hostname`` (admins only): the host the server must boot on (a Stratus
    host is its own hypervisor, so both name it and must agree); not together with ``zone:host``."""
    wanted = {body[k] for k in ("host", "hypervisor_hostname") if body.get(k)}
    if not wanted:
        return forced
    policy.enforce("compute:servers:create:forced_host")
    if forced is not None:
        raise BadRequest("host and hypervisor_hostname cannot be used with the availability_zone zone:host form.")
    if len(wanted) > 1:
        raise BadRequest(f"Compute host {body['host']} has no hypervisor {body['hypervisor_hostname']}.")
    (host,) = wanted
    if session.get(ComputeHost, host) is None:
        raise BadRequest(f"Compute host {host} could not be found.")
    return str(host)


def _networks(body: dict[str, Any]) -> None:
    if body.get("networks") is None and at_least("2.37"):
        raise BadRequest("Invalid input for field 'server.networks': required at microversion 2.37 and later.")


def _count(body: dict[str, Any]) -> tuple[int, int]:
    low, high = int(body.get("min_count", 1)), int(body.get("max_count", body.get("min_count", 1)))
    if low > high:
        raise BadRequest("min_count must be <= max_count.")
    if high > 100:
        raise BadRequest("max_count may be at most 100.")
    return low, high


def _group(session: Session, ctx: RequestContext, hints: dict[str, Any]) -> str | None:
    group_id = hints.get("group")
    if not group_id:
        return None
    group = session.get(ServerGroup, str(group_id))
    if group is None or (group.project_id != ctx.project_id and not ctx.is_admin):
        raise BadRequest(f"Server group {group_id} could not be found.")
    return group.id


def _mapped_root(
    session: Session, ctx: RequestContext, image_ref: str, memory_mb: int
) -> tuple[boot_volumes.RootVolume | None, dict[str, Any] | None]:
    """The root volume an image with Nova's ``block_device_mapping`` asks for (``volume_backed_images``), and
    what the server keeps of the image; (None, None) for an ordinary image. Its memory is checked as any image's;
    its disk is the volume's concern, not the flavor's."""
    image = bootable_image(session, ctx, image_ref, memory_mb, 0)
    root = volume_backed_images.image_root(image)
    if root is None:
        return None, None
    properties = {k: v for k, v in (image.properties or {}).items() if k not in volume_backed_images.MAPPING_KEYS}
    return root, {"min_ram": image.min_ram, "properties": properties}


def _build_request(
    session: Session, ctx: RequestContext, body: dict[str, Any], hints: dict[str, Any], root: Any
) -> BuildRequest:
    flavor = lookups.flavor_for_server(session, ctx, str(body["flavorRef"]))
    image, image_meta = None, None
    if root is None and body.get("imageRef"):  # a volume-backed server's snapshot boots from a volume again
        root, image_meta = _mapped_root(session, ctx, str(body["imageRef"]), flavor.memory_mb)
    if root is None:
        image = bootable_image(session, ctx, body.get("imageRef"), flavor.memory_mb, flavor.root_gb)
    elif image_meta is not None:  # the mapped image's own snapshot, kept by _mapped_root
        pass
    elif root.source_type == "image":  # checked as an image to boot, but its size is the volume's concern
        image = bootable_image(session, ctx, root.source_id, flavor.memory_mb, 0)
        image_meta = image_snapshot(image)
    else:
        image_meta = boot_volumes.root_image_meta(session, ctx, root)
    key_data = None
    if body.get("key_name"):
        keypair = session.get(KeyPair, (ctx.user_id, body["key_name"]))
        if keypair is None:
            raise BadRequest("Invalid key_name provided.")
        key_data = keypair.public_key
    zone, host = _zone(session, ctx, body.get("availability_zone"))
    host = _requested_destination(session, body, host)
    return BuildRequest(
        flavor,
        image,
        body.get("key_name"),
        key_data,
        zone,
        host,
        _group(session, ctx, hints),
        _user_data(body.get("user_data")),
        count=_count(body)[1],
        min_count=_count(body)[0],
        root_volume=root,
        image_meta=image_meta,
    )


def _instances(ctx: RequestContext, body: dict[str, Any], build: BuildRequest) -> list[Instance]:
    reservation = f"r-{uuid.uuid4().hex[:8]}"
    config_drive = str(body.get("config_drive", True)).lower() not in ("false", "0", "no")
    names = [body["name"]] if build.count == 1 else [f"{body['name']}-{i + 1}" for i in range(build.count)]
    # A server booted from a volume shows no image (Nova's ""), whatever its volume was made from.
    image_meta = build.image_meta if build.root_volume else image_snapshot(build.image)  # type: ignore[arg-type]
    image_ref = "" if build.root_volume or build.image is None else build.image.id
    return [
        Instance(
            name=name,
            description=body.get("description"),
            project_id=ctx.project_id,
            user_id=ctx.user_id,
            hostname=body.get("hostname") or hostname_for(name),
            reservation_id=reservation,
            launch_index=index,
            flavor=flavor_snapshot(build.flavor),
            image_ref=image_ref,
            image_meta=image_meta or {},
            requested_zone=build.zone,
            requested_host=build.forced_host,
            vm_state=VmState.BUILDING.value,
            task_state=TaskState.SCHEDULING.value,
            key_name=build.key_name,
            key_data=build.key_data,
            user_data=build.user_data,
            metadata_items=dict(body.get("metadata") or {}),
            tags=server_tags.for_create(body),
            security_groups=[g["name"] for g in body.get("security_groups") or [{"name": "default"}]],
            requested_networks=body.get("networks"),
            server_group_id=build.group_id,
            config_drive=config_drive,
            access_ip_v4=body.get("accessIPv4"),
            access_ip_v6=body.get("accessIPv6"),
        )
        for index, name in enumerate(names)
    ]


@bp.post("/servers")
def create_server() -> tuple[Response, int]:
    ctx = current()
    policy.enforce("compute:servers:create", {"project_id": ctx.project_id})
    document = validated_body(with_fields(SERVER_CREATE, create_fields(), "server"))
    body = document["server"]
    check_access_ips(body)
    hints = document.get("os:scheduler_hints") or document.get("OS-SCH-HNT:scheduler_hints") or {}
    check_version_fields(body)
    if body.get("personality"):
        raise BadRequest("Personality files are not supported by this cloud (use the config drive's user_data).")
    body["imageRef"], root = boot_volumes.boot_source(body)
    _networks(body)
    if ctx.project_id is None:
        raise Forbidden("Servers belong to projects: use a project-scoped token.")
    rt = runtime()
    with rt.db.session() as session:
        build = _build_request(session, ctx, body, hints, root)
        networks = server_networks.requested(session, ctx, body.get("networks"), build.count)
        metadata = body.get("metadata") or {}
        build.count = server_quota.admitted(
            session, ctx, build.flavor, build.min_count, build.count, metadata, build.group_id
        )
        instances = _instances(ctx, body, build)
        for instance in instances:
            instance.scheduler_hints = dict(hints)
        new_volumes: list[str] = []
        session.add_all(instances)
        session.flush()
        groups = server_networks.group_ids(session, ctx.project_id, instances[0].security_groups) if networks else []
        for instance in instances:
            if networks:
                instance.requested_networks = server_networks.create_ports(session, ctx, instance, networks, groups)
            else:
                instance.requested_networks = "none"
            actions.record_action(
                session, instance, "create", ctx.request_id, ctx.user_id, ctx.project_id, started=instance.created_at
            )
            if build.group_id:
                session.add(ServerGroupMember(group_id=build.group_id, instance_id=instance.id))
            if build.root_volume is not None:
                made = boot_volumes.attach_root(session, rt.settings, ctx, instance, build.root_volume, build.count)
                new_volumes.extend([made] if made else [])
        ids = [i.id for i in instances]
        reservation = instances[0].reservation_id
        require_broker("compute")  # last, before the commit: a refusal rolls the whole request back
    for volume_id in new_volumes:  # before the builds, which wait for them
        send_after_commit(volume_client.create_volume, rt.celery, volume_id, ctx.request_id)
    for instance_id in ids:
        send_after_commit(client.build, rt.celery, instance_id, ctx.request_id)
    if str(body.get("return_reservation_id", "")).lower() in ("true", "1"):
        return jsonify({"reservation_id": reservation}), 202
    server = {
        "id": ids[0],
        "links": links("servers", ids[0]),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": g} for g in instances[0].security_groups],
        "adminPass": body.get("adminPass") or uuid.uuid4().hex[:12],
    }
    response = jsonify({"server": server})
    response.headers["Location"] = links("servers", ids[0])[0]["href"]
    return response, 202
