"""Volumes: the list with its live status, the create form (empty, from an image, from a snapshot), and what a
user does to one volume: attach it to an instance, detach it, extend it, snapshot it, delete it. The page also
holds the project's snapshots (``portal.volume_snapshots``) and backups (``portal.volume_backups``).

Volumes and snapshots are Cinder's (``/volume/v3`` through ``portal.block_storage``); attach and detach are
Nova's ``os-volume_attachments`` of the instance, as ``openstack server add volume`` does. Every action is a
plain form post answered with a redirect to the list and a notice (the API's own words when it refuses), so the
page works without JavaScript. A row in a transitional status (``creating``, ``attaching``, ``extending`` ...)
polls its own fragment every 2 s, as the instance list does; a settled row carries no trigger, and a deleted
volume's fragment is empty, so its row goes away.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from flask import Response, request

from portal.block_storage import BlockStorage
from portal.blueprint import api, bp, redirect_with, render, signed_in
from portal.client import ApiClient
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.forms import Form, empty
from portal.instances import POLL_SECONDS
from portal.volume_backups import backup_row
from portal.volume_snapshots import snapshot_row

TRANSITIONAL = frozenset(
    {
        "creating",
        "reserved",
        "attaching",
        "detaching",
        "extending",
        "deleting",
        "downloading",
        "uploading",
        "backing-up",
        "restoring-backup",
        "maintenance",
    }
)
ATTACHABLE_SERVERS = ("ACTIVE", "SHUTOFF")
SIZE_LIMIT = 16384  # GB; larger than any quota here, small enough to be a number and not a typo
CREATE_FIELDS = {
    "volume.name": "name",
    "volume.size": "size",
    "size": "size",
    "volume.volume_type": "volume_type",
    "volume_type": "volume_type",
    "volume.imageRef": "source",
    "volume.snapshot_id": "source",
}
# Messages that name no field path (Cinder's are mostly sentences): the words that tell which field they are about.
CREATE_KEYWORDS = {
    "volume type": "volume_type",
    "size": "size",
    "gigabytes": "size",
    "snapshot": "source",
    "image": "source",
}


def changing(status: str) -> bool:
    return status in TRANSITIONAL


def source_body(choice: str) -> dict[str, str]:
    """The create body's source for the form's choice: ``""`` an empty volume, ``image:<id>`` or
    ``snapshot:<id>``. Anything else is a ValueError (the form says so; nothing reaches the API)."""
    if not choice:
        return {}
    kind, _, source_id = choice.partition(":")
    if not source_id:
        raise ValueError(choice)
    if kind == "image":
        return {"imageRef": source_id}
    if kind == "snapshot":
        return {"snapshot_id": source_id}
    raise ValueError(choice)


def attachment_text(volume: dict[str, Any], server_names: dict[str, str]) -> str:
    """``web-1 on /dev/vdb`` for each attachment (instances by name where the project sees them)."""
    parts = []
    for attachment in volume.get("attachments") or []:
        server_id = attachment.get("server_id") or ""
        name = server_names.get(server_id, server_id)
        device = attachment.get("device") or ""
        parts.append(f"{name} on {device}" if device else name)
    return ", ".join(parts)


def volume_row(volume: dict[str, Any], server_names: dict[str, str]) -> dict[str, Any]:
    """What a row shows; the list and the row fragment both render only this."""
    status = volume.get("status", "")
    return {
        "id": volume["id"],
        "url": f"{request.script_root}/volumes/{quote(volume['id'], safe='')}",
        "name": volume.get("name") or volume["id"],
        "size": volume.get("size"),
        "status": status,
        "type": volume.get("volume_type") or "",
        "attached": attachment_text(volume, server_names),
        "bootable": str(volume.get("bootable", "")).lower() == "true",
        "changing": changing(status),
    }


def server_choices(servers: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """The instances a volume may be attached to from here: the project's ACTIVE or SHUTOFF ones, by name."""
    chosen = [s for s in servers if s.get("status") in ATTACHABLE_SERVERS and not s.get("OS-EXT-STS:task_state")]
    return sorted(((s["id"], s.get("name") or s["id"]) for s in chosen), key=lambda pair: (pair[1], pair[0]))


def _servers(client: ApiClient) -> list[dict[str, Any]]:
    return client.get("/compute/v2.1/servers/detail", limit=1000)["servers"]


def _source_choices(client: ApiClient, snapshots: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    images = client.get("/image/v2/images", status="active", limit=1000)["images"]
    available = [s for s in snapshots if s.get("status") == "available"]
    return {
        "images": [(f"image:{i['id']}", i.get("name") or i["id"]) for i in images],
        "snapshots": [(f"snapshot:{s['id']}", s.get("name") or s["id"]) for s in available],
    }


def _list_page(form: Form, status: int = 200) -> Response:
    client = api()
    storage = BlockStorage(client)
    volumes = storage.get("/volumes/detail")["volumes"]
    snapshots = storage.get("/snapshots/detail")["snapshots"]
    backups = storage.get("/backups/detail")["backups"]
    types = storage.get("/types")["volume_types"]
    servers = _servers(client)
    names = {s["id"]: s.get("name") or s["id"] for s in servers}
    volume_names = {v["id"]: v.get("name") or v["id"] for v in volumes}
    return render(
        "portal/volumes.html",
        status=status,
        title="Volumes",
        rows=[volume_row(v, names) for v in volumes],
        snapshot_rows=[snapshot_row(s, volume_names) for s in snapshots],
        backup_rows=[backup_row(b, volume_names) for b in backups],
        servers=server_choices(servers),
        types=[(t["name"], t["name"]) for t in types],
        form=form,
        poll=POLL_SECONDS,
        **_source_choices(client, snapshots),
    )


@bp.get("/volumes")
@signed_in
def volumes() -> Response:
    # ?source=snapshot:<id> (the snapshot list's "New volume" link) preselects the source.
    return _list_page(empty("volume", source=request.args.get("source", "")[:100]))


def create_body(form: Form) -> dict[str, Any] | None:
    """The API's create body from the form, or None with the form's errors set."""
    form.require("name")
    size = form.integer("size", minimum=1, maximum=SIZE_LIMIT)
    try:
        source = source_body(form.get("source"))
    except ValueError:
        form.errors["source"] = "Choose a source from the list."
        return None
    if not source and size is None and "size" not in form.errors:
        form.errors["size"] = "An empty volume needs a size."
    if not form.ok:
        return None
    volume: dict[str, Any] = {"name": form.get("name"), **source}
    if size is not None:
        volume["size"] = size
    if form.get("volume_type"):
        volume["volume_type"] = form.get("volume_type")
    return {"volume": volume}


@bp.post("/volumes")
@signed_in
def volume_create() -> Response:
    form = Form.posted("volume")
    body = create_body(form)
    if body is not None:
        storage = BlockStorage(api())
        created = form.attempt(lambda: storage.post("/volumes", body), CREATE_FIELDS, CREATE_KEYWORDS)
        if created is not None:
            return redirect_with("portal.volumes", f"Volume {form.get('name')} is being created.")
    return _list_page(form, form.status)


@bp.get("/volumes/<volume_id>/row")
@signed_in
def volume_row_fragment(volume_id: str) -> Response:
    client = api()
    try:
        volume = BlockStorage(client).get(f"/volumes/{volume_id}")["volume"]
    except ApiError as exc:
        if exc.status == 404:
            return Response("", mimetype="text/html")  # deleted: the row goes away
        raise
    servers = _servers(client)
    names = {s["id"]: s.get("name") or s["id"] for s in servers}
    return render(
        "portal/volume_row.html", row=volume_row(volume, names), servers=server_choices(servers), poll=POLL_SECONDS
    )


def _done(message: str) -> Response:
    return redirect_with("portal.volumes", message)


def _refused(exc: ApiError) -> Response:
    """The API's refusal as the next page's error notice; a lapsed session still signs the user out."""
    if exc.status == 401:
        raise exc
    return redirect_with("portal.volumes", exc.message, error=True)


@bp.post("/volumes/<volume_id>/attach")
@signed_in
def volume_attach(volume_id: str) -> Response:
    server_id = request.form.get("server", "").strip()
    if not server_id:
        return redirect_with("portal.volumes", "Choose an instance to attach the volume to.", error=True)
    body = {"volumeAttachment": {"volumeId": volume_id}}
    try:
        # The id is data: quoted, it cannot step out of its path segment into another resource.
        path = f"/compute/v2.1/servers/{quote(server_id, safe='')}/os-volume_attachments"
        attached = api().post(path, body).json()
    except ApiError as exc:
        return _refused(exc)
    device = attached["volumeAttachment"].get("device") or ""
    return _done(f"The volume is being attached as {device}." if device else "The volume is being attached.")


@bp.post("/volumes/<volume_id>/detach")
@signed_in
def volume_detach(volume_id: str) -> Response:
    """Detach from the instance the volume is attached to now (read again here, not taken from the form)."""
    client = api()
    try:
        volume = BlockStorage(client).get(f"/volumes/{volume_id}")["volume"]
        attachments = volume.get("attachments") or []
        if not attachments:
            return redirect_with("portal.volumes", "The volume is not attached to an instance.", error=True)
        for attachment in attachments:
            client.delete(f"/compute/v2.1/servers/{attachment['server_id']}/os-volume_attachments/{volume_id}")
    except ApiError as exc:
        return _refused(exc)
    return _done("The volume is being detached.")


@bp.post("/volumes/<volume_id>/extend")
@signed_in
def volume_extend(volume_id: str) -> Response:
    form = Form.posted("extend")
    form.require("new_size")
    new_size = form.integer("new_size", minimum=1, maximum=SIZE_LIMIT)
    if not form.ok or new_size is None:
        return redirect_with("portal.volumes", f"New size: {next(iter(form.errors.values()))}", error=True)
    try:
        BlockStorage(api()).post(f"/volumes/{volume_id}/action", {"os-extend": {"new_size": new_size}})
    except ApiError as exc:
        return _refused(exc)
    return _done(f"The volume is being extended to {new_size} GB.")


@bp.post("/volumes/<volume_id>/snapshot")
@signed_in
def volume_snapshot(volume_id: str) -> Response:
    name = request.form.get("name", "").strip()
    if not name:
        return redirect_with("portal.volumes", "Give the snapshot a name.", error=True)
    body = {"snapshot": {"volume_id": volume_id, "name": name}}
    try:
        BlockStorage(api()).post("/snapshots", body)
    except ApiError as exc:
        return _refused(exc)
    return _done(f"Snapshot {name} is being created.")


@bp.get("/volumes/<volume_id>/delete")
@signed_in
def volume_delete(volume_id: str) -> Response:
    volume = BlockStorage(api()).get(f"/volumes/{volume_id}")["volume"]
    submit = Page("portal.volume_delete_submit", {"volume_id": volume_id})
    return confirm_page("volume", volume.get("name") or volume_id, submit, Page("portal.volumes"))


@bp.post("/volumes/<volume_id>/delete")
@signed_in
def volume_delete_submit(volume_id: str) -> Response:
    listing = Page("portal.volumes")
    return delete_then_redirect(f"/volume/v3/volumes/{volume_id}", listing, "The volume is being deleted.", listing)
