"""``/placement/traits`` (1.6): the traits this cloud's providers have, which are none. Placement lists every
standard trait (os-traits) beside the custom ones; a Stratus host reports no trait, so nothing here could match one,
and the listing says so rather than naming traits no provider has. A trait looked up by name is Placement's 404.

The listing's filters are checked as Placement checks them: ``name`` is ``in:A,B`` or ``startswith:PREFIX``,
``associated`` is ``true`` or ``false``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.placement import queries
from api.placement.microversions import PREFIX, since
from common.exceptions import BadRequest, NotFound

bp = Blueprint("placement_traits", __name__)

NAME_FORM = "?name=startswith:CUSTOM_MEMORY_TYPE or ?name=in:CUSTOM_MEMORY_TYPE_A,CUSTOM_MEMORY_TYPE_B"


class TraitNotFound(NotFound):
    msg_fmt = "No such trait(s): {name}."


@bp.get(f"{PREFIX}/traits")
def list_traits() -> Response:
    since(6)
    policy.enforce("placement:traits:list")
    queries.refuse_unknown(("name", "associated"))
    name = request.args.get("name")
    if name is not None and not name.startswith(("in:", "startswith:")):
        raise BadRequest(f"Badly formatted name parameter. Expected name query string parameter in form: "
                         f"{NAME_FORM}. Got: {name[:64]}")  # fmt: skip
    associated = request.args.get("associated")
    if associated is not None and associated not in ("true", "false"):
        raise queries.InvalidQuery(reason=f"'{associated[:64]}' is not one of ['true', 'false']")
    return jsonify({"traits": []})


@bp.get(f"{PREFIX}/traits/<name>")
def show_trait(name: str) -> Response:
    since(6)
    policy.enforce("placement:traits:show")
    raise TraitNotFound(name=name[:64])
