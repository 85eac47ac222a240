"""Volume backups, a section of the Volumes page: back up a volume (full, or incremental on its newest backup),
the backups' rows (live while ``creating``, ``restoring`` or ``deleting``), restore one to a new volume, and
delete after a confirmation.

Cinder's ``/backups`` through ``portal.block_storage``; its rules stay the API's and reach the user in its
words: an incremental backup needs an earlier one of the volume, a backup others depend on is not deleted, an
attached volume is backed up only with ``force``, which the page does not send (it offers backups of available
volumes).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, request

from portal.block_storage import BlockStorage
from portal.blueprint import api, bp, redirect_with, render, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.instances import POLL_SECONDS

TRANSITIONAL = frozenset({"creating", "restoring", "deleting"})
KINDS = ("full", "incremental")


def backup_body(volume_id: str, name: str, kind: str) -> dict[str, Any]:
    """Cinder's create body for a ``full`` or ``incremental`` backup; any other kind is a ValueError."""
    if kind not in KINDS:
        raise ValueError(kind)
    return {"backup": {"volume_id": volume_id, "name": name or None, "incremental": kind == "incremental"}}


def backup_row(backup: dict[str, Any], volume_names: dict[str, str]) -> dict[str, Any]:
    """What a backup's row shows; the list and the row fragment both render only this."""
    status = backup.get("status", "")
    volume_id = backup.get("volume_id") or ""
    return {
        "id": backup["id"],
        "url": f"{request.script_root}/volumes/backups/{quote(backup['id'], safe='')}",
        "name": backup.get("name") or backup["id"],
        "volume": volume_names.get(volume_id, volume_id),
        "size": backup.get("size"),
        "kind": "incremental" if backup.get("is_incremental") else "full",
        "status": status,
        "created": (backup.get("created_at") or "")[:19].replace("T", " "),
        "fail_reason": backup.get("fail_reason") or "",
        "changing": status in TRANSITIONAL,
    }


def _refused(exc: ApiError) -> Response:
    if exc.status == 401:
        raise exc
    return redirect_with("portal.volumes", exc.message, error=True)


@bp.post("/volumes/<volume_id>/backup")
@signed_in
def volume_backup(volume_id: str) -> Response:
    name = request.form.get("name", "").strip()
    try:
        body = backup_body(volume_id, name, request.form.get("kind", "full"))
    except ValueError:
        return redirect_with("portal.volumes", "Choose a full or an incremental backup.", error=True)
    try:
        BlockStorage(api()).post("/backups", body)
    except ApiError as exc:
        return _refused(exc)
    kind = "An incremental" if body["backup"]["incremental"] else "A full"
    return redirect_with("portal.volumes", f"{kind} backup{f' {name}' if name else ''} is being made.")


@bp.get("/volumes/backups/<backup_id>/row")
@signed_in
def volume_backup_row(backup_id: str) -> Response:
    storage = BlockStorage(api())
    try:
        backup = storage.get(f"/backups/{backup_id}")["backup"]
    except ApiError as exc:
        if exc.status == 404:
            return Response("", mimetype="text/html")  # deleted: the row goes away
        raise
    names = {}
    try:
        volume = storage.get(f"/volumes/{backup['volume_id']}")["volume"]
        names[volume["id"]] = volume.get("name") or volume["id"]
    except ApiError as exc:
        if exc.status != 404:  # a backup outlives its volume
            raise
    return render("portal/volume_backup_row.html", backup=backup_row(backup, names), poll=POLL_SECONDS)


@bp.post("/volumes/backups/<backup_id>/restore")
@signed_in
def volume_backup_restore(backup_id: str) -> Response:
    """Restore to a new volume of the backup's size (named as the user says, else Cinder's
    ``restore_backup_<id>``); restoring over an existing volume's data is left to the API and the CLI."""
    name = request.form.get("name", "").strip()
    body = {"restore": {"name": name} if name else {}}
    try:
        restored = BlockStorage(api()).post(f"/backups/{backup_id}/restore", body).json()["restore"]
    except ApiError as exc:
        return _refused(exc)
    target = restored.get("volume_name") or restored.get("volume_id")
    return redirect_with("portal.volumes", f"The backup is being restored to volume {target}.")


@bp.get("/volumes/backups/<backup_id>/delete")
@signed_in
def volume_backup_delete(backup_id: str) -> Response:
    backup = BlockStorage(api()).get(f"/backups/{backup_id}")["backup"]
    submit = Page("portal.volume_backup_delete_submit", {"backup_id": backup_id})
    return confirm_page("backup", backup.get("name") or backup_id, submit, Page("portal.volumes"))


@bp.post("/volumes/backups/<backup_id>/delete")
@signed_in
def volume_backup_delete_submit(backup_id: str) -> Response:
    listing = Page("portal.volumes")
    return delete_then_redirect(f"/volume/v3/backups/{backup_id}", listing, "The backup is being deleted.", listing)
