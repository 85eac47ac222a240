"""Server create's block device mappings: what the root disk is, and the volume a server boots from.

Nova's ``block_device_mapping_v2`` (and the legacy ``block_device_mapping``) may say the root disk is the
image (``source_type`` ``image``, ``destination_type`` ``local``: a plain boot, as clients send it), or a volume
(``destination_type`` ``volume``, ``boot_index`` 0): an existing volume of the project, or a new one made from an
image or a snapshot (``volume_size`` GiB; ``delete_on_termination`` defaults to false, as in Nova). A new volume
is created in the server create's transaction (its quota counted there) and made by the volume service; the build
waits for it (``compute.control.build``). An existing volume is reserved at once. Other volume mappings (more
disks at create time) are not offered yet: attach them once the server runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import RequestContext
from common.exceptions import BadRequest, NotFound
from common.settings import Settings
from compute.models import BlockDeviceMapping, Instance
from compute.volumes import ROOT_DEVICE
from volume import service as volume_service
from volume.models import Volume

SOURCES = ("volume", "image", "snapshot")


@dataclass(frozen=True)
class RootVolume:
    """The volume a server boots from, as the request asked for it."""

    source_type: str
    source_id: str
    size: int | None
    delete_on_termination: bool
    volume_type: str | None = None
    """2.67: the volume type of a new root volume (the volume service's default when None)."""


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"Invalid input for field 'delete_on_termination': {value!r} is not a boolean.")


def _size(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field 'volume_size': {value!r} is not an integer.") from None
    if size < 1 or size > 16384:
        raise BadRequest(f"Invalid input for field 'volume_size': {size} is not between 1 and 16384.")
    return size


def _legacy(mapping: dict[str, Any]) -> dict[str, Any]:
    """A legacy ``block_device_mapping`` entry as a v2 one (it only ever names volumes or snapshots)."""
    source = "snapshot" if mapping.get("snapshot_id") else "volume"
    device = str(mapping.get("device_name") or "")
    root = device.removeprefix("/dev/") in ("vda", "sda", "xvda", "hda")
    return {
        "source_type": source,
        "destination_type": "volume",
        "uuid": mapping.get("snapshot_id") or mapping.get("volume_id"),
        "boot_index": 0 if root else None,
        "volume_size": mapping.get("volume_size"),
        "delete_on_termination": mapping.get("delete_on_termination"),
    }


def boot_source(body: dict[str, Any]) -> tuple[str | None, RootVolume | None]:
    """The image the root disk is made from (a plain boot), or the root volume; 400 for what is not offered."""
    image = body.get("imageRef") or None
    entries = [*(body.get("block_device_mapping_v2") or []), *map(_legacy, body.get("block_device_mapping") or [])]
    root: RootVolume | None = None
    for mapping in entries:
        source, destination = mapping.get("source_type"), mapping.get("destination_type") or "local"
        boot = str(mapping.get("boot_index", "")) == "0"
        if destination == "local":
            if source not in ("image", "blank"):
                raise BadRequest(f"Mapping of source {source} to a local disk is not supported.")
            if source == "image" and boot:
                if image and mapping.get("uuid") not in (None, image):
                    raise BadRequest("The root block device mapping names another image than imageRef.")
                image = mapping.get("uuid") or image
            continue
        if destination != "volume" or source not in SOURCES:
            raise BadRequest(f"Block device mapping from {source} to {destination} is not supported.")
        if not boot:
            raise BadRequest("Only the root disk (boot_index 0) may be a volume at create; attach others later.")
        if root is not None:
            raise BadRequest("Only one block device mapping may have boot_index 0.")
        if not mapping.get("uuid"):
            raise BadRequest(f"The root block device mapping from {source} needs a uuid.")
        size = _size(mapping.get("volume_size"))
        root = RootVolume(
            str(source),
            str(mapping["uuid"]),
            size,
            _flag(mapping.get("delete_on_termination"), False),
            mapping.get("volume_type") or None,
        )
    if root is not None and root.source_type == "image" and image and image != root.source_id:
        image = None  # imageRef alongside an image-to-volume root: the volume is made from the mapping's image
    return (None if root is not None else image), root


def _existing_volume(session: Session, ctx: RequestContext, volume_id: str) -> Volume:
    query = select(Volume).where(Volume.id == volume_id, Volume.deleted.is_(False), Volume.project_id == ctx.project_id)
    found = session.scalars(query).one_or_none() if len(volume_id) <= 36 else None
    if found is None:
        raise BadRequest(f"Volume {volume_id} could not be found.")
    return found


def root_image_meta(session: Session, ctx: RequestContext, root: RootVolume) -> dict[str, Any]:
    """What the instance keeps of the image its root volume holds (its architecture guides the scheduler)."""
    if root.source_type == "volume":
        volume = _existing_volume(session, ctx, root.source_id)
        if not volume.bootable:
            raise BadRequest(f"Block Device {volume.id} is not bootable.")
        return {"properties": {k: v for k, v in (volume.image_metadata or {}).items() if isinstance(v, str)}}
    return {}


def attach_root(
    session: Session, settings: Settings, ctx: RequestContext, instance: Instance, root: RootVolume, count: int
) -> str | None:
    """Write the server's root mapping: an existing volume reserved now, or a new volume started (its id is
    returned: the caller sends ``volume.client.create_volume`` after commit)."""
    mapping = BlockDeviceMapping(
        instance_uuid=instance.id,
        device_name=ROOT_DEVICE,
        boot_index=0,
        source_type=root.source_type,
        destination_type="volume",
        delete_on_termination=root.delete_on_termination,
        volume_size=root.size,
    )
    created = None
    if root.source_type == "volume":
        if count > 1:
            raise BadRequest("Cannot attach one or more volumes to multiple instances")
        volume = _existing_volume(session, ctx, root.source_id)
        attachment = volume_service.reserve(
            session, settings, volume, instance_uuid=instance.id, mountpoint=ROOT_DEVICE
        )
        mapping.attachment_id, mapping.connection_info = attachment.id, attachment.connection_info
        mapping.volume_size = volume.size
    else:
        source = volume_service.Source(
            image_id=root.source_id if root.source_type == "image" else None,
            snapshot_id=root.source_id if root.source_type == "snapshot" else None,
        )
        try:
            volume = volume_service.create_volume(
                session,
                settings,
                project_id=ctx.project_id or "",
                user_id=ctx.user_id or "",
                size=root.size,
                name=f"{instance.name}-root" if root.source_type == "image" else None,
                volume_type=root.volume_type,
                source=source,
            )
        except NotFound as exc:
            raise BadRequest(exc.message) from None
        created = volume.id
        mapping.image_id = source.image_id
        mapping.snapshot_id = source.snapshot_id
        mapping.volume_size = volume.size
    mapping.volume_id = volume.id
    session.add(mapping)
    return created
