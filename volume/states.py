"""Volume, snapshot, backup and attachment statuses as Cinder names them, and the one table of what each action
may do when.

A volume has one ``status`` (Cinder's single axis); an action in flight holds a busy status (``creating``,
``extending``, ``backing-up``...) and ends in ``on_success`` or ``on_failure``. Where a row ends "where it came
from" (an extend of an attached volume goes back to ``in-use``, a backup of an available one to ``available``),
the status it started from is kept in ``previous_status`` while it runs, as Cinder does. An action asked for in a
status its row does not allow is Cinder's 400 ("Invalid volume: ... must be available") with the statuses it
needs. This module imports nothing of ours: the API, the volume service and the compute side all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BACK",
    "TRANSITIONS",
    "AttachStatus",
    "BackupStatus",
    "SnapshotStatus",
    "Transition",
    "VolumeAction",
    "VolumeStatus",
    "allowed",
]


class VolumeStatus(StrEnum):
    CREATING = "creating"
    """The backend is making the volume (empty, or from an image, a snapshot, another volume or a backup)."""
    AVAILABLE = "available"
    """Ready, attached to nothing."""
    RESERVED = "reserved"
    """An attachment record holds it for a server; the server's host has not plugged it in yet."""
    ATTACHING = "attaching"
    """A host is plugging it into a server."""
    IN_USE = "in-use"
    """Attached to one server (or more, for a multiattach volume)."""
    DETACHING = "detaching"
    """A host is unplugging it; the guest must release the disk first."""
    EXTENDING = "extending"
    """Being grown, detached or (Cinder 3.42) attached."""
    DOWNLOADING = "downloading"
    """Being filled from an image (a create from an image)."""
    UPLOADING = "uploading"
    """Being copied into a new image (``os-volume_upload_image``)."""
    BACKING_UP = "backing-up"
    """A backup is reading it."""
    RESTORING_BACKUP = "restoring-backup"
    """A backup is being written into it."""
    DELETING = "deleting"
    """The backend is removing it."""
    ERROR = "error"
    """Its creation failed: it holds no data and can only be deleted."""
    ERROR_DELETING = "error_deleting"
    """The backend failed to remove it; a delete may be tried again."""
    ERROR_EXTENDING = "error_extending"
    """An extend failed; the data is intact at the old size (Cinder needs an admin reset to use it again)."""
    ERROR_RESTORING = "error_restoring"
    """A restore failed part way: the data is not to be trusted."""
    DELETED = "deleted"
    """Gone from the backend; kept as a record (``deleted`` is set too)."""


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    BACKING_UP = "backing-up"
    """A backup made from this snapshot is reading it."""
    DELETED = "deleted"
    """Gone from the backend; kept as a record (``deleted`` is set too)."""


class BackupStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    RESTORING = "restoring"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    DELETED = "deleted"
    """Gone from the backup store; kept as a record (``deleted`` is set too)."""


class AttachStatus(StrEnum):
    """One attachment record's status (Cinder's ``volume_attachment.attach_status``)."""

    RESERVED = "reserved"
    """Made by the API for a server; nothing plugged in yet."""
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DETACHED = "detached"
    """Ended; kept as a record."""
    ERROR_ATTACHING = "error_attaching"
    ERROR_DETACHING = "error_detaching"


class VolumeAction(StrEnum):
    """What may be done to a volume; each names its row of ``TRANSITIONS``."""

    CREATE = "create"
    DELETE = "delete"
    EXTEND = "extend"
    RESERVE = "reserve"
    """An attachment is made for a server (Nova's attach, Cinder's ``POST /attachments`` without a connector)."""
    ATTACH = "attach"
    """The server's host plugs it in."""
    UNRESERVE = "unreserve"
    """An attachment that was never plugged in is dropped (a failed attach, a server deleted before it)."""
    DETACH = "detach"
    UPLOAD_IMAGE = "upload_image"
    SNAPSHOT = "snapshot"
    """Take a snapshot: the volume keeps its status while the snapshot is ``creating``."""
    BACKUP = "backup"
    RESTORE = "restore"
    """A backup is written into this volume."""
    RETYPE = "retype"
    """Change the volume type (only between types of the same backend: nothing moves)."""
    SET_BOOTABLE = "set_bootable"
    RESET_STATUS = "reset_status"
    """An admin sets any status (``os-reset_status``): the way out of the error statuses."""


BACK = None
"""In ``on_success``/``on_failure``: back to the status the action started from (``previous_status``)."""

_S = VolumeStatus
_ANY = frozenset(VolumeStatus)
_IDLE = frozenset({_S.AVAILABLE, _S.IN_USE})


@dataclass(frozen=True)
class Transition:
    """One action's row: the statuses it may start from, the status it holds while it runs (None: it runs
    without changing the volume's status), and where a success and a failure leave the volume (``BACK``: the
    status it started from)."""

    action: VolumeAction
    starts_from: frozenset[VolumeStatus]
    busy: VolumeStatus | None
    on_success: VolumeStatus | None = BACK
    on_failure: VolumeStatus | None = BACK

    def allows(self, status: str) -> bool:
        return status in self.starts_from


def _row(
    action: VolumeAction,
    starts_from: frozenset[VolumeStatus] | set[VolumeStatus],
    busy: VolumeStatus | None,
    **rest: VolumeStatus | None,
) -> Transition:
    return Transition(action, frozenset(starts_from), busy, **rest)  # type: ignore[arg-type]


TRANSITIONS: dict[VolumeAction, Transition] = {
    t.action: t
    for t in (
        _row(VolumeAction.CREATE, {_S.CREATING}, _S.CREATING, on_success=_S.AVAILABLE, on_failure=_S.ERROR),
        # Cinder refuses a delete while attached, while any snapshot exists (unless cascade) and while busy.
        _row(VolumeAction.DELETE, {_S.AVAILABLE, _S.ERROR, _S.ERROR_DELETING, _S.ERROR_EXTENDING,
                                   _S.ERROR_RESTORING}, _S.DELETING, on_success=_S.DELETED,
             on_failure=_S.ERROR_DELETING),
        # Extending an attached volume (Cinder 3.42) goes back to in-use; a failed extend keeps the old size.
        _row(VolumeAction.EXTEND, _IDLE, _S.EXTENDING, on_failure=_S.ERROR_EXTENDING),
        # One server per volume (multiattach is not offered): only an available volume is reserved.
        _row(VolumeAction.RESERVE, {_S.AVAILABLE}, _S.RESERVED, on_success=_S.RESERVED, on_failure=_S.AVAILABLE),
        _row(VolumeAction.ATTACH, {_S.RESERVED}, _S.ATTACHING, on_success=_S.IN_USE, on_failure=_S.AVAILABLE),
        _row(VolumeAction.UNRESERVE, {_S.RESERVED, _S.ATTACHING}, None, on_success=_S.AVAILABLE),
        # The guest did not release the disk in time: it stays attached and usable.
        _row(VolumeAction.DETACH, {_S.IN_USE}, _S.DETACHING, on_success=_S.AVAILABLE, on_failure=_S.IN_USE),
        _row(VolumeAction.UPLOAD_IMAGE, _IDLE, _S.UPLOADING),
        _row(VolumeAction.SNAPSHOT, _IDLE, None),
        _row(VolumeAction.BACKUP, _IDLE, _S.BACKING_UP),
        _row(VolumeAction.RESTORE, {_S.AVAILABLE, _S.ERROR_RESTORING}, _S.RESTORING_BACKUP,
             on_success=_S.AVAILABLE, on_failure=_S.ERROR_RESTORING),
        _row(VolumeAction.RETYPE, _IDLE, None),
        _row(VolumeAction.SET_BOOTABLE, _ANY - {_S.DELETING, _S.ERROR_DELETING, _S.DELETED}, None),
        _row(VolumeAction.RESET_STATUS, _ANY - {_S.DELETED}, None),
    )
}  # fmt: skip
"""Every action, keyed by name."""


def allowed(action: VolumeAction | str, status: str) -> bool:
    return TRANSITIONS[VolumeAction(action)].allows(status)


SNAPSHOT_DELETABLE = frozenset({SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR, SnapshotStatus.ERROR_DELETING})
BACKUP_DELETABLE = frozenset({BackupStatus.AVAILABLE, BackupStatus.ERROR, BackupStatus.ERROR_DELETING})
