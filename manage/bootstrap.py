"""First records of a new cloud: the default domain, the default roles, an admin and a demo tenant, the
service account of the hosts (with the ``host`` role only), the default flavors and the volume types (the
default type and one per configured volume backend, named after it).

Idempotent like ``keystone-manage bootstrap``: what exists is kept, a password that changed is reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.accounts import HOST_ROLE
from common.db import Database
from common.settings import Settings
from compute.models import Flavor
from identity import password_policy
from identity.models import DEFAULT_DOMAIN_ID, Domain, ImpliedRole, Project, Role, RoleAssignment, User
from identity.passwords import hash_password, verify_password
from volume.types import ensure_types

DEFAULT_ROLES = ("admin", "manager", "member", "reader", HOST_ROLE)
IMPLICATIONS = (("admin", "manager"), ("manager", "member"), ("member", "reader"))
"""Keystone's default role chain since 2023.2: ``manager`` (a project's or domain's own administrator) sits between
admin and member. Tempest's admin compute tests ask for a project manager's credentials and fail to set up without
the role."""
SUPERSEDED = (("admin", "member"),)
"""Rules of the chain before ``manager``: removed, as ``keystone-manage bootstrap`` does (admin still implies member,
through manager)."""


@dataclass(frozen=True)
class Tenant:
    """A project with one user holding one role on it; ``only_role``: and no other (an earlier bootstrap's grant
    is revoked: the hosts' account once held ``admin``)."""

    project: str
    user: str
    password: str
    role: str
    only_role: bool = False


def _ensure_domain(session: Session) -> None:
    if session.get(Domain, DEFAULT_DOMAIN_ID) is None:
        session.add(Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain"))
        session.flush()


def _ensure_roles(session: Session) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in DEFAULT_ROLES:
        role = session.scalars(select(Role).filter_by(name=name, domain_id=None)).one_or_none()
        if role is None:
            role = Role(name=name)
            session.add(role)
            session.flush()
        ids[name] = role.id
    for prior, implied in IMPLICATIONS:
        if session.get(ImpliedRole, (ids[prior], ids[implied])) is None:
            session.add(ImpliedRole(prior_role_id=ids[prior], implied_role_id=ids[implied]))
    for prior, implied in SUPERSEDED:
        if (rule := session.get(ImpliedRole, (ids[prior], ids[implied]))) is not None:
            session.delete(rule)
    return ids


def _ensure_tenant(session: Session, tenant: Tenant, role_ids: dict[str, str], rounds: int) -> list[str]:
    done: list[str] = []
    project = session.scalars(select(Project).filter_by(name=tenant.project, domain_id=DEFAULT_DOMAIN_ID)).one_or_none()
    if project is None:
        project = Project(name=tenant.project, domain_id=DEFAULT_DOMAIN_ID, description=f"{tenant.project} project")
        session.add(project)
        session.flush()
        done.append(f"created project {tenant.project}")
    user = session.scalars(select(User).filter_by(name=tenant.user, domain_id=DEFAULT_DOMAIN_ID)).one_or_none()
    if user is None:
        user = User(name=tenant.user, domain_id=DEFAULT_DOMAIN_ID, default_project_id=project.id)
        session.add(user)
        done.append(f"created user {tenant.user}")
    if not verify_password(tenant.password, user.password_hash, rounds):
        user.password_hash = hash_password(tenant.password, rounds)
        user.password_changed_at = datetime.now(UTC)
        # The operator's own choice: no expiry, no change on first use (identity.password_policy).
        user.password_expires_at, user.password_must_change = None, False
        done.append(f"set the password of {tenant.user}")
    if user.enabled is False:
        password_policy.enabled_again(user)  # disabled for inactivity: it counts from today again
    user.enabled = True
    session.flush()
    key = ("project", project.id, user.id, role_ids[tenant.role])
    if session.get(RoleAssignment, key) is None:
        session.add(RoleAssignment(target_type="project", target_id=project.id, user_id=user.id, role_id=key[3]))
        done.append(f"granted {tenant.role} on {tenant.project} to {tenant.user}")
    if tenant.only_role:
        grants = session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user.id)).all()
        others = [grant for grant in grants if (grant.target_type, grant.target_id, grant.role_id) != key[:2] + key[3:]]
        for grant in others:
            session.delete(grant)
        if others:
            done.append(f"revoked {len(others)} other role assignments of {tenant.user}")
    return done


# Nova's classic ids and sizes (MiB of RAM, GB of disk), sized down for m1.tiny to suit our tiny guest image.
DEFAULT_FLAVORS = (("1", "m1.tiny", 1, 128, 1), ("2", "m1.small", 1, 512, 5), ("3", "m1.medium", 2, 2048, 10))


def _ensure_flavors(session: Session) -> list[str]:
    done = []
    for flavor_id, name, vcpus, ram, disk in DEFAULT_FLAVORS:
        exists = session.get(Flavor, flavor_id) or session.scalars(select(Flavor).filter_by(name=name)).first()
        if exists is None:
            session.add(Flavor(id=flavor_id, name=name, vcpus=vcpus, memory_mb=ram, root_gb=disk))
            done.append(f"created flavor {name}")
    return done


def bootstrap(db: Database, tenants: list[Tenant], rounds: int, settings: Settings | None = None) -> list[str]:
    """Create what is missing; returns a line per change (empty when everything was already there). The volume
    types need ``settings`` (which backends run, the default type's name)."""
    with db.session() as session:
        _ensure_domain(session)
        role_ids = _ensure_roles(session)
        changes: list[str] = []
        for tenant in tenants:
            changes += _ensure_tenant(session, tenant, role_ids, rounds)
        changes += _ensure_flavors(session)
        if settings is not None:
            changes += ensure_types(session, settings)
    return changes
