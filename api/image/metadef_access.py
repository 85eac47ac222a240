"""Which metadata-definition namespaces a caller sees, and finding a namespace and its contents by name.

As in Glance: admins see every namespace; everyone else sees the public ones and the private ones their
project owns. A namespace the caller may not see is a 404, never a 403, so its name does not leak. Writes are
checked by policy on top (``image:*_metadef_*``); a protected namespace keeps its contents too: deleting it, or
anything in it, is a 403 until it is unprotected.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext
from common.exceptions import Conflict, Forbidden, NotFound, Unauthorized
from image.models import MetadefNamespace


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return true()
    return or_(MetadefNamespace.visibility == "public", MetadefNamespace.owner == (ctx.project_id or ""))


def target(namespace: MetadefNamespace) -> dict[str, Any]:
    """The policy target of a namespace and of what it holds: Glance's ``project_id`` and ``visibility``."""
    return {"project_id": namespace.owner, "visibility": namespace.visibility}


def namespace(session: Session, ctx: RequestContext, name: str, action: str | None = None) -> MetadefNamespace:
    """The namespace called ``name`` if the caller sees it (else 404), then ``action`` enforced on it (403)."""
    if not ctx.authenticated:
        raise Unauthorized()
    query = select(MetadefNamespace).where(MetadefNamespace.namespace == name, visible(ctx))
    found = session.scalars(query).one_or_none() if len(name) <= 80 else None
    if found is None:
        raise NotFound(f"Metadata definition namespace={name} was not found.")
    if action is not None:
        policy.enforce(action, target(found))
    return found


def for_deletion(session: Session, ctx: RequestContext, name: str, action: str) -> MetadefNamespace:
    """The namespace, for removing it or something in it: refused while it is protected (Glance's 403)."""
    found = namespace(session, ctx, name, action)
    if found.protected:
        raise Forbidden(f"Namespace {name} is protected and cannot be deleted, nor anything in it.")
    return found


def flush_unique(session: Session, message: str) -> None:
    """Write now, so a name a concurrent request took first is the same 409 as one taken before, not a 500."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(message) from None
