"""Image data: ``PUT``/``GET /v2/images/{id}/file`` (direct upload and download), staging and import."""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import Blueprint, Response, jsonify, request, send_file

from api import guards, policy, request_body
from api.broker import require_broker, send_after_commit
from api.context import current
from api.image import access
from api.image.schemas import IMPORT
from api.quotas import project_usage
from api.runtime import runtime
from api.validation import validated_body
from common.exceptions import BadRequest, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType
from image import client, service
from image.models import Image
from image.states import ImageStatus
from image.store.base import ImageStore

bp = Blueprint("image_data", __name__, url_prefix="/image/v2")

IMPORT_METHODS = ("glance-direct",)
STREAM_CHUNK = 4 << 20
"""Bytes read at a time from a store without local files: RBD's object size."""


def _require_octet_stream() -> None:
    if request.mimetype != "application/octet-stream":
        raise UnsupportedMediaType(content_type=request.mimetype or "(none)")


def _writable_image(image_id: str, action: str) -> tuple[Image, int]:
    """The image (detached from its session) and how many bytes an upload to it may bring."""
    ctx = current()
    rt = runtime()
    with rt.db.session() as session:
        image = access.get_visible(session, ctx, image_id)
        policy.enforce(action, {"project_id": image.owner, "snapshot_host": access.snapshot_host(session, image)})
        allowance = service.upload_allowance(session, rt.settings, image.owner, image.id)
    return image, allowance


def _refuse_declared_excess(allowance: int) -> None:
    """A body whose declared length is over the allowance is refused before the image is claimed or a byte is
    read (a chunked body is stopped by ``upload.stream_into`` as it passes the allowance)."""
    declared = request.content_length
    if declared is not None and declared > allowance:
        raise PayloadTooLarge(
            f"Image data of {declared} bytes exceeds the {allowance} bytes this image may hold (size cap or quota)."
        )


@bp.put("/images/<image_id>/file")
@guards.image_data
def upload_file(image_id: str) -> Response:
    _require_octet_stream()
    image, allowance = _writable_image(image_id, "image:upload_image")
    _refuse_declared_excess(allowance)
    rt = runtime()
    body = request_body.body_reader()
    service.receive_data(rt.db, rt.image_store, rt.settings, image, body, allowance, request.content_length)
    return Response(status=204)


@bp.get("/images/<image_id>/file")
def download_file(image_id: str) -> Response:
    ctx = policy.enforce("image:download_image")
    rt = runtime()
    with rt.db.session() as session:
        image = access.get_visible(session, ctx, image_id)
    if image.status == ImageStatus.DEACTIVATED and not ctx.is_admin:
        raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
    if image.status not in (ImageStatus.ACTIVE, ImageStatus.DEACTIVATED) or not image.location:
        return Response(status=204)
    location, checksum = image.location, image.checksum
    wanted = request.args.get("disk_format")
    if wanted and wanted != image.disk_format:
        # A format prepared for compute hosts by the image service (see image.variants).
        location = service.variant_location(rt.db, image.id, wanted)
        if location is None:
            raise NotFound(f"Image {image_id} has not been prepared as {wanted}.")
        checksum = None
    path = rt.image_store.local_path(location)
    if path is None:
        response = _streamed(rt.image_store, location)
    else:
        response = send_file(path, mimetype="application/octet-stream", conditional=True, etag=False, max_age=None)
    if response.status_code == 200 and checksum:
        response.headers["Content-MD5"] = checksum
    return response


def _streamed(store: ImageStore, location: str) -> Response:
    """Data of a store that keeps no local file (Ceph), read as the client takes it: one chunk in memory."""
    try:
        handle = store.open(location)
    except FileNotFoundError:
        raise NotFound("The image's data is gone from the image store.") from None
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(STREAM_CHUNK):
                yield chunk

    response = Response(chunks(), mimetype="application/octet-stream", direct_passthrough=True)
    response.content_length = size
    return response


@bp.put("/images/<image_id>/stage")
@guards.image_data
def stage_file(image_id: str) -> Response:
    """The first half of an interoperable import: data goes to staging, the image service finishes it."""
    _require_octet_stream()
    image, allowance = _writable_image(image_id, "image:import_image")
    _refuse_declared_excess(allowance)
    rt = runtime()
    body = request_body.body_reader()
    service.stage_data(rt.db, rt.image_store, rt.settings, image, body, allowance, request.content_length)
    return Response(status=204)


@bp.post("/images/<image_id>/import")
def import_image(image_id: str) -> tuple[Response, int]:
    body = validated_body(IMPORT)
    method = body["method"]["name"]
    if method not in IMPORT_METHODS:
        raise BadRequest(f"Import method {method} is not supported; this cloud offers {', '.join(IMPORT_METHODS)}.")
    image, _ = _writable_image(image_id, "image:import_image")
    rt = runtime()
    require_broker("image")
    service.begin_import(rt.db, image.id)
    send_after_commit(client.import_image, rt.celery, image.id, request_id=current().request_id)
    return jsonify({}), 202


@bp.get("/info/import")
def import_info() -> Response:
    policy.enforce("image:get_schemas")
    return jsonify(
        {
            "import-methods": {
                "description": "Import methods available.",
                "type": "array",
                "value": list(IMPORT_METHODS),
            }
        }
    )


@bp.get("/info/usage")
def usage_info() -> Response:
    """Glance's quota usage of the caller's project (``project_id`` lets admins ask about another project)."""
    ctx = current()
    project_id = request.args.get("project_id") or ctx.project_id
    policy.enforce("image:get_usage", {"project_id": project_id})
    with runtime().db.session() as session:
        usage = project_usage(session, str(project_id), ("image_count_total", "image_size_total"))
    return jsonify({"usage": {name: {"limit": u.limit, "usage": u.in_use} for name, u in usage.items()}})
