"""``/v3/domains/{id}/config``: a domain's identity-driver settings (Keystone's domain configuration API).

``identity.domain_config`` has the rules; values are checked (``identity.ldap_options``: a bad DN, URL or filter is
a 400 here, not a failure at the first sign-in) and the bind password is stored encrypted. A domain whose
``identity.driver`` is ``ldap`` reads its users and groups from that directory (identity.ldap_shadow). Admin only,
as Keystone: a domain's LDAP settings name its directory and the account that binds to it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import policy
from api.runtime import runtime
from api.validation import validated_body
from identity import domain_config, ldap_options
from identity.lookups import get_or_404
from identity.models import Domain

bp = Blueprint("identity_domain_config", __name__, url_prefix="/identity/v3/domains")

_BODY = {"type": "object", "properties": {"config": {}}, "required": ["config"], "additionalProperties": False}


def _body_config() -> Any:
    return validated_body(_BODY)["config"]


@bp.get("/config/default")
@bp.get("/config/<group>/default")
@bp.get("/config/<group>/<option>/default")
def show_default(group: str | None = None, option: str | None = None) -> Response:
    policy.enforce("identity:get_domain_config_default")
    return jsonify({"config": domain_config.default(group, option)})


@bp.put("/<domain_id>/config")
def create_config(domain_id: str) -> Response:
    policy.enforce("identity:create_domain_config", {"domain_id": domain_id})
    config = _body_config()
    domain_config.check_config(config)
    config = ldap_options.checked(config)
    with runtime().db.session() as session:
        get_or_404(session, Domain, domain_id)
        created = domain_config.replace(session, domain_id, ldap_options.sealed(config, runtime().credential_keys))
    return jsonify({"config": domain_config.visible(config)}), 201 if created else 200


@bp.get("/<domain_id>/config")
@bp.get("/<domain_id>/config/<group>")
@bp.get("/<domain_id>/config/<group>/<option>")
def show_config(domain_id: str, group: str | None = None, option: str | None = None) -> Response:
    policy.enforce("identity:get_domain_config", {"domain_id": domain_id})
    if group is not None:
        domain_config.check_group_and_option(group, option)
    with runtime().db.session() as session:
        get_or_404(session, Domain, domain_id)
        config = domain_config.stored(session, domain_id)
    return jsonify({"config": domain_config.shown(config, domain_id, group, option)})


@bp.patch("/<domain_id>/config")
@bp.patch("/<domain_id>/config/<group>")
@bp.patch("/<domain_id>/config/<group>/<option>")
def update_config(domain_id: str, group: str | None = None, option: str | None = None) -> Response:
    policy.enforce("identity:update_domain_config", {"domain_id": domain_id})
    if group is not None:
        domain_config.check_group_and_option(group, option)
    config = _body_config()
    domain_config.check_config(config, group, option)
    whole = {group: config} if option is not None and group is not None else config
    with runtime().db.session() as session:
        get_or_404(session, Domain, domain_id)
        merged = domain_config.update(session, domain_id, whole, group, option)  # 404s first, as Keystone
        merged = ldap_options.sealed(ldap_options.checked(merged), runtime().credential_keys)  # then the values
        domain_config.replace(session, domain_id, merged)
    return jsonify({"config": domain_config.visible(merged)})


@bp.delete("/<domain_id>/config")
@bp.delete("/<domain_id>/config/<group>")
@bp.delete("/<domain_id>/config/<group>/<option>")
def delete_config(domain_id: str, group: str | None = None, option: str | None = None) -> Response:
    policy.enforce("identity:delete_domain_config", {"domain_id": domain_id})
    if group is not None:
        domain_config.check_group_and_option(group, option)
    with runtime().db.session() as session:
        get_or_404(session, Domain, domain_id)
        domain_config.remove(session, domain_id, group, option)
    return Response(status=204)
