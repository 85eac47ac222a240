"""Security groups: each project's ``default`` group, made on first need, and the groups users create.

Neutron's defaults, reproduced: the ``default`` group allows all egress (IPv4 and IPv6) and ingress only from
members of the same group; every other new group starts with the two egress rules and no ingress. The
``default`` group is created lazily (first network, port or security-group listing of the project), and
the ``default_security_groups`` primary key makes two concurrent first requests agree on a single one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.db import new_uuid
from network import quota
from network.access import Caller, get_security_group
from network.db import begin_write, insert_with_retry
from network.exceptions import (
    NeutronConflict,
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupInUse,
    SecurityGroupNotFound,
)
from network.models import DefaultSecurityGroup, PortSecurityGroup, SecurityGroup, SecurityGroupRule

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"
ETHERTYPES = ("IPv4", "IPv6")


class SecurityGroupDefaultAlreadyExists(NeutronConflict):
    msg_fmt = "Default security group already exists."
    fault_type = "SecurityGroupDefaultAlreadyExists"


def _egress_rules(group: SecurityGroup) -> list[SecurityGroupRule]:
    return [
        SecurityGroupRule(security_group_id=group.id, project_id=group.project_id, direction="egress", ethertype=e)
        for e in ETHERTYPES
    ]


def _new_group(project_id: str, name: str, description: str, stateful: bool = True) -> SecurityGroup:
    # The id is chosen now, not at flush, because the rules (and a default group's remote) refer to it.
    return SecurityGroup(id=new_uuid(), project_id=project_id, name=name, description=description, stateful=stateful)


def default_group_id(session: Session, project_id: str) -> str | None:
    query = select(DefaultSecurityGroup.security_group_id).where(DefaultSecurityGroup.project_id == project_id)
    return session.scalar(query)


def ensure_default(session: Session, project_id: str) -> str:
    """The id of the project's ``default`` group, creating it (with Neutron's four rules) if it is missing."""
    found = default_group_id(session, project_id)
    if found is not None:
        return found
    begin_write(session)

    def attempt(_number: int) -> str:
        group = _new_group(project_id, DEFAULT_NAME, DEFAULT_DESCRIPTION)
        ingress = [
            SecurityGroupRule(
                security_group_id=group.id,
                project_id=project_id,
                direction="ingress",
                ethertype=ethertype,
                remote_group_id=group.id,
            )
            for ethertype in ETHERTYPES
        ]
        group.rules = _egress_rules(group) + ingress
        session.add(group)
        session.flush()
        session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
        session.flush()
        return group.id

    created = insert_with_retry(session, 1, attempt)
    if created is not None:
        return created
    winner = default_group_id(session, project_id)  # a concurrent request made it first
    assert winner is not None
    return winner


def create_group(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> SecurityGroup:
    project_id = attrs.get("project_id") or caller.project_id
    if not project_id:
        raise SecurityGroupNotFound(id="(no project)")
    ensure_default(session, project_id)
    begin_write(session)
    if attrs.get("name") == DEFAULT_NAME:
        raise SecurityGroupDefaultAlreadyExists()
    quota.check(session, project_id, "security_group")
    group = _new_group(project_id, attrs.get("name", ""), attrs.get("description", ""), attrs.get("stateful", True))
    group.tags = list(dict.fromkeys(attrs.get("tags") or []))
    group.rules = _egress_rules(group)
    session.add(group)
    session.flush()
    return group


def update_group(session: Session, caller: Caller, group_id: str, attrs: Mapping[str, Any]) -> SecurityGroup:
    group = get_security_group(session, caller, group_id)
    is_default = default_group_id(session, group.project_id) == group.id
    if is_default and attrs.get("name", DEFAULT_NAME) != DEFAULT_NAME:
        raise SecurityGroupCannotUpdateDefault()
    if not is_default and attrs.get("name") == DEFAULT_NAME:
        raise SecurityGroupDefaultAlreadyExists()
    if "stateful" in attrs and attrs["stateful"] != group.stateful and _in_use(session, group.id):
        raise SecurityGroupInUse(id=group.id, reason="in use; its statefulness cannot change")
    for field in ("name", "description", "stateful"):
        if field in attrs:
            setattr(group, field, attrs[field])
    group.revision_number += 1
    session.flush()
    return group


def _in_use(session: Session, group_id: str) -> bool:
    query = select(PortSecurityGroup.port_id).where(PortSecurityGroup.security_group_id == group_id).limit(1)
    return session.scalars(query).first() is not None


def delete_group(session: Session, caller: Caller, group_id: str) -> None:
    """409 for the ``default`` group (unless an admin deletes it) and for a group a port uses."""
    group = get_security_group(session, caller, group_id)
    begin_write(session)
    if default_group_id(session, group.project_id) == group.id and not caller.is_admin:
        raise SecurityGroupCannotRemoveDefault()
    if _in_use(session, group.id):
        raise SecurityGroupInUse(id=group.id)
    session.delete(group)
    session.flush()


def resolve(session: Session, project_id: str, names_or_ids: Iterable[str]) -> list[str]:
    """Ids of the project's groups named or identified by ``names_or_ids`` (what Nova's ``security_groups``
    of a server create gives); 404 ``SecurityGroupNotFound`` for one that is not the project's, or ambiguous."""
    wanted = list(dict.fromkeys(names_or_ids))
    if DEFAULT_NAME in wanted:
        ensure_default(session, project_id)
    groups = list(session.scalars(select(SecurityGroup).where(SecurityGroup.project_id == project_id)))
    found = []
    for key in wanted:
        matches = [g.id for g in groups if g.id == key] or [g.id for g in groups if g.name == key]
        if len(matches) != 1:
            raise SecurityGroupNotFound(id=key)
        found.append(matches[0])
    return found


def check_usable(session: Session, project_id: str, group_ids: Iterable[str]) -> list[str]:
    """``group_ids`` if each is a group of ``project_id`` (the port's project); else 404 for the first that is not."""
    ids = list(dict.fromkeys(group_ids))
    query = select(SecurityGroup.id).where(SecurityGroup.id.in_(ids), SecurityGroup.project_id == project_id)
    known = set(session.scalars(query))
    for group_id in ids:
        if group_id not in known:
            raise SecurityGroupNotFound(id=group_id)
    return ids
