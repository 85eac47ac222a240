"""Starting an evacuation, in whichever process starts it: an admin's request (the API) or the HA pass (scheduler).

An evacuation rebuilds a server of a down host on another host: the same uuid, ports, volumes and metadata, its
root disk made again from its image (or kept: a volume, or a Ceph disk the new host opens again). Both starters
take the same steps in one transaction, here: claim ``evacuate`` (task ``rebuilding``) by compare-and-swap, record
the source host fenced (so that it takes no build when it comes back, before its stale copy is gone), record the
move (``migrations`` type ``evacuation``, ``accepted``) and the user-visible action; after the commit the caller
sends ``compute.client.evacuate`` and ``compute.control.evacuation`` does the rest.

Which servers are highly available: those whose metadata has ``HA_Enabled`` true (Masakari's key and values, so
tooling written for Masakari marks servers the same way).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from compute import actions, fencing, moves
from compute.models import ComputeHost, Instance, Migration
from compute.states import Action, VmState

__all__ = ["HA_KEY", "begin", "ha_enabled"]

HA_KEY = "HA_Enabled"
"""Server metadata key that marks a server for automatic evacuation (Masakari's)."""
_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})


def ha_enabled(metadata: dict[str, str] | None) -> bool:
    """Whether the server's metadata marks it highly available (``HA_Enabled`` = ``True``, any case)."""
    return str((metadata or {}).get(HA_KEY, "")).strip().lower() in _TRUE


def begin(
    session: Session,
    instance: Instance,
    source: ComputeHost,
    request_id: str,
    user_id: str | None,
    project_id: str | None,
    *,
    target: str | None = None,
    stopped: bool = False,
    fenced_by: fencing.FencedBy = fencing.FencedBy.EVACUATION,
) -> Migration | None:
    """Claim the evacuation of ``instance`` from ``source`` (its host, down) to ``target`` (None: the scheduler
    picks). ``stopped``: the server ends stopped on its new host (Nova's 2.95); else as it was (a stopped server
    stays stopped). Returns the move, or None when the claim lost (the server changed since it was read)."""
    values = {"vm_state": VmState.STOPPED.value} if stopped else {}
    if not actions.claim(session, instance, Action.EVACUATE, fault=None, **values):
        return None
    fencing.mark_fenced(source, fenced_by)
    migration = moves.start(
        session,
        instance,
        moves.MigrationType.EVACUATION,
        moves.Status.ACCEPTED,
        request_id,
        user_id or "",
        project_id or "",
        dest_compute=target,
    )
    actions.record_action(session, instance, "evacuate", request_id, user_id, project_id)
    return migration
