"""Errors of the volume service, with Cinder's names, messages and status codes.

The Block Storage API turns each into Cinder's fault body (``{"badRequest": {"code": 400, "message": ...}}``);
``OverQuota`` from ``quota.exceptions`` is the API's to word as Cinder's 413 (``VolumeSizeExceedsAvailableQuota``,
``VolumeLimitExceeded``, ``SnapshotLimitExceeded``).
"""

from __future__ import annotations

from collections.abc import Iterable

from common.exceptions import BadRequest, Conflict, NotFound


def _either(statuses: Iterable[str]) -> str:
    return " or ".join(sorted(statuses))


class InvalidVolume(BadRequest):
    msg_fmt = "Invalid volume: {reason}"


class InvalidSnapshot(BadRequest):
    msg_fmt = "Invalid snapshot: {reason}"


class InvalidBackup(BadRequest):
    msg_fmt = "Invalid backup: {reason}"


class InvalidInput(BadRequest):
    msg_fmt = "Invalid input received: {reason}"


class InvalidVolumeType(BadRequest):
    msg_fmt = "Invalid volume type: {reason}"


class VolumeTypeInUse(BadRequest):
    msg_fmt = "Target volume type is still in use."


class VolumeNotFound(NotFound):
    msg_fmt = "Volume {volume_id} could not be found."


class SnapshotNotFound(NotFound):
    msg_fmt = "Snapshot {snapshot_id} could not be found."


class BackupNotFound(NotFound):
    msg_fmt = "Backup {backup_id} could not be found."


class VolumeTypeNotFound(NotFound):
    msg_fmt = "Volume type {volume_type_id} could not be found."


class VolumeTypeNotFoundByName(NotFound):
    msg_fmt = "Volume type with name {volume_type_name} could not be found."


class VolumeTypeExtraSpecsNotFound(NotFound):
    msg_fmt = "Volume Type {volume_type_id} has no extra specs with key {extra_specs_key}."


class VolumeTypeAccessNotFound(NotFound):
    msg_fmt = "Volume type access not found for {volume_type_id} / {project_id} combination."


class VolumeTypeExists(Conflict):
    msg_fmt = "Volume Type {id} already exists."


class VolumeTypeAccessExists(Conflict):
    msg_fmt = "Volume type access for {volume_type_id} / {project_id} combination already exists."


class ImageNotFound(NotFound):
    msg_fmt = "Image {image_id} could not be found."


class WrongStatus(InvalidVolume):
    """An action asked for in a status its row of ``volume.states.TRANSITIONS`` does not allow."""

    def __init__(self, action: str, status: str, allowed: Iterable[str]) -> None:
        super().__init__(
            reason=f"Volume status must be {_either(allowed)} to {action}, but current status is: {status}."
        )


class NotDeletable(InvalidVolume):
    """Cinder's words for a delete it refuses (busy, attached, with snapshots)."""

    def __init__(self) -> None:
        super().__init__(
            reason="Volume status must be available or error or error_restoring or error_extending or "
            "error_managing and must not be migrating, attached, belong to a group, have snapshots or be "
            "disassociated from snapshots after volume transfer."
        )


class SnapshotWrongStatus(InvalidSnapshot):
    def __init__(self, action: str, status: str, allowed: Iterable[str]) -> None:
        super().__init__(
            reason=f"Snapshot status must be {_either(allowed)} to {action}, but current status is: {status}."
        )
