"""Version discovery of the Block Storage API: ``GET /volume/`` (300, every version) and ``GET /volume/v3/``
(Cinder answers the same list there, with 200). One version, v3.0, whose ``version`` is the highest microversion
served (``api.volume.microversions``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api.urls import public_url
from api.volume.microversions import MAX_VERSION, MIN_VERSION, PREFIX, as_text

bp = Blueprint("volume_versions", __name__)


def version_document() -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": as_text(MAX_VERSION),
        "min_version": as_text(MIN_VERSION),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"href": "https://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
            {"href": f"{public_url()}{PREFIX}/", "rel": "self"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }


@bp.get("/volume")
@bp.get("/volume/")
def volume_versions() -> Response:
    response = jsonify({"versions": [version_document()]})
    response.status_code = 300
    return response


@bp.get(PREFIX)
@bp.get(PREFIX + "/")
def volume_version() -> Response:
    return jsonify({"versions": [version_document()]})
