"""A host's fencing as the records keep it: the rule every process applies before a server leaves a down host.

Why: a host that stopped heartbeating may still run its guests (its network to the control node failed, its agent
hung). Rebuilding such a guest elsewhere gives two copies writing to the same volumes and answering on the same
addresses: split brain. A host is *fenced* once it is known that its guests no longer run, and only then may its
servers be evacuated automatically (``compute.control.ha``). It is known when

- an operator says so: ``forced_down`` (``openstack compute service set --down``, Nova's statement that the host is
  fenced), recorded as ``operator``;
- the operator's fence command succeeded (``fence_command``, run by ``compute.control.fencing``);
- an admin evacuated one of its servers (Nova's precondition for an evacuation is that the host is fenced).

A fenced host is also forced down and disabled, and stays so when it comes back: it takes no build until an admin
forces it up and enables it, and forcing it up is refused while an evacuated server's stale copy may still be
there (an evacuation ``done`` and not yet ``completed``, Nova's rule since bug 1922053). Run in the API and the
scheduler; plain record changes in the caller's transaction.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compute.models import ComputeHost, Migration
from compute.moves import MigrationType, Status
from compute.service import now

__all__ = ["FencedBy", "done_evacuations", "is_fenced", "mark_fenced", "unfence"]


class FencedBy(StrEnum):
    OPERATOR = "operator"
    """An admin forced the host down (os-services ``forced_down``)."""
    FENCE_COMMAND = "fence_command"
    """The operator's fence command exited 0 for it."""
    EVACUATION = "evacuation"
    """An admin evacuated one of its servers (which Nova allows only for a fenced host)."""


def is_fenced(host: ComputeHost | None) -> bool:
    """Whether the host's guests are known not to run: an operator forced it down, or it was fenced since."""
    return host is not None and (host.forced_down or host.fenced_at is not None)


def mark_fenced(host: ComputeHost, by: FencedBy) -> bool:
    """Record the host fenced (the first way it was, kept), forced down and disabled, so that when it comes back it
    takes no build before an admin forces it up and enables it. True when it was not fenced before."""
    newly = host.fenced_at is None
    if newly:
        host.fenced_at, host.fenced_by = now(), by.value
    host.forced_down = True
    if host.enabled:
        host.enabled = False
        host.disabled_reason = f"fenced ({by.value})"
    return newly


def unfence(host: ComputeHost) -> None:
    """An operator forced the host up: it is no longer known to be fenced (its servers stay where they are)."""
    host.fenced_at, host.fenced_by = None, None


def done_evacuations(session: Session, host: str) -> int:
    """Evacuations from ``host`` whose stale copy there has not been seen gone yet (``done``, not ``completed``):
    the host must report once before it may be forced up."""
    query = select(func.count(Migration.id)).where(
        Migration.source_compute == host,
        Migration.migration_type == MigrationType.EVACUATION.value,
        Migration.status == Status.DONE.value,
    )
    return int(session.scalar(query) or 0)
