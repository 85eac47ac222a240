"""Password sign-in of an LDAP domain's user: found in the directory, proven by a bind as their DN.

``auth_views`` asks :func:`subject` first: for a user of an LDAP domain it reads the entry (by the mapped local id,
or by name, escaped into the search), refreshes the shadow row so the usual lockout and enabled checks apply to it,
and answers an :class:`LdapSubject` whose :meth:`~LdapSubject.check` binds. A user of an SQL domain gets None and
the stored hash is checked as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from api.runtime import runtime
from identity import ldap_shadow, lookups
from identity.backends.base import DirectoryUser, IdentityDirectory
from identity.models import User


@dataclass
class LdapSubject:
    """The directory a sign-in is checked against and the entry it names (None: no such user there)."""

    domain_id: str
    source: IdentityDirectory
    entry: DirectoryUser | None

    def check(self, password: str) -> bool:
        """A bind as the entry's DN with ``password``; False for no entry or an empty password (no bind at all)."""
        return self.entry is not None and bool(password) and self.source.authenticate(self.entry, password)

    def refresh_groups(self) -> None:
        """After a right password: the user's memberships as the directory has them now (their token's roles)."""
        assert self.entry is not None
        with runtime().db.session() as session:
            ldap_shadow.refresh_signed_in(session, self.domain_id, self.source, self.entry)


def subject(spec: dict[str, Any]) -> LdapSubject | None:
    """The LDAP side of a password request's user (``{"id"}`` or ``{"name", "domain"}``), or None for SQL."""
    rt = runtime()
    with rt.db.session() as session:
        if "id" in spec:
            domain_id = session.scalar(select(User.domain_id).where(User.id == spec["id"]))
        else:
            domain = lookups.find_domain_ref(session, spec.get("domain") or {})
            domain_id = domain.id if domain is not None else None
        if domain_id is None or not ldap_shadow.is_ldap(session, domain_id):
            return None
        source = ldap_shadow.directory(session, domain_id, rt.credential_keys)
        local_id = ldap_shadow.local_id_of(session, spec["id"]) if "id" in spec else None
    assert source is not None
    if "id" in spec:
        entry = source.get_user(local_id) if local_id is not None else None
    else:
        entry = source.find_user(str(spec.get("name") or ""))
    if entry is not None:
        with rt.db.session() as session:
            if ldap_shadow.ensure_user(session, domain_id, entry) is None:
                entry = None  # its name is another entry's shadow: no sign-in by a name that is not unique
    return LdapSubject(domain_id, source, entry)
