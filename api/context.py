"""Who is calling: the validated token of the current request, as every API handler sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, g, has_request_context

ADMIN_ROLE = "admin"
MEMBER_ROLE = "member"
READER_ROLE = "reader"


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

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        """Like OpenStack's legacy default: the admin role in any scope administers the whole cloud."""
        return ADMIN_ROLE in self.roles

    def has_role(self, role: str) -> bool:
        return role in self.roles


def current() -> RequestContext:
    """The caller of the current request, authenticated on first use (see ``api.auth``)."""
    if not has_request_context():
        return RequestContext(request_id="req-none")
    if "context" not in g:
        g.context = current_app.extensions["stratus.authenticate"]()
    return g.context
