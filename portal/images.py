"""Images: the list (with visibility and delete), and upload from the browser with a progress bar.

The upload is two steps, as in Glance: the image record is created (a form post, answered as JSON to the
page's script), then the browser PUTs the file to ``/images/<id>/file`` here, which hands the request's body
stream unread to the image API's streamed upload: the file passes through in chunks, never whole in memory.
Without JavaScript the form posts the file as multipart (Werkzeug spools it to disk) and the portal streams it
from there.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from api import guards
from portal.blueprint import api, bp, redirect_with, render, session, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.forms import Form, empty

DISK_FORMATS = ("qcow2", "raw", "vmdk", "iso")
VISIBILITIES = ("private", "shared", "community", "public")
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
FIELDS = {"name": "name", "disk_format": "disk_format", "visibility": "visibility", "min_disk": "min_disk"}
KEYWORDS = {"over a limit": "file", "visibility": "visibility", "disk_format": "disk_format", "format": "file"}


@bp.get("/images")
@signed_in
def images() -> Response:
    listing = api().get("/image/v2/images", limit=1000)["images"]
    return render(
        "portal/images.html", title="Images", images=listing, mine=session().project_id, visibilities=VISIBILITIES
    )


def _upload_page(form: Form, status: int = 200) -> Response:
    return render(
        "portal/image_upload.html",
        status=status,
        title="Upload an image",
        form=form,
        disk_formats=[(f, f) for f in DISK_FORMATS],
        visibilities=[(v, v) for v in VISIBILITIES],
    )


@bp.get("/images/upload")
@signed_in
def image_upload() -> Response:
    return _upload_page(empty("image", disk_format="qcow2", visibility="private", min_disk="0"))


def _create(form: Form) -> dict[str, Any] | None:
    """The new image record, or None with the form's errors set."""
    form.require("name", "disk_format")
    min_disk = form.integer("min_disk", minimum=0) or 0
    if not form.ok:
        return None
    body = {
        "name": form.get("name"),
        "disk_format": form.get("disk_format"),
        "container_format": "bare",
        "visibility": form.get("visibility", "private"),
        "min_disk": min_disk,
    }
    return form.attempt(lambda: api().post("/image/v2/images", body).json(), FIELDS, KEYWORDS)


@bp.post("/images/upload")
@guards.image_data
@signed_in
def image_upload_submit() -> Response:
    """The script's first step (it asks for JSON), or the whole upload of a form posted without script."""
    wants_json = request.accept_mimetypes.best == "application/json"
    form = Form.posted("image")
    image = _create(form)
    if wants_json:
        if image is None:
            message = next(iter(form.errors.values()), "The image could not be created.")
            return Response(_json({"message": message, "errors": form.errors}), 400, mimetype="application/json")
        upload_url = url_for("portal.image_file", image_id=image["id"])
        answer = {"id": image["id"], "upload_url": upload_url, "image_url": url_for("portal.images")}
        response = jsonify(answer)
        response.status_code = 201
        return response
    if image is None:
        return _upload_page(form, 400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        form.errors["file"] = "Choose a file to upload."
        return _upload_page(form, 400)
    try:
        api().request(
            "PUT", f"/image/v2/images/{image['id']}/file", stream=upload.stream, content_type="application/octet-stream"
        )
    except ApiError as exc:
        form.fail(exc, FIELDS, KEYWORDS)
        form.errors.setdefault("file", exc.message)
        return _upload_page(form, 400)
    return redirect_with("portal.images", f"Image {image['name']} uploaded.")


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@bp.put("/images/<image_id>/file")
@guards.image_data
@signed_in
def image_file(image_id: str) -> Response:
    """Stream the request body into the image API (the browser's ``XMLHttpRequest`` upload)."""
    try:
        api().request(
            "PUT",
            f"/image/v2/images/{image_id}/file",
            stream=request.stream,
            content_length=request.content_length,
            content_type="application/octet-stream",
        )
    except ApiError as exc:
        return Response(_json({"message": exc.message}), exc.status, mimetype="application/json")
    return Response(_json({"id": image_id}), 200, mimetype="application/json")


@bp.post("/images/<image_id>/visibility")
@signed_in
def image_visibility(image_id: str) -> Response:
    visibility = request.form.get("visibility", "")
    patch = [{"op": "replace", "path": "/visibility", "value": visibility}]
    try:
        api().request("PATCH", f"/image/v2/images/{image_id}", body=patch, content_type=PATCH_TYPE)
    except ApiError as exc:
        if exc.status == 401:
            raise
        return redirect_with("portal.images", exc.message, error=True)
    return redirect_with("portal.images", f"The image is now {visibility}.")


@bp.get("/images/<image_id>/delete")
@signed_in
def image_delete(image_id: str) -> Response:
    image = api().get(f"/image/v2/images/{image_id}")
    submit = Page("portal.image_delete_submit", {"image_id": image_id})
    return confirm_page("image", image.get("name") or image_id, submit, Page("portal.images"))


@bp.post("/images/<image_id>/delete")
@signed_in
def image_delete_submit(image_id: str) -> Response:
    listing = Page("portal.images")
    return delete_then_redirect(f"/image/v2/images/{image_id}", listing, "The image was deleted.", listing)
