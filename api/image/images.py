"""``/image/v2/images``: create, list, show, update (JSON patch), delete, tags and (de)activation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext, current
from api.image import access, listing, metadef_schemas, schemas
from api.image.schemas import CREATE, PATCH, READ_ONLY, RESERVED, WRITABLE
from api.image.views import image_view
from api.runtime import runtime
from api.validation import json_body, validate
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound, UnsupportedMediaType
from image import service
from image.models import Image, ImageMember
from image.states import ImageStatus, Visibility, next_status

bp = Blueprint("image_images", __name__, url_prefix="/image/v2")

# Glance: "Attribute disk_format can be only replaced for a queued image."
IMMUTABLE_ONCE_DATA = ("disk_format", "container_format")
PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
"""The older JSON-patch form Glance still accepts: ``{"replace": "/name", "value": ...}``, the operation's name as
the key holding the path (tempest's images client sends it)."""
PATCH_OPERATIONS = ("add", "replace", "remove")
RESERVED_PREFIX = "os_glance"
"""Glance keeps the ``os_glance*`` property namespace to itself: users may not set or remove such keys (403)."""


def _refuse_protected_keys(keys: Any) -> None:
    for key in keys:
        if key in READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in RESERVED or key.startswith(RESERVED_PREFIX):
            raise Forbidden(f"Attribute '{key}' is reserved.")


def _patch_operations() -> list[dict[str, Any]]:
    """The request's JSON-patch operations in the v2.1 form, whichever of Glance's two media types carried them."""
    if request.mimetype not in (PATCH_V21, PATCH_V20):
        raise UnsupportedMediaType(content_type=request.mimetype or "(none)")
    body = json_body()
    if request.mimetype == PATCH_V20 and isinstance(body, list):
        body = [_from_v20(item) for item in body]
    return validate(body, PATCH)


def _from_v20(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    named = [op for op in PATCH_OPERATIONS if op in item]
    if len(named) != 1:
        raise BadRequest('Operation objects must contain exactly one member named "add", "remove", or "replace".')
    op = named[0]
    return {"op": op, "path": item[op], **{k: v for k, v in item.items() if k != op}}


def _check_visibility_change(ctx: RequestContext, visibility: str | None, owner: str) -> None:
    if visibility == Visibility.PUBLIC:
        policy.enforce("image:publicize_image", {"project_id": owner})
    elif visibility == Visibility.COMMUNITY:
        policy.enforce("image:communitize_image", {"project_id": owner})


def _for_write(session: Session, ctx: RequestContext, image_id: str, action: str) -> Image:
    image = access.get_visible(session, ctx, image_id)
    policy.enforce(action, {"project_id": image.owner})
    return image


@bp.post("/images")
def create_image() -> tuple[Response, int]:
    ctx = current()
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object of image attributes.")
    _refuse_protected_keys(body)
    validate(body, CREATE)
    owner = body.get("owner") or ctx.project_id
    if owner != ctx.project_id:
        policy.enforce("image:set_owner", {"project_id": owner})
    if owner is None:
        raise Forbidden("Images are owned by projects: use a project-scoped token.")
    policy.enforce("image:add_image", {"project_id": owner})
    visibility = body.get("visibility", Visibility.SHARED.value)
    _check_visibility_change(ctx, visibility, owner)
    properties = {k: v for k, v in body.items() if k not in WRITABLE}
    rt = runtime()
    with rt.db.session() as session:
        image = service.create_image(session, rt.settings, owner, visibility, body, properties)
        view = image_view(image)
    response = jsonify(view)
    response.headers["Location"] = f"{rt.settings.effective_public_url}/image/v2/images/{view['id']}"
    return response, 201


@bp.get("/images")
def list_images() -> Response:
    ctx = policy.enforce("image:get_images")
    with runtime().db.session() as session:
        images, next_marker = listing.page(session, ctx)
        body: dict[str, Any] = {"images": [image_view(i) for i in images]}
    body["first"] = "/v2/images"
    body["schema"] = "/v2/schemas/images"
    if next_marker:
        args = {k: v for k, v in request.args.items(multi=True) if k != "marker"}
        body["next"] = "/v2/images?" + urlencode([*args.items(), ("marker", next_marker)])
    return jsonify(body)


@bp.route("/images/", methods=["GET", "DELETE", "PATCH"], strict_slashes=True)
def null_image_id() -> Response:
    """An empty image id (``/v2/images/``) names no image: 404 as in Glance, not the image list."""
    raise NotFound("No image found with ID ''")


@bp.get("/images/<image_id>")
def get_image(image_id: str) -> Response:
    ctx = policy.enforce("image:get_image")
    with runtime().db.session() as session:
        return jsonify(image_view(access.get_visible(session, ctx, image_id)))


def _apply_patch(image: Image, operations: list[dict[str, Any]]) -> dict[str, Any]:
    """The image's attributes after the JSON-patch operations, checked against the create schema."""
    state: dict[str, Any] = {k: getattr(image, k) for k in WRITABLE if k != "id"}
    properties = dict(image.properties or {})
    for op in operations:
        key = op["path"][1:].replace("~1", "/").replace("~0", "~")
        _refuse_protected_keys([key])
        if key == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        if op["op"] != "remove" and "value" not in op:
            raise BadRequest(f"Operation '{op['op']}' on {op['path']} needs a value.")
        if key in state:
            if op["op"] == "remove":
                raise Forbidden(f"Attribute '{key}' is a base attribute and cannot be removed.")
            state[key] = op["value"]
        elif op["op"] == "remove" or (op["op"] == "replace" and key not in properties):
            if key not in properties:
                raise Conflict(f"Property {key} does not exist.")
            properties.pop(key)
        else:
            properties[key] = op["value"]
    validate(state | properties, CREATE)
    return state | {"properties": properties}


@bp.patch("/images/<image_id>")
def update_image(image_id: str) -> Response:
    ctx = current()
    operations = _patch_operations()
    with runtime().db.session() as session:
        image = _for_write(session, ctx, image_id, "image:modify_image")
        changes = _apply_patch(image, operations)
        if changes["visibility"] != image.visibility:
            _check_visibility_change(ctx, changes["visibility"], image.owner)
        if changes["owner"] != image.owner:
            policy.enforce("image:set_owner", {"project_id": changes["owner"]})
        changes["tags"] = list(dict.fromkeys(changes["tags"] or []))
        _claim_format_change(session, image, changes)
        for key, value in changes.items():
            setattr(image, key, value)
        session.flush()
        return jsonify(image_view(image))


def _claim_format_change(session: Session, image: Image, changes: dict[str, Any]) -> None:
    """Write a changed ``disk_format``/``container_format`` only while the image is ``queued``, as Glance does: data
    was inspected as the format it claimed when it arrived, and a new claim would have the same bytes opened by
    another driver (a "raw" text file turned "vmdk" names host files as extents). A compare-and-swap on the status,
    so an upload that claims the image meanwhile cannot be inspected as the old format and stored as the new one.
    """
    changed = {key: changes[key] for key in IMMUTABLE_ONCE_DATA if changes[key] != getattr(image, key)}
    if not changed:
        return
    result = session.execute(
        update(Image)
        .where(Image.id == image.id, Image.status == ImageStatus.QUEUED.value)
        .values(**changed)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Forbidden(f"Attribute {next(iter(changed))} can be only replaced for a queued image.")


@bp.delete("/images/<image_id>")
def delete_image(image_id: str) -> Response:
    ctx = current()
    rt = runtime()
    with rt.db.session() as session:
        image = _for_write(session, ctx, image_id, "image:delete_image")
        if image.protected:
            raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        service.check_deletable(rt.image_store, image)
        location = image.location
        image.status, image.location, image.upload_token = ImageStatus.DELETED.value, None, None
        session.execute(delete(ImageMember).where(ImageMember.image_id == image.id))
    service.delete_data(rt.db, rt.image_store, image_id, location)
    return Response(status=204)


@bp.put("/images/<image_id>/tags/<tag>")
def add_tag(image_id: str, tag: str) -> Response:
    if len(tag) > 255:
        raise BadRequest("Invalid input for field 'tag': longer than 255 characters")
    with runtime().db.session() as session:
        image = _for_write(session, current(), image_id, "image:modify_image")
        if tag not in (image.tags or []):
            image.tags = [*(image.tags or []), tag]
    return Response(status=204)


@bp.delete("/images/<image_id>/tags/<tag>")
def remove_tag(image_id: str, tag: str) -> Response:
    with runtime().db.session() as session:
        image = _for_write(session, current(), image_id, "image:modify_image")
        if tag not in (image.tags or []):
            raise NotFound(f"Tag {tag} not found on image {image_id}")
        image.tags = [t for t in image.tags if t != tag]
    return Response(status=204)


@bp.post("/images/<image_id>/actions/<action>")
def image_action(image_id: str, action: str) -> Response:
    if action not in ("deactivate", "reactivate"):
        raise NotFound(f"Unknown image action: {action}")
    with runtime().db.session() as session:
        image = _for_write(session, current(), image_id, f"image:{action}")
        target = next_status(action, ImageStatus(image.status))
        if target is None:
            raise BadRequest(f"Not allowed to {action} image in status '{image.status}'")
        image.status = target.value
    return Response(status=204)


@bp.get("/schemas/<name>")
def get_schema(name: str) -> Response:
    policy.enforce("image:get_schemas")
    published = {
        "image": schemas.published_image_schema,
        "images": schemas.published_images_schema,
        "member": schemas.published_member_schema,
        "members": schemas.published_members_schema,
    }
    if name not in published:
        raise NotFound(f"No schema named {name}")
    return jsonify(published[name]())


@bp.get("/schemas/metadefs/<name>")
def get_metadef_schema(name: str) -> Response:
    policy.enforce("image:get_schemas")
    if name not in metadef_schemas.PUBLISHED:
        raise NotFound(f"No schema named metadefs/{name}")
    return jsonify(metadef_schemas.PUBLISHED[name]())
