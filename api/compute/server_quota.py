"""The quota checks of server requests, each in the transaction that writes the change.

- create: ``instances``, ``cores`` and ``ram`` for as many servers as fit between ``min_count`` and
  ``max_count`` (Nova's rule), ``metadata_items`` per server and ``server_group_members`` of the group;
  the ports the servers need are checked by the network service as it makes them, in the same transaction.
- resize: the growth in ``cores`` and ``ram`` (a server counts the larger of its old and new flavor until
  the resize is confirmed, so a revert never needs a check).
- metadata writes and rebuild: ``metadata_items`` of the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from api.context import RequestContext
from api.runtime import runtime
from compute import quota as compute_quota
from compute.models import Flavor, Instance, counted_resources
from quota import engine


def admitted(
    session: Session,
    ctx: RequestContext,
    flavor: Flavor,
    minimum: int,
    maximum: int,
    metadata: Mapping[str, Any],
    group_id: str | None,
) -> int:
    """How many of the requested servers the project's quota admits; ``OverQuota`` when not ``minimum``."""
    per_server = {"instances": 1, "cores": flavor.vcpus, "ram": flavor.memory_mb}
    items = {"metadata_items": len(metadata)}
    count = engine.allowed_count(session, str(ctx.project_id), per_server, minimum, maximum, runtime().settings, items)
    if group_id:
        members = compute_quota.group_members(session, group_id)
        engine.check_item(session, ctx.project_id, "server_group_members", members, count, lock_project=True)
    return count


def check_resize(session: Session, instance: Instance, new_flavor: dict[str, Any]) -> None:
    """The growth the resize brings to the project's cores and RAM (nothing to check for a smaller flavor)."""
    before = counted_resources(instance.flavor, instance.old_flavor)
    after = counted_resources(new_flavor, instance.flavor)
    deltas = {
        "cores": after["quota_vcpus"] - before["quota_vcpus"],
        "ram": after["quota_memory_mb"] - before["quota_memory_mb"],
    }
    engine.enforce(session, instance.project_id, deltas, settings=runtime().settings)


def check_metadata(session: Session, instance: Instance, items: Mapping[str, Any]) -> None:
    """``items`` as the server's whole new metadata."""
    engine.check_item(session, instance.project_id, "metadata_items", 0, len(items), settings=runtime().settings)
