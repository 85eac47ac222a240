"""Applying ``volume.states.TRANSITIONS`` to a volume row: the only code that changes a volume's ``status``.

``begin`` starts an action: the row's ``starts_from`` must hold the volume's status (else Cinder's 400), and the
change to the busy status is a compare-and-swap on the status read, so of two requests racing for one volume
exactly one wins (the other gets the 400 with the status it lost to). ``finish`` ends the action where the row
says, ``BACK`` meaning the status it started from, and only if the volume still holds the action's busy status
(a task delivered twice, or one preempted by an admin's reset, changes nothing). Both run in the caller's
transaction and never commit.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from common.db import utcnow
from volume.exceptions import WrongStatus
from volume.models import Volume
from volume.states import TRANSITIONS, VolumeAction, VolumeStatus

_VERBS = {
    VolumeAction.UPLOAD_IMAGE: "upload to an image",
    VolumeAction.SET_BOOTABLE: "set bootable",
    VolumeAction.RESET_STATUS: "reset status",
}


def verb(action: VolumeAction) -> str:
    return _VERBS.get(action, action.value.replace("_", " "))


def check(volume: Volume, action: VolumeAction) -> None:
    """Cinder's 400 unless ``action`` may start from the volume's status."""
    row = TRANSITIONS[action]
    if not row.allows(volume.status):
        raise WrongStatus(verb(action), volume.status, row.starts_from)


def begin(session: Session, volume: Volume, action: VolumeAction, **values: object) -> None:
    """Start ``action``: its busy status (when its row has one) with ``previous_status`` kept, the last error
    cleared, ``values`` set too, in one compare-and-swap on the status the caller read."""
    check(volume, action)
    row = TRANSITIONS[action]
    if row.busy is None:
        for name, value in values.items():
            setattr(volume, name, value)
        return
    started_from = volume.status
    result = session.execute(
        update(Volume)
        .where(Volume.id == volume.id, Volume.status == started_from)
        .values(status=row.busy.value, previous_status=started_from, error=None, updated_at=utcnow(), **values)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        session.refresh(volume)
        raise WrongStatus(verb(action), volume.status, row.starts_from)


def outcome(volume: Volume, action: VolumeAction, succeeded: bool) -> str:
    """The status ``action`` ends in from the volume as it is now."""
    row = TRANSITIONS[action]
    target = row.on_success if succeeded else row.on_failure
    if target is not None:
        return target.value
    return volume.previous_status or volume.status


def finish(
    session: Session,
    volume: Volume,
    action: VolumeAction,
    *,
    succeeded: bool,
    error: str | None = None,
    **values: object,
) -> bool:
    """End ``action`` where its row says; False (and nothing changed) when the volume no longer holds the action's
    busy status. ``error`` is what the user sees of a failure; ``values`` are set with the status."""
    row = TRANSITIONS[action]
    busy = row.busy.value if row.busy is not None else volume.status
    changes = {
        "status": outcome(volume, action, succeeded),
        "previous_status": None,
        "error": None if succeeded else (error or f"The volume's {verb(action)} failed.")[:1024],
        "updated_at": utcnow(),
        **values,
    }
    result = session.execute(
        update(Volume)
        .where(Volume.id == volume.id, Volume.status == busy)
        .values(**changes)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def force(session: Session, volume: Volume, status: VolumeStatus, **values: object) -> None:
    """Set a status outside the table's rows (an admin's ``os-reset_status``, a forced delete)."""
    volume.status = status.value
    volume.previous_status = None
    for name, value in values.items():
        setattr(volume, name, value)
    session.flush()
