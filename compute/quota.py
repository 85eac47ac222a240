"""How compute usage is counted for quotas (named by ``quota.registry``; called by the quota engine).

Every server that is not deleted counts, ERROR ones included, except one whose build failed: it never got a
host and holds nothing, and the issue this cloud answers asks that a failed build free its quota (Nova keeps
counting it until it is deleted). A server being deleted no longer counts either: a delete
always ends with the server gone (``task_state`` deleting has no way back), so its quota is free as soon as
the delete is accepted. Cores and RAM are the indexed ``quota_*`` columns that follow the flavor
(``compute.models.counted_resources``), so a project's usage is one index-only aggregate. The counters read
through the session's connection (Core): the engine has flushed the session, and the ORM's result handling
would cost more than these one-row queries.
"""

from __future__ import annotations

from sqlalchemy import bindparam, false, func, or_, select
from sqlalchemy.orm import Session

from compute.models import Instance, KeyPair, ServerGroup, ServerGroupMember
from compute.states import TaskState

# Built once: building a statement costs more than running these (they run in every create's check).
INSTANCES = select(
    func.count(),
    func.coalesce(func.sum(Instance.quota_vcpus), 0),
    func.coalesce(func.sum(Instance.quota_memory_mb), 0),
).where(
    Instance.project_id == bindparam("project_id"),
    Instance.deleted == false(),  # not ``IS false``: PostgreSQL seeks an index on the one, not on the other
    Instance.build_failed == false(),
    or_(Instance.task_state.is_(None), Instance.task_state != TaskState.DELETING.value),
)
"""Servers, cores and RAM of a project: an index-only scan of ``ix_instances_project_usage``."""
_KEY_PAIRS = select(func.count()).select_from(KeyPair).where(KeyPair.user_id == bindparam("user_id"))
_SERVER_GROUPS = select(func.count()).select_from(ServerGroup).where(ServerGroup.project_id == bindparam("project_id"))


def count_instances(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    instances, cores, ram = session.connection().execute(INSTANCES, {"project_id": project_id}).one()
    return {"instances": instances, "cores": cores, "ram": ram}


def count_key_pairs(session: Session, _project_id: str, user_id: str | None) -> dict[str, int]:
    """Key pairs belong to users, not projects: Nova limits each user's by the project's ``key_pairs``."""
    if user_id is None:
        return {"key_pairs": 0}
    found = session.connection().scalar(_KEY_PAIRS, {"user_id": user_id})
    return {"key_pairs": found or 0}


def count_server_groups(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    found = session.connection().scalar(_SERVER_GROUPS, {"project_id": project_id})
    return {"server_groups": found or 0}


def group_members(session: Session, group_id: str) -> int:
    """Servers in a group that still exist (``server_group_members`` is a limit per group)."""
    query = (
        select(func.count())
        .select_from(ServerGroupMember)
        .join(Instance, Instance.id == ServerGroupMember.instance_id)
        .where(ServerGroupMember.group_id == group_id, Instance.deleted.is_(False))
    )
    return session.scalar(query) or 0
