"""What a host reports about a server's volumes, and how the control side ends the work (``compute.volumes``).

A report is matched to its work by the attachment (attach, detach), the volume (extend) or the snapshot it
names, never by the server's task state, which volume work does not hold. Each outcome goes to the volume service in one
transaction with the mapping and the server's action record: an attach that failed leaves the volume
``available`` and no mapping; a detach the guest did not allow leaves it attached and ``in-use``; the fault the
user reads is in the action's event (``os-instance-actions``). A report about a server or a mapping that is gone
(the server was deleted meanwhile and let its volumes go) changes nothing; but a snapshot the host copied (or
failed to) ends as the host says even then, since the copy outlives the server: ``available`` at the location the
volume service chose when it was asked for, or ``error`` with the host's reason (the host leaves no file then).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from compute import actions
from compute.control.context import ComputeControl
from compute.models import BlockDeviceMapping, Instance
from compute.volumes import ever_plugged, mapping_of
from volume import service as volume_service
from volume.models import Volume, VolumeAttachment, VolumeSnapshot

LOG = logging.getLogger(__name__)
ACTIONS = ("attach_volume", "detach_volume", "extend_volume", "snapshot_volume")


def done(
    control: ComputeControl,
    instance_id: str,
    host: str,
    action: str,
    request_id: str,
    error: str | None,
    result: dict[str, Any] | None,
) -> str:
    result = result or {}
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or actions.reported_elsewhere(instance, host, f"the outcome of {action}"):
            return "ignored"
        if action == "extend_volume":
            outcome = _extended(session, instance, result, error)
        elif action == "snapshot_volume":
            outcome = _snapshotted(session, instance, result, error)
        else:
            outcome = _plugged(session, instance, host, action, result, error)
        if outcome != "superseded":
            event = f"compute_{action}"
            actions.record_event(session, instance_id, request_id, event, "Error" if error else "Success", host, error)
    if error:
        LOG.warning("[%s] %s of %s failed on %s: %s", request_id, action, instance_id, host, error)
    return outcome


def _mapping(session: Session, instance: Instance, result: dict[str, Any]) -> BlockDeviceMapping | None:
    mapping = mapping_of(session, instance.id, str(result.get("volume_id", "")))
    if mapping is None or mapping.attachment_id != result.get("attachment_id"):
        return None
    return mapping


def _plugged(
    session: Session, instance: Instance, host: str, action: str, result: dict[str, Any], error: str | None
) -> str:
    mapping = _mapping(session, instance, result)
    attachment = session.get(VolumeAttachment, mapping.attachment_id) if mapping and mapping.attachment_id else None
    if mapping is None or attachment is None or instance.deleted:
        return "superseded"
    if action == "attach_volume":
        if error:
            volume_service.unreserve(session, attachment, error)
            mapping.deleted = True
            return "attach failed"
        volume_service.attached(session, attachment, host)
        mapping.attached = True
        return "attached"
    if error:
        volume_service.detach_failed(session, attachment, error)
        return "detach failed"
    volume_service.detached(session, attachment)
    mapping.deleted = True
    return "detached"


def _extended(session: Session, instance: Instance, result: dict[str, Any], error: str | None) -> str:
    volume = session.get(Volume, str(result.get("volume_id", "")))
    if volume is None or mapping_of(session, instance.id, volume.id) is None:
        return "superseded"
    if error:
        volume_service.extend_failed(session, volume, error)
        return "extend failed"
    volume_service.extended(session, volume, int(result["new_size"]))
    mapping = mapping_of(session, instance.id, volume.id)
    if mapping is not None:
        mapping.volume_size = int(result["new_size"])
    return "extended"


def _snapshotted(session: Session, instance: Instance, result: dict[str, Any], error: str | None) -> str:
    snapshot = session.get(VolumeSnapshot, str(result.get("snapshot_id", "")))
    if snapshot is None or snapshot.volume_id != result.get("volume_id"):
        return "superseded"
    if not ever_plugged(session, instance.id, snapshot.volume_id):
        return "superseded"  # not this server's volume: no report of its host ends it
    if error:
        return "snapshot failed" if volume_service.snapshot_failed(session, snapshot, error) else "superseded"
    return "snapshot taken" if volume_service.snapshot_taken(session, snapshot) else "superseded"
