"""A domain's users and groups read from an LDAP / Active Directory server with ``ldap3`` (read-only).

The options are Keystone's ``[ldap]`` group, as a domain configuration sets them (identity.ldap_options checks
them when they are stored). Two rules hold everywhere here:

- no string that came from a request reaches a search filter unescaped (RFC 4515, ``escape_filter_chars``);
- a password is checked only by binding as the user's DN, never by a search, and an empty one never binds
  (an empty-password simple bind is an anonymous bind: most servers accept it).

Every network failure, timeout or refused service bind is :class:`DirectoryUnavailable` (a 503), never "no such
user". Connections are short-lived: one per call, closed at once (no pool to go stale behind a restarted server).
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

with warnings.catch_warnings():  # ldap3 2.9 imports names that pyasn1 >= 0.6 deprecates (tagMap): harmless here
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import LDAPException as LDAPException
    from ldap3.operation.search import parse_filter as parse_filter  # re-exported: identity.ldap_options
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import parse_dn as parse_dn

from identity.backends.base import DirectoryGroup, DirectoryUnavailable, DirectoryUser, IdentityDirectory

TIMEOUT = 5
"""Seconds to connect and to wait for each answer: a hung directory fails a request, it does not pin a worker."""

_SCOPES = {"one": ldap3.LEVEL, "sub": ldap3.SUBTREE}


def _first(entry: dict[str, Any], attribute: str | None) -> str | None:
    """The first value of an attribute (case-insensitive name), as text; None when absent."""
    if not attribute:
        return None
    for key, value in entry.items():
        if key.lower() == attribute.lower():
            if isinstance(value, list):
                value = value[0] if value else None
            return None if value is None else str(value)
    return None


def _all(entry: dict[str, Any], attribute: str) -> tuple[str, ...]:
    for key, value in entry.items():
        if key.lower() == attribute.lower():
            return tuple(str(v) for v in (value if isinstance(value, list) else [value]))
    return ()


def enabled_from(raw: str | None, options: dict[str, Any]) -> bool:
    """Keystone's reading of ``user_enabled_attribute``: with a mask (AD's userAccountControl, mask 2) the user is
    enabled unless every masked bit is set; otherwise a boolean, inverted by ``user_enabled_invert``. A missing
    attribute reads as ``user_enabled_default``."""
    value = raw if raw is not None else str(options.get("user_enabled_default", "True"))
    mask = int(options.get("user_enabled_mask") or 0)
    if mask:
        try:
            return (int(value) & mask) != mask
        except ValueError:
            return False
    enabled = value.strip().lower() in ("true", "1", "yes", "on")
    return not enabled if options.get("user_enabled_invert") else enabled


class LdapDirectory(IdentityDirectory):
    """One domain's directory, as its merged ``[ldap]`` options describe it (``password``: the bind account's)."""

    def __init__(self, domain_id: str, options: dict[str, Any], password: str | None) -> None:
        self.domain_id = domain_id
        self.options = options
        self.password = password
        url = urlsplit(options["url"])
        tls = None
        if url.scheme == "ldaps" or options.get("use_tls"):
            demand = options.get("tls_req_cert", "demand") != "never"
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED if demand else ssl.CERT_NONE,
                ca_certs_file=options.get("tls_cacertfile"),
                ca_certs_path=options.get("tls_cacertdir"),
            )
        self.server = ldap3.Server(
            url.hostname or "localhost",
            port=url.port,
            use_ssl=url.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=TIMEOUT,
        )

    def _unavailable(self, error: Exception | str) -> DirectoryUnavailable:
        return DirectoryUnavailable(domain_id=self.domain_id, reason=str(error) or type(error).__name__)

    @contextmanager
    def _bound(self, dn: str | None, password: str | None) -> Iterator[ldap3.Connection | None]:
        """A connection bound as ``dn`` (anonymous when None); None when the server refused those credentials."""
        conn = ldap3.Connection(
            self.server, user=dn, password=password, receive_timeout=TIMEOUT, raise_exceptions=False, read_only=True
        )
        try:
            conn.open()
            if self.options.get("use_tls") and self.server.ssl is False:
                conn.start_tls()
            yield conn if conn.bind() else None
        except LDAPException as error:
            raise self._unavailable(error) from None
        finally:
            conn.unbind()

    def _search(self, base: str | None, objectclass: str, extra: str | None, clause: str, attrs: list[str]) -> list:
        """Entries under ``base`` of ``objectclass`` matching the configured filter and ``clause`` (already
        escaped), paged when ``page_size`` is set."""
        query = f"(&(objectClass={escape_filter_chars(objectclass)}){extra or ''}{clause})"
        scope = _SCOPES[self.options.get("query_scope", "one")]
        with self._bound(self.options.get("user"), self.password) as conn:
            if conn is None:
                raise self._unavailable("the configured bind account was refused")
            page = int(self.options.get("page_size") or 0)
            try:
                if page > 0:
                    found = conn.extend.standard.paged_search(
                        base, query, scope, attributes=attrs, paged_size=page, generator=False
                    )
                else:
                    conn.search(base, query, scope, attributes=attrs)
                    found = conn.response or []
            except LDAPException as error:
                raise self._unavailable(error) from None
            if conn.result and conn.result.get("result") not in (0, 32):  # 32: noSuchObject, an empty tree
                raise self._unavailable(conn.result.get("description") or "search failed")
            return [e for e in found if e.get("type") == "searchResEntry"]

    def _user_base(self) -> str:
        return self.options.get("user_tree_dn") or f"ou=Users,{self.options['suffix']}"

    def _group_base(self) -> str:
        return self.options.get("group_tree_dn") or f"ou=UserGroups,{self.options['suffix']}"

    def _user_attrs(self) -> list[str]:
        o = self.options
        names = [o["user_id_attribute"], o["user_name_attribute"], o.get("user_mail_attribute")]
        names += [o.get("user_enabled_attribute"), o.get("user_description_attribute"), "memberOf"]
        return sorted({n for n in names if n})

    def _to_user(self, entry: dict[str, Any]) -> DirectoryUser | None:
        o, attrs = self.options, entry.get("attributes", {})
        local_id, name = _first(attrs, o["user_id_attribute"]), _first(attrs, o["user_name_attribute"])
        if not local_id or not name:
            return None  # an entry without the mapped id or name cannot be a user of the domain
        return DirectoryUser(
            local_id=local_id,
            name=name,
            dn=entry["dn"],
            enabled=enabled_from(_first(attrs, o.get("user_enabled_attribute")), o),
            email=_first(attrs, o.get("user_mail_attribute")),
            description=_first(attrs, o.get("user_description_attribute")) or "",
            member_of=_all(attrs, "memberOf") if o.get("group_ad_nesting") else (),
        )

    def _users(self, clause: str) -> list[DirectoryUser]:
        o = self.options
        found = self._search(self._user_base(), o["user_objectclass"], o.get("user_filter"), clause, self._user_attrs())
        return [u for u in map(self._to_user, found) if u is not None]

    def list_users(self, name: str | None = None) -> list[DirectoryUser]:
        clause = f"({self.options['user_name_attribute']}={escape_filter_chars(name)})" if name is not None else ""
        return self._users(clause)

    def get_user(self, local_id: str) -> DirectoryUser | None:
        found = self._users(f"({self.options['user_id_attribute']}={escape_filter_chars(local_id)})")
        return found[0] if len(found) == 1 else None

    def find_user(self, name: str) -> DirectoryUser | None:
        found = self.list_users(name)
        return found[0] if len(found) == 1 else None

    def authenticate(self, user: DirectoryUser, password: str) -> bool:
        if not password:
            return False
        with self._bound(user.dn, password) as conn:
            return conn is not None

    def _to_group(self, entry: dict[str, Any]) -> DirectoryGroup | None:
        o, attrs = self.options, entry.get("attributes", {})
        local_id, name = _first(attrs, o["group_id_attribute"]), _first(attrs, o["group_name_attribute"])
        if not local_id or not name:
            return None
        return DirectoryGroup(
            local_id=local_id,
            name=name,
            dn=entry["dn"],
            description=_first(attrs, o.get("group_desc_attribute")) or "",
            members=_all(attrs, o["group_member_attribute"]),
        )

    def _groups(self, clause: str) -> list[DirectoryGroup]:
        o = self.options
        attrs = sorted({o["group_id_attribute"], o["group_name_attribute"], o["group_member_attribute"]})
        attrs += [o["group_desc_attribute"]] if o.get("group_desc_attribute") else []
        found = self._search(self._group_base(), o["group_objectclass"], o.get("group_filter"), clause, attrs)
        return [g for g in map(self._to_group, found) if g is not None]

    def list_groups(self, name: str | None = None) -> list[DirectoryGroup]:
        clause = f"({self.options['group_name_attribute']}={escape_filter_chars(name)})" if name is not None else ""
        return self._groups(clause)

    def groups_of(self, user: DirectoryUser) -> list[DirectoryGroup]:
        o = self.options
        member = user.local_id if o.get("group_members_are_ids") else user.dn
        found = {
            g.dn.lower(): g for g in self._groups(f"({o['group_member_attribute']}={escape_filter_chars(member)})")
        }
        if o.get("group_ad_nesting") and user.member_of:
            wanted = {dn.lower() for dn in user.member_of}
            found |= {g.dn.lower(): g for g in self._groups("") if g.dn.lower() in wanted}
        return list(found.values())
