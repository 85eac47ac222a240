"""Finding compute records as the caller may see them: other projects' servers are 404, never 403."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from api.context import RequestContext
from common.exceptions import BadRequest, NotFound
from compute.models import Flavor, FlavorAccess, Instance


def server(session: Session, ctx: RequestContext, server_id: str) -> Instance:
    query = select(Instance).where(Instance.id == server_id, Instance.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(Instance.project_id == ctx.project_id)
    found = session.scalars(query).one_or_none() if len(server_id) <= 36 else None
    if found is None:
        raise NotFound(f"Instance {server_id} could not be found.")
    return found


def usable_flavors(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return Flavor.id.is_not(None)
    shared = select(FlavorAccess.flavor_id).where(FlavorAccess.project_id == ctx.project_id)
    return or_(Flavor.is_public.is_(True), Flavor.id.in_(shared))


def flavor(session: Session, ctx: RequestContext, flavor_id: str) -> Flavor:
    found = session.scalars(select(Flavor).where(Flavor.id == flavor_id, usable_flavors(ctx))).one_or_none()
    if found is None:
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return found


def flavor_for_server(session: Session, ctx: RequestContext, reference: str) -> Flavor:
    """``flavorRef`` may be an id or a URL ending in one; an unusable flavor is a 400, as Nova answers."""
    flavor_id = str(reference).rstrip("/").rsplit("/", 1)[-1]
    try:
        chosen = flavor(session, ctx, flavor_id)
    except NotFound:
        raise BadRequest(f"Flavor {flavor_id} could not be found.") from None
    if chosen.disabled:
        raise BadRequest(f"Flavor {flavor_id} is disabled.")
    return chosen
