"""Version discovery documents of every API, so clients negotiate against a real catalog from day one.

The numbers advertised here are the ones actually implemented; each service raises its own when it grows.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api.compute.microversions import MAX_VERSION, MIN_VERSION, as_text
from api.urls import public_url

bp = Blueprint("versions", __name__)

IDENTITY_VERSION = "v3.14"
COMPUTE_MIN_MICROVERSION = as_text(MIN_VERSION)
COMPUTE_MAX_MICROVERSION = as_text(MAX_VERSION)
NETWORK_VERSION = "v2.0"
IMAGE_VERSIONS = ("v2.0",)


def _identity_version() -> dict[str, Any]:
    return {
        "id": IDENTITY_VERSION,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{public_url()}/identity/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


@bp.get("/identity")
@bp.get("/identity/")
def identity_versions() -> Response:
    response = jsonify({"versions": {"values": [_identity_version()]}})
    response.status_code = 300
    return response


@bp.get("/identity/v3")
@bp.get("/identity/v3/")
def identity_version() -> Response:
    return jsonify({"version": _identity_version()})


def _compute_version() -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": COMPUTE_MAX_MICROVERSION,
        "min_version": COMPUTE_MIN_MICROVERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{public_url()}/compute/v2.1/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


@bp.get("/compute")
@bp.get("/compute/")
def compute_versions() -> Response:
    return jsonify({"versions": [_compute_version()]})


@bp.get("/compute/v2.1")
@bp.get("/compute/v2.1/")
def compute_version() -> Response:
    return jsonify({"version": _compute_version()})


@bp.get("/network")
@bp.get("/network/")
def network_versions() -> Response:
    version = {
        "id": NETWORK_VERSION,
        "status": "CURRENT",
        "links": [{"rel": "self", "href": f"{public_url()}/network/v2.0/"}],
    }
    return jsonify({"versions": [version]})


def _image_versions() -> list[dict[str, Any]]:
    return [
        {
            "id": version,
            "status": "CURRENT" if index == 0 else "SUPPORTED",
            "links": [{"rel": "self", "href": f"{public_url()}/image/v2/"}],
        }
        for index, version in enumerate(IMAGE_VERSIONS)
    ]


@bp.get("/image")
@bp.get("/image/")
@bp.get("/image/versions")
def image_versions() -> Response:
    response = jsonify({"versions": _image_versions()})
    response.status_code = 300
    return response
