"""The API's side of LDAP domains: shadow rows brought up to date before a listing (identity.ldap_shadow), and the
domain's list limit applied to it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.runtime import runtime
from identity import domain_config, ldap_shadow
from identity.models import Group


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
