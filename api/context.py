"""Who is calling: the validated token of the current request, as every API handler sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, g, has_request_context

ADMIN_ROLE = "admin"
MEMBER_ROLE = "member"
READER_ROLE = "reader"
# Roles whose holders administer the whole cloud, whatever project or domain their token is scoped to (as
# Keystone's and every OpenStack service's ``admin``); see ``api.policy``.
CLOUD_WIDE_ROLES = frozenset({ADMIN_ROLE})


@dataclass(frozen=True)
class RequestContext:
    """The caller of one request. ``roles`` are names in the token's scope, implied roles included."""

    request_id: str
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    token_audit_id: str | None = None
    system: str | None = None
    """``"all"`` for a system-scoped token (Keystone's secure RBAC): ``roles`` are then the caller's system roles, so
    a system ``admin`` is a cloud admin and a system ``reader`` may read the identity resources of every domain."""
    host: str | None = None
    """The compute host a ``host``-role request proved it comes from (``common.hostauth``); None for every other
    caller, and for a host-role token without a valid host signature (it then gets no host powers)."""

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        """A cloud-wide role (``CLOUD_WIDE_ROLES``): as in OpenStack, the admin role in any scope administers the
        whole cloud, not only the project the token is scoped to."""
        return not self.roles.isdisjoint(CLOUD_WIDE_ROLES)

    @property
    def is_system_reader(self) -> bool:
        """A system-scoped token with ``reader`` (implied by ``member`` and ``admin``): reads cloud-wide identity."""
        return self.system is not None and READER_ROLE in self.roles

    def has_role(self, role: str) -> bool:
        return role in self.roles


def current() -> RequestContext:
    """The caller of the current request, authenticated on first use (see ``api.auth``)."""
    if not has_request_context():
        return RequestContext(request_id="req-none")
    if "context" not in g:
        g.context = current_app.extensions["stratus.authenticate"]()
    return g.context
