"""``/v3/domains``: the containers of projects and users; ``default`` always exists."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import policy
from api.identity import filters
from api.identity.schemas import DOMAIN_CREATE, DOMAIN_UPDATE
from api.identity.views import domain_view
from api.runtime import runtime
from api.urls import collection_links
from api.validation import validated_body
from common.exceptions import Forbidden
from identity import groups, inheritance
from identity.lookups import ensure_unique, get_or_404
from identity.models import DEFAULT_DOMAIN_ID, Domain, Project, RoleAssignment, User

bp = Blueprint("identity_domains", __name__, url_prefix="/identity/v3/domains")


@bp.get("")
def list_domains() -> Response:
    policy.enforce("identity:list_domains")
    with runtime().db.session() as session:
        query = filters.apply(select(Domain), Domain, ("name",))
        domains = [domain_view(d) for d in session.scalars(query.order_by(Domain.name))]
    return jsonify({"domains": domains, "links": collection_links("/domains")})


@bp.post("")
def create_domain() -> Response:
    policy.enforce("identity:create_domain")
    body = validated_body(DOMAIN_CREATE)["domain"]
    with runtime().db.session() as session:
        ensure_unique(session, Domain, name=body["name"])
        domain = Domain(name=body["name"], description=body.get("description") or "", enabled=body.get("enabled", True))
        session.add(domain)
        session.flush()
        view = domain_view(domain)
    return jsonify({"domain": view}), 201


@bp.get("/<domain_id>")
def get_domain(domain_id: str) -> Response:
    policy.enforce("identity:get_domain", {"domain_id": domain_id})
    with runtime().db.session() as session:
        return jsonify({"domain": domain_view(get_or_404(session, Domain, domain_id))})


@bp.patch("/<domain_id>")
def update_domain(domain_id: str) -> Response:
    policy.enforce("identity:update_domain", {"domain_id": domain_id})
    body = validated_body(DOMAIN_UPDATE)["domain"]
    with runtime().db.session() as session:
        domain = get_or_404(session, Domain, domain_id)
        if "name" in body:
            ensure_unique(session, Domain, exclude_id=domain.id, name=body["name"])
            domain.name = body["name"]
        if "description" in body:
            domain.description = body["description"] or ""
        domain.enabled = body.get("enabled", domain.enabled)
        session.flush()
        view = domain_view(domain)
    return jsonify({"domain": view})


@bp.delete("/<domain_id>")
def delete_domain(domain_id: str) -> Response:
    """As Keystone: only a disabled domain may go, and it takes its projects, users and grants with it."""
    policy.enforce("identity:delete_domain", {"domain_id": domain_id})
    with runtime().db.session() as session:
        delete_domain_and_contents(session, get_or_404(session, Domain, domain_id))
    return Response(status=204)


def delete_domain_and_contents(session: Session, domain: Domain) -> None:
    """Delete a disabled domain with everything in it (403 for the default or an enabled domain); also reached as
    ``DELETE /v3/projects/<domain id>``, since Keystone models a domain as a project (``is_domain``)."""
    if domain.id == DEFAULT_DOMAIN_ID:
        raise Forbidden("The default domain cannot be deleted.")
    if domain.enabled:
        raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
    project_ids = select(Project.id).where(Project.domain_id == domain.id)
    session.execute(
        delete(RoleAssignment).where(
            (RoleAssignment.target_id.in_(project_ids) & (RoleAssignment.target_type == "project"))
            | ((RoleAssignment.target_type == "domain") & (RoleAssignment.target_id == domain.id))
        )
    )
    groups.forget_targets(session, "project", project_ids)
    groups.forget_targets(session, "domain", [domain.id])
    inheritance.forget_targets(session, "project", project_ids)
    inheritance.forget_targets(session, "domain", [domain.id])
    groups.delete_domain_groups(session, domain.id)
    session.execute(delete(User).where(User.domain_id == domain.id))
    session.execute(delete(Project).where(Project.domain_id == domain.id))
    session.delete(domain)
