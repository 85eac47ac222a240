"""``/volumes/{id}/metadata`` and ``/snapshots/{id}/metadata``: read, merge (``POST``), replace (``PUT``), and one
key at a time (``/metadata/{key}``, bodies ``{"meta": {key: value}}``), in Cinder's shapes and faults.

From 3.15 a volume's metadata carries an ``ETag``, and a replace with ``If-Match`` that no longer matches is
refused with 412, so two clients cannot overwrite each other's change unknowingly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import validated_body
from api.volume import lookups, routing, schemas
from api.volume.microversions import at_least
from common.exceptions import BadRequest, NotFound, StratusError
from volume.models import Volume, VolumeSnapshot

bp = Blueprint("volume_metadata", __name__)

Record = Volume | VolumeSnapshot
Finder = Callable[[Session, RequestContext, str], Record]
FINDERS: dict[str, Finder] = {"volumes": lookups.volume, "snapshots": lookups.snapshot}
READ, WRITE = "volume:get", "volume:update"


class PreconditionFailed(StratusError):
    msg_fmt = "The metadata changed since it was read (its ETag no longer matches If-Match)."
    code = 412
    title = "Precondition Failed"


def _etag(values: dict[str, str]) -> str:
    return hashlib.md5(json.dumps(values, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def _record(session: Session, collection: str, record_id: str, action: str) -> Record:
    found = FINDERS[collection](session, current(), record_id)
    policy.enforce(action, {"project_id": found.project_id})
    return found


def _store(record: Record, values: dict[str, str]) -> dict[str, str]:
    if len(values) > schemas.MAX_METADATA_ITEMS:
        raise BadRequest(f"Invalid metadata: more than {schemas.MAX_METADATA_ITEMS} items.")
    record.properties = values
    return values


def _answer(values: dict[str, str], collection: str) -> Response:
    response = jsonify({"metadata": values})
    if collection == "volumes" and at_least("3.15"):
        response.headers["ETag"] = _etag(values)
    return response


def _routes(suffix: str, methods: tuple[str, ...]) -> Any:
    """The view at ``/volumes/<id>/metadata{suffix}`` and ``/snapshots/<id>/metadata{suffix}``."""

    def register(view: Any) -> Any:
        for collection in FINDERS:
            rule = f"/{collection}/<record_id>/metadata{suffix}"
            routing.route(bp, rule, methods, defaults={"collection": collection})(view)
        return view

    return register


@_routes("", ("GET",))
def show_metadata(collection: str, record_id: str) -> Response:
    with runtime().db.session() as session:
        values = dict(_record(session, collection, record_id, READ).properties or {})
    return _answer(values, collection)


@_routes("", ("POST",))
def merge_metadata(collection: str, record_id: str) -> Response:
    with runtime().db.session() as session:
        record = _record(session, collection, record_id, WRITE)
        body = validated_body(schemas.METADATA_BODY)
        values = _store(record, {**(record.properties or {}), **body["metadata"]})
    return _answer(values, collection)


@_routes("", ("PUT",))
def replace_metadata(collection: str, record_id: str) -> Response:
    with runtime().db.session() as session:
        record = _record(session, collection, record_id, WRITE)
        body = validated_body(schemas.METADATA_BODY)
        expected = request.headers.get("If-Match")
        etag_checked = collection == "volumes" and at_least("3.15") and expected
        if etag_checked and expected.strip('"') != _etag(dict(record.properties or {})):
            raise PreconditionFailed()
        values = _store(record, dict(body["metadata"]))
    return _answer(values, collection)


@_routes("/<key>", ("GET",))
def show_metadata_item(collection: str, record_id: str, key: str) -> Response:
    with runtime().db.session() as session:
        values = dict(_record(session, collection, record_id, READ).properties or {})
    if key not in values:
        raise NotFound("Metadata item was not found")
    return jsonify({"meta": {key: values[key]}})


@_routes("/<key>", ("PUT",))
def update_metadata_item(collection: str, record_id: str, key: str) -> Response:
    with runtime().db.session() as session:
        record = _record(session, collection, record_id, WRITE)
        meta: dict[str, Any] = validated_body(schemas.META_ITEM)["meta"]
        if len(meta) > 1:
            raise BadRequest("Request body contains too many items")
        if key not in meta:
            raise BadRequest("Request body and URI mismatch")
        _store(record, {**(record.properties or {}), key: meta[key]})
    return jsonify({"meta": meta})


@_routes("/<key>", ("DELETE",))
def delete_metadata_item(collection: str, record_id: str, key: str) -> Response:
    with runtime().db.session() as session:
        record = _record(session, collection, record_id, WRITE)
        values = dict(record.properties or {})
        if key not in values:
            raise NotFound("Metadata item was not found")
        del values[key]
        record.properties = values
    return Response(status=200)
