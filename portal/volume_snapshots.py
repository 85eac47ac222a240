"""Volume snapshots, a section of the Volumes page: their rows (live while ``creating`` or ``deleting``), a new
volume from one (the create form with the snapshot chosen as its source), and delete after a confirmation.

Snapshots are made from a volume's row (``portal.volumes``); Cinder keeps a volume with snapshots from being
deleted, and says so in the notice when someone tries.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, request, url_for

from portal.block_storage import BlockStorage
from portal.blueprint import api, bp, render, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.instances import POLL_SECONDS

TRANSITIONAL = frozenset({"creating", "deleting", "backing-up"})


def snapshot_row(snapshot: dict[str, Any], volume_names: dict[str, str]) -> dict[str, Any]:
    """What a snapshot's row shows; the list and the row fragment both render only this."""
    status = snapshot.get("status", "")
    volume_id = snapshot.get("volume_id") or ""
    return {
        "id": snapshot["id"],
        "url": f"{request.script_root}/volumes/snapshots/{quote(snapshot['id'], safe='')}",
        "name": snapshot.get("name") or snapshot["id"],
        "volume": volume_names.get(volume_id, volume_id),
        "size": snapshot.get("size"),
        "status": status,
        "changing": status in TRANSITIONAL,
        "new_volume_url": url_for("portal.volumes", source=f"snapshot:{snapshot['id']}") + "#create-volume",
    }


@bp.get("/volumes/snapshots/<snapshot_id>/row")
@signed_in
def volume_snapshot_row(snapshot_id: str) -> Response:
    storage = BlockStorage(api())
    try:
        snapshot = storage.get(f"/snapshots/{snapshot_id}")["snapshot"]
    except ApiError as exc:
        if exc.status == 404:
            return Response("", mimetype="text/html")  # deleted: the row goes away
        raise
    names = {}
    try:
        volume = storage.get(f"/volumes/{snapshot['volume_id']}")["volume"]
        names[volume["id"]] = volume.get("name") or volume["id"]
    except ApiError as exc:
        if exc.status != 404:
            raise
    return render("portal/volume_snapshot_row.html", snap=snapshot_row(snapshot, names), poll=POLL_SECONDS)


@bp.get("/volumes/snapshots/<snapshot_id>/delete")
@signed_in
def volume_snapshot_delete(snapshot_id: str) -> Response:
    snapshot = BlockStorage(api()).get(f"/snapshots/{snapshot_id}")["snapshot"]
    submit = Page("portal.volume_snapshot_delete_submit", {"snapshot_id": snapshot_id})
    return confirm_page("snapshot", snapshot.get("name") or snapshot_id, submit, Page("portal.volumes"))


@bp.post("/volumes/snapshots/<snapshot_id>/delete")
@signed_in
def volume_snapshot_delete_submit(snapshot_id: str) -> Response:
    listing = Page("portal.volumes")
    return delete_then_redirect(
        f"/volume/v3/snapshots/{snapshot_id}", listing, "The snapshot is being deleted.", listing
    )
