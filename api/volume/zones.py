"""``GET /os-availability-zone``: the one zone volumes are made in (``nova``, Cinder's default name), always
available."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api import policy
from api.volume import routing

bp = Blueprint("volume_zones", __name__)

ZONE = "nova"


@routing.get(bp, "/os-availability-zone")
def list_availability_zones() -> Response:
    policy.enforce("volume:availability_zones")
    return jsonify({"availabilityZoneInfo": [{"zoneName": ZONE, "zoneState": {"available": True}}]})
