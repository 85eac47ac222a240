"""Role inference rules: ``/v3/roles/{prior}/implies[/{implied}]`` and ``/v3/role_inferences`` (Keystone's shapes).

The rules themselves, and why some are refused, are ``identity.roles``; a rule written or deleted bumps the
identity generation (it is an identity row), so every worker recomputes the roles of the tokens it validates.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.runtime import runtime
from api.urls import collection_links, self_link
from identity import roles as rules
from identity.lookups import get_or_404
from identity.models import Role

bp = Blueprint("identity_implied_roles", __name__, url_prefix="/identity/v3")

RULE = "/roles/<prior_role_id>/implies/<implied_role_id>"


def _ref(role: Role) -> dict[str, Any]:
    """A role as a rule names it: id, name and link."""
    return {"id": role.id, "name": role.name, "links": self_link(f"/roles/{role.id}")}


def _rule_body(prior: Role, implied: Role) -> dict[str, Any]:
    return {
        "role_inference": {"prior_role": _ref(prior), "implies": _ref(implied)},
        "links": self_link(f"/roles/{prior.id}/implies/{implied.id}"),
    }


@bp.put(RULE)
def create_implied_role(prior_role_id: str, implied_role_id: str) -> tuple[Response, int]:
    policy.enforce("identity:create_implied_role")
    with runtime().db.session() as session:
        body = _rule_body(*rules.create_rule(session, prior_role_id, implied_role_id))
    return jsonify(body), 201


@bp.route(RULE, methods=["GET", "HEAD"])
def get_implied_role(prior_role_id: str, implied_role_id: str) -> Response:
    """GET shows the rule; HEAD only checks it exists (204, as Keystone's ``check_implied_role``)."""
    head = request.method == "HEAD"
    policy.enforce("identity:check_implied_role" if head else "identity:get_implied_role")
    with runtime().db.session() as session:
        body = _rule_body(*rules.get_rule(session, prior_role_id, implied_role_id))
    return Response(status=204) if head else jsonify(body)


@bp.delete(RULE)
def delete_implied_role(prior_role_id: str, implied_role_id: str) -> Response:
    policy.enforce("identity:delete_implied_role")
    with runtime().db.session() as session:
        rules.delete_rule(session, prior_role_id, implied_role_id)
    return Response(status=204)


@bp.get("/roles/<prior_role_id>/implies")
def list_implied_roles(prior_role_id: str) -> Response:
    """The roles one role implies directly (not their closure: the rules as stored)."""
    policy.enforce("identity:list_implied_roles")
    with runtime().db.session() as session:
        prior = get_or_404(session, Role, prior_role_id)
        body = {"prior_role": _ref(prior), "implies": [_ref(r) for r in rules.implied_by(session, prior.id)]}
    return jsonify({"role_inference": body, "links": self_link(f"/roles/{prior_role_id}/implies")})


@bp.get("/role_inferences")
def list_role_inference_rules() -> Response:
    """Every rule, grouped by prior role; the built-in admin > member > reader among them."""
    policy.enforce("identity:list_role_inference_rules")
    with runtime().db.session() as session:
        inferences = [
            {"prior_role": _ref(prior), "implies": [_ref(r) for r in implied]}
            for prior, implied in rules.all_rules(session)
        ]
    return jsonify({"role_inferences": inferences, "links": collection_links("/role_inferences")})
