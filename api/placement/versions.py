"""``GET /placement``: Placement's version document, which anyone may read (no token), as Placement's root."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.placement.microversions import MAX_VERSION, MIN_VERSION, PREFIX, as_text

bp = Blueprint("placement_versions", __name__)


@bp.get(PREFIX)
@bp.get(PREFIX + "/")
def root() -> Response:
    version = {
        "id": "v1.0",
        "max_version": as_text(MAX_VERSION),
        "min_version": as_text(MIN_VERSION),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }
    return jsonify({"versions": [version]})
