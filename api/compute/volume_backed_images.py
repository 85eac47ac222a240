"""``createImage`` of a server booted from a volume, and booting a server from the image that makes, as Nova.

Nova cannot copy a volume-backed server's disk into an image: it snapshots each of the server's volumes in the
block storage service (forced, the volume being in use; named ``snapshot for <image name>``) and creates an image
with no data (size 0, ``active``) whose properties say how to rebuild the disks: ``bdm_v2``, ``root_device_name``
and ``block_device_mapping``, a JSON list with one ``source_type: snapshot`` entry per volume (Glance keeps
properties as strings, as Nova's image API sends them). Everything is written in the request's transaction (the
snapshots under the project's volume quota, by ``volume.service.create_snapshot``), so a refusal at any step
leaves no snapshot and no image; the snapshots are taken once it commits (by the server's host for a file volume
QEMU holds, ``compute.volumes.snapshot_attached_volume``; else by the volume service).

A server created from such an image boots from a new volume made from the root entry's snapshot (the
boot-from-volume path, ``boot_volumes``, with ``source_type`` ``snapshot``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.broker import require_broker
from api.compute.boot_volumes import RootVolume
from api.compute.claims import conflict
from api.context import RequestContext
from common.exceptions import BadRequest, Conflict
from common.settings import Settings
from compute import actions, volumes
from compute.models import BlockDeviceMapping, Instance
from compute.states import Action, allowed
from image import service as image_service
from image.models import Image
from volume import client as volume_client
from volume import service as volume_service
from volume.models import Volume

MAPPING_KEYS = ("block_device_mapping", "bdm_v2", "root_device_name")
"""The properties Nova writes on a volume-backed server's image; never copied from the server's own image."""

Send = Callable[[Any], None]
"""Work to send once the transaction commits (given the Celery app)."""


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _image_mapping(mapping: BlockDeviceMapping, snapshot_id: str, size: int) -> dict[str, Any]:
    """Nova's ``get_image_mapping`` of ``snapshot_from_bdm``: the volume again, made from its snapshot."""
    return {
        "source_type": "snapshot",
        "destination_type": "volume",
        "snapshot_id": snapshot_id,
        "volume_id": None,
        "image_id": None,
        "volume_size": size,
        "boot_index": mapping.boot_index,
        "delete_on_termination": bool(mapping.delete_on_termination),
        "device_name": mapping.device_name,
        "device_type": "disk",
        "disk_bus": None,
        "guest_format": None,
        "no_device": None,
        "tag": None,
        "volume_type": None,
    }


def snapshot_server(
    session: Session,
    settings: Settings,
    ctx: RequestContext,
    instance: Instance,
    name: str,
    metadata: dict[str, str],
    base_properties: dict[str, str],
) -> tuple[str, list[Send]]:
    """Snapshot every volume of the volume-backed ``instance`` and create the image naming them, in the caller's
    transaction; returns the image id and the work to send after commit. 409 in a state Nova refuses (not active,
    stopped, paused or suspended, or busy), 403 over the volume snapshot quota."""
    if not instance.host or not allowed(Action.SNAPSHOT_VOLUME, instance.vm_state, instance.task_state):
        raise conflict(instance, "createImage")
    if instance.locked and not ctx.is_admin:
        raise Conflict(f"Instance {instance.id} is locked.")
    require_broker("volume")
    entries: list[dict[str, Any]] = []
    sends: list[Send] = []
    for mapping in volumes.mappings(session, instance.id):
        if not mapping.volume_id:
            continue
        volume = session.scalars(select(Volume).where(Volume.id == mapping.volume_id).with_for_update()).one()
        snapshot = volume_service.create_snapshot(
            session,
            volume=volume,
            project_id=volume.project_id,
            user_id=str(ctx.user_id or ""),
            name=f"snapshot for {name}",
            description=volume.description,
            force=True,
        )
        # Each host-taken snapshot is its own instance action (one per request id): the host's report ends it.
        request_id = f"req-{uuid.uuid4()}"
        work = volumes.snapshot_attached_volume(session, settings, volume, snapshot, request_id, ctx.user_id)
        if work is not None:
            sends.append(work.send)
        else:
            snapshot_id = snapshot.id
            sends.append(lambda app, s=snapshot_id: volume_client.create_snapshot(app, s, ctx.request_id))
        entries.append(_image_mapping(mapping, snapshot.id, volume.size))
    if not entries:
        raise BadRequest(f"Instance {instance.id} has no volume to snapshot.")
    properties: dict[str, str] = {k: v for k, v in base_properties.items() if k not in MAPPING_KEYS}
    properties.update(metadata)
    properties.update(
        {
            "root_device_name": volumes.ROOT_DEVICE,
            "bdm_v2": "True",
            "block_device_mapping": json.dumps(entries),
        }
    )
    image_id = image_service.create_volume_backed_snapshot(
        session,
        instance.project_id,
        name,
        min_disk=int(instance.flavor["disk"]),
        min_ram=int((instance.image_meta or {}).get("min_ram") or 0),
        properties=properties,
    )
    actions.record_action(session, instance, "createImage", ctx.request_id, ctx.user_id, ctx.project_id, finished=True)
    return image_id, sends


def image_root(image: Image) -> RootVolume | None:
    """The root volume a server created from ``image`` boots from when the image is a volume-backed server's
    snapshot (``bdm_v2`` with a ``block_device_mapping``): a new volume from the root entry's snapshot. None for
    an ordinary image. 400 for a mapping this cloud cannot build at create (more volumes than the root: attach
    them once the server runs) or that is not one."""
    properties = image.properties or {}
    raw = properties.get("block_device_mapping")
    if not raw or not _flag(properties.get("bdm_v2")):
        return None
    try:
        entries = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise BadRequest(f"Image {image.id} has a block_device_mapping that is not JSON.") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadRequest(f"Image {image.id} has a block_device_mapping that is not a list of mappings.")
    disks = [e for e in entries if e.get("destination_type") == "volume"]
    roots = [e for e in disks if str(e.get("boot_index")) == "0"]
    if len(roots) != 1 or roots[0].get("source_type") != "snapshot" or not roots[0].get("snapshot_id"):
        raise BadRequest(f"Image {image.id} maps no root volume snapshot (boot_index 0) to boot from.")
    if len(disks) > 1:
        raise BadRequest(
            f"Image {image.id} maps {len(disks)} volumes: only the root volume may be made at create on this "
            "cloud; attach the others once the server runs."
        )
    root = roots[0]
    size = root.get("volume_size")
    return RootVolume(
        "snapshot",
        str(root["snapshot_id"]),
        int(size) if isinstance(size, int) and size > 0 else None,
        _flag(root.get("delete_on_termination")),
        root.get("volume_type") or None,
    )
