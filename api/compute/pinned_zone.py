"""2.104: a server update may unpin the server from its availability zone, or pin it to the zone it is in.

A server created in a zone is pinned to it (``Instance.requested_zone``, shown as ``pinned_availability_zone``
from 2.96): moves keep it there. Nova's unpin-az change lets the owner undo that, or pin again, with only two
transitions: to null (unpinned; already unpinned is a no-op), and to the zone the server is in now (the zone it
is pinned to already is a no-op). Pinning to any other zone would pin a server away from where it runs: 400.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from common.exceptions import BadRequest, Conflict
from compute.models import Instance


def repin(session: Session, instance: Instance, wanted: str | None) -> None:
    """Set the zone ``instance`` is pinned to (None: unpinned), in the caller's transaction.

    Pinning is a compare-and-swap on the server's current zone, so a move that lands it elsewhere meanwhile
    makes the request fail rather than pin the server to a zone it has left.
    """
    if wanted is None or wanted == instance.requested_zone:
        instance.requested_zone = wanted
        return
    if instance.availability_zone is None:
        raise Conflict(f"Server {instance.id} is not in an availability zone yet: pin it once it is placed.")
    pinned = session.execute(
        update(Instance)
        .where(Instance.id == instance.id, Instance.availability_zone == wanted)
        .values(requested_zone=wanted)
        .execution_options(synchronize_session="fetch")
    )
    if pinned.rowcount == 0:
        raise BadRequest(
            f"Server {instance.id} is in availability zone {instance.availability_zone}, not {wanted}: "
            "a server can only be pinned to the availability zone it is in."
        )
