"""The API's side of LDAP domains: shadow rows brought up to date before a listing (identity.ldap_shadow), and the
domain's list limit applied to it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.runtime import runtime
from common.exceptions import NotFound
from identity import domain_config, ldap_shadow
from identity.models import Group, User


def refresh_for_listing(domain_id: str | None, name: str | None = None) -> None:
    """Read the listed LDAP domain's directory into its shadow rows, so the SQL listing that follows shows what the
    directory has now. A list that names no domain reads no directory (Keystone's, too, then asks only the default
    driver): one LDAP domain down must not fail every listing. A directory that cannot answer is a 503
    (``DirectoryUnavailable``): Keystone has no answer of its own for it but a 500."""
    if not domain_id:
        return
    rt = runtime()
    with rt.db.session() as session:
        source = ldap_shadow.directory(session, domain_id, rt.credential_keys)
        if source is not None:
            ldap_shadow.refresh_domain(session, domain_id, source, name)


def refresh_for_group(group_id: str) -> None:
    """Before a group's members are listed: its domain's directory read in, when it is an LDAP domain."""
    with runtime().db.session() as session:
        domain_id = session.scalar(select(Group.domain_id).where(Group.id == group_id))
        ldap = ldap_shadow.is_ldap(session, domain_id)
    if ldap:
        refresh_for_listing(domain_id)


def limited(body: dict[str, Any], key: str, domain_id: str | None) -> dict[str, Any]:
    """Keystone's ``[identity] list_limit`` of the listed domain's configuration: at most that many entries, and
    ``"truncated": true`` when some were left out (a directory may hold far more users than a page should show)."""
    if not domain_id:
        return body
    with runtime().db.session() as session:
        limit = domain_config.stored(session, domain_id).get("identity", {}).get("list_limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or len(body[key]) <= limit:
        return body
    return {**body, key: body[key][:limit], "truncated": True}


def refresh_shown(kind: str, public_id: str) -> None:
    """Before an LDAP domain's user or group is shown: its entry read again from the directory (a user disabled
    there shows disabled now). One the directory no longer has is a 404, as Keystone's (its row stays, with its
    grants; a user's is disabled). Nothing happens for SQL domains' users and groups."""
    rt = runtime()
    model = User if kind == "user" else Group
    with rt.db.session() as session:
        domain_id = session.scalar(select(model.domain_id).where(model.id == public_id))
        local_id = ldap_shadow.local_id_of(session, public_id)
        source = ldap_shadow.directory(session, domain_id, rt.credential_keys) if domain_id else None
    if source is None or local_id is None:
        return
    if kind == "user":
        entry = source.get_user(local_id)
        with rt.db.session() as session:
            if entry is not None:
                ldap_shadow.ensure_user(session, domain_id, entry)
                return
            row = session.get(User, public_id)
            if row is not None and row.enabled:
                row.enabled = False
    elif any(g.local_id == local_id for g in source.list_groups()):
        return
    raise NotFound(f"Could not find {kind}: {public_id}.")
