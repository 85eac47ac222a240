"""Users and groups of an LDAP domain, as the rest of Stratus sees them: mapped ids and shadow rows.

Keystone's id_mapping gives each directory entry a stable public id derived from (domain, local id, entity
type); here too (:func:`public_id`, recorded in ``id_mappings``). Everything else in Stratus (role assignments,
group grants, application credentials, tokens, lockout counts) refers to users and groups by a row in ``users``
and ``groups``, with foreign keys; so an LDAP entry gets a *shadow row* there under its public id, without a
password, refreshed from the directory whenever it is read:

- listing a domain's users or groups (:func:`refresh_domain`) reads the directory and brings the rows and the
  memberships up to date (a user gone from the directory is disabled, a group gone loses its members; rows are not
  deleted, so a mistyped filter does not wipe role assignments);
- signing in (:func:`refresh_signed_in`) refreshes the one user and the groups the directory says they are in.

The directory stays the source of truth and nothing is ever written to it: writes through the API are refused
(:func:`refuse_writes`). Memberships and rows are identity tables, so every change bumps the identity
generation (identity.generation) and cached tokens see a user disabled or a group left at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.exceptions import Forbidden
from identity import domain_config, ldap_options
from identity.backends.base import DirectoryGroup, DirectoryUnavailable, DirectoryUser, IdentityDirectory
from identity.backends.ldap import LdapDirectory
from identity.fernet import KeyRepository
from identity.models import Group, IdMapping, User, UserGroupMembership

READ_ONLY = "LDAP does not support write operations"
"""Keystone's message (its ``READ_ONLY_LDAP_ERROR_MESSAGE``) for any write to an LDAP domain, with a 403."""

make_directory: Callable[[str, dict[str, Any], str | None], IdentityDirectory] = LdapDirectory
"""How a directory is opened from a domain's merged ``[ldap]`` options; tests put a fake here."""


def public_id(domain_id: str, local_id: str, entity_type: str) -> str:
    """The stable public id of a directory entry (sha256 of its domain, local id and type, as Keystone's
    default id generator; NUL-separated so no two triples give the same input)."""
    return hashlib.sha256(f"{domain_id}\0{local_id}\0{entity_type}".encode()).hexdigest()


def ldap_options_of(session: Session, domain_id: str) -> dict[str, Any] | None:
    """The domain's merged ``[ldap]`` options (Keystone's defaults under its own) when its driver is ``ldap``."""
    config = domain_config.stored(session, domain_id)
    if config.get("identity", {}).get("driver") != "ldap":
        return None
    return {**domain_config.DEFAULTS["ldap"], "group_ad_nesting": False, **config.get("ldap", {})}


def is_ldap(session: Session, domain_id: str | None) -> bool:
    return domain_id is not None and ldap_options_of(session, domain_id) is not None


def directory(session: Session, domain_id: str, keys: KeyRepository) -> IdentityDirectory | None:
    """The domain's directory, or None when the domain keeps its users in SQL."""
    options = ldap_options_of(session, domain_id)
    if options is None:
        return None
    if urlsplit(str(options.get("url"))).scheme not in ("ldap", "ldaps"):
        raise DirectoryUnavailable(domain_id=domain_id, reason="its ldap.url must be an ldap:// or ldaps:// URL")
    return make_directory(domain_id, options, ldap_options.unsealed_password(options, keys))


def refuse_writes(session: Session, domain_id: str | None) -> None:
    """403 when ``domain_id`` reads its identities from LDAP: the backend is read-only, as Keystone's."""
    if is_ldap(session, domain_id):
        raise Forbidden(READ_ONLY)


def _mapped(session: Session, domain_id: str, local_id: str, entity_type: str) -> str:
    pid = public_id(domain_id, local_id, entity_type)
    if session.get(IdMapping, pid) is None:
        session.add(IdMapping(public_id=pid, domain_id=domain_id, local_id=local_id, entity_type=entity_type))
    return pid


def local_id_of(session: Session, public: str) -> str | None:
    row = session.get(IdMapping, public)
    return row.local_id if row is not None else None


def _set(row: Any, **values: Any) -> None:
    """Assign only what differs, so an unchanged entry does not bump the identity generation."""
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


def ensure_user(session: Session, domain_id: str, entry: DirectoryUser) -> str | None:
    """The entry's public id, with its shadow row up to date; None when another entry already has its name."""
    pid = _mapped(session, domain_id, entry.local_id, "user")
    row = session.get(User, pid)
    fields = {
        "name": entry.name[:255],
        "enabled": entry.enabled,
        "email": entry.email,
        "description": entry.description,
    }
    if row is None:
        if session.scalar(select(User.id).where(User.domain_id == domain_id, User.name == fields["name"])):
            return None
        session.add(User(id=pid, domain_id=domain_id, extra={"ldap": True}, options={}, **fields))
        session.flush()
    else:
        _set(row, **fields)
    return pid


def ensure_group(session: Session, domain_id: str, entry: DirectoryGroup) -> str | None:
    """The group's public id, with its shadow row up to date; None when its name cannot be kept (too long for
    Keystone's 64 characters, or taken by another entry)."""
    if len(entry.name) > 64:
        return None
    pid = _mapped(session, domain_id, entry.local_id, "group")
    row = session.get(Group, pid)
    if row is None:
        if session.scalar(select(Group.id).where(Group.domain_id == domain_id, Group.name == entry.name)):
            return None
        session.add(Group(id=pid, domain_id=domain_id, name=entry.name, description=entry.description, extra={}))
        session.flush()
    else:
        _set(row, name=entry.name, description=entry.description)
    return pid


def _set_memberships(session: Session, user_ids: set[str] | None, group_id: str, members: set[str]) -> None:
    """Make ``members`` exactly the members of ``group_id`` (restricted to ``user_ids`` when given)."""
    query = select(UserGroupMembership.user_id).where(UserGroupMembership.group_id == group_id)
    current = set(session.scalars(query))
    if user_ids is not None:
        current &= user_ids
    gone = current - members
    if gone:
        session.execute(
            delete(UserGroupMembership).where(
                UserGroupMembership.group_id == group_id, UserGroupMembership.user_id.in_(gone)
            )
        )
    for user_id in members - current:
        session.add(UserGroupMembership(user_id=user_id, group_id=group_id))


def refresh_domain(session: Session, domain_id: str, source: IdentityDirectory, name: str | None = None) -> None:
    """Bring the domain's shadow users, groups and memberships up to date with the directory.

    With ``name`` (a list filtered by name) only the users and groups of that exact name are read (the name is
    escaped into the search by the directory) and nothing is marked gone.
    """
    users = source.list_users(name)
    groups = source.list_groups(name)
    by_key: dict[str, str] = {}
    member_of: dict[str, set[str]] = {}
    for entry in users:
        pid = ensure_user(session, domain_id, entry)
        if pid is None:
            continue
        by_key[entry.dn.lower()] = by_key[entry.local_id] = pid
        for dn in entry.member_of:
            member_of.setdefault(dn.lower(), set()).add(pid)
    if name is not None:  # a list by name: the entries of that name, no memberships, nothing marked gone
        for group in groups:
            ensure_group(session, domain_id, group)
        return
    seen_groups: set[str] = set()
    for group in groups:
        gid = ensure_group(session, domain_id, group)
        if gid is None:
            continue
        seen_groups.add(gid)
        members = {by_key[m.lower()] for m in group.members if m.lower() in by_key}
        members |= {by_key[m] for m in group.members if m in by_key}
        _set_memberships(session, None, gid, members | member_of.get(group.dn.lower(), set()))
    for row in session.scalars(select(Group).where(Group.domain_id == domain_id, Group.id.not_in(seen_groups))):
        _set_memberships(session, None, row.id, set())
    kept = set(by_key.values())
    for row in session.scalars(select(User).where(User.domain_id == domain_id, User.id.not_in(kept))):
        _set(row, enabled=False)


def refresh_signed_in(session: Session, domain_id: str, source: IdentityDirectory, entry: DirectoryUser) -> str | None:
    """The user's public id after a sign-in, with their row and their groups as the directory has them now."""
    directory_groups = source.groups_of(entry)  # read before any write: no lock is held while the directory answers
    pid = ensure_user(session, domain_id, entry)
    if pid is None:
        return None
    wanted = {gid for g in directory_groups if (gid := ensure_group(session, domain_id, g)) is not None}
    domain_groups = set(session.scalars(select(Group.id).where(Group.domain_id == domain_id)))
    held = set(session.scalars(select(UserGroupMembership.group_id).where(UserGroupMembership.user_id == pid)))
    for gid in (held & domain_groups) - wanted:
        _set_memberships(session, {pid}, gid, set())
    for gid in wanted - held:
        session.add(UserGroupMembership(user_id=pid, group_id=gid))
    return pid
