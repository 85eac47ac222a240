"""Image statuses, as Glance names them, and the transitions between them."""

from __future__ import annotations

from enum import StrEnum


class ImageStatus(StrEnum):
    QUEUED = "queued"
    """Created, no data yet: the only status that accepts an upload (or a stage)."""
    SAVING = "saving"
    """Data is being received; one upload owns the image until it ends."""
    UPLOADING = "uploading"
    """Data is being staged for an interoperable import."""
    IMPORTING = "importing"
    """The image service is inspecting and converting staged data."""
    ACTIVE = "active"
    """Data stored, inspected and checksummed: can be downloaded and booted."""
    DEACTIVATED = "deactivated"
    """Data kept but not downloadable by non-admins, until reactivated."""
    KILLED = "killed"
    """The data was rejected (failed inspection or conversion); the image holds no data."""
    DELETED = "deleted"
    """Gone; kept only as a record."""


class Visibility(StrEnum):
    PRIVATE = "private"
    """Only the owner project (and admins) see it."""
    SHARED = "shared"
    """The owner and the projects added as members (listed once they accept)."""
    COMMUNITY = "community"
    """Anyone may use it; listed only for the owner or when asked for."""
    PUBLIC = "public"
    """Everyone sees it; only admins may publish."""


class MemberStatus(StrEnum):
    PENDING = "pending"
    """Added by the owner, not yet answered by the member."""
    ACCEPTED = "accepted"
    """The member listed the image among its own."""
    REJECTED = "rejected"
    """The member declined; it can still use the image by id."""


class TaskStatus(StrEnum):
    """A Glance task's status (``/v2/tasks``): pending -> processing -> success | failure, never back."""

    PENDING = "pending"
    """Accepted; the image service has not started it (its message may still be in the queue)."""
    PROCESSING = "processing"
    """Claimed by one image worker, which is fetching, inspecting and storing the data."""
    SUCCESS = "success"
    """Done: ``result`` names the active image made."""
    FAILURE = "failure"
    """Ended without an image: ``message`` says why; anything half made was removed."""


TASK_ENDED = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE})


UPLOADABLE = frozenset({ImageStatus.QUEUED})
DOWNLOADABLE = frozenset({ImageStatus.ACTIVE})
# Statuses an image moves to when an action succeeds, keyed by (action, current status).
TRANSITIONS: dict[tuple[str, ImageStatus], ImageStatus] = {
    ("upload", ImageStatus.QUEUED): ImageStatus.SAVING,
    ("upload_done", ImageStatus.SAVING): ImageStatus.ACTIVE,
    ("upload_failed", ImageStatus.SAVING): ImageStatus.QUEUED,
    ("upload_rejected", ImageStatus.SAVING): ImageStatus.KILLED,
    ("stage", ImageStatus.QUEUED): ImageStatus.UPLOADING,
    ("stage_done", ImageStatus.UPLOADING): ImageStatus.UPLOADING,
    ("stage_failed", ImageStatus.UPLOADING): ImageStatus.QUEUED,
    ("import", ImageStatus.UPLOADING): ImageStatus.IMPORTING,
    ("import_done", ImageStatus.IMPORTING): ImageStatus.ACTIVE,
    ("import_failed", ImageStatus.IMPORTING): ImageStatus.KILLED,
    ("deactivate", ImageStatus.ACTIVE): ImageStatus.DEACTIVATED,
    ("deactivate", ImageStatus.DEACTIVATED): ImageStatus.DEACTIVATED,
    ("reactivate", ImageStatus.DEACTIVATED): ImageStatus.ACTIVE,
    ("reactivate", ImageStatus.ACTIVE): ImageStatus.ACTIVE,
}


def next_status(action: str, current: ImageStatus) -> ImageStatus | None:
    """The status after ``action`` from ``current``, or None when the action is not allowed there."""
    return TRANSITIONS.get((action, current))
