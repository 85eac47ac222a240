"""What a user does to an instance: start, stop, reboot, pause, resume, resize (and confirm or revert it),
snapshot and delete (after a confirmation page). Each is one Nova server action through the API; a refusal
(wrong state: Nova's 409) is shown next to the button that caused it."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for

from portal.blueprint import api, bp, is_htmx, render, set_notice, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.instances import POLL_SECONDS, flavor_names, image_names, row_context

# action name in the URL -> (the body Nova takes, what the notice says)
SIMPLE_ACTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "start": ({"os-start": None}, "is starting"),
    "stop": ({"os-stop": None}, "is stopping"),
    "reboot": ({"reboot": {"type": "SOFT"}}, "is rebooting"),
    "hard-reboot": ({"reboot": {"type": "HARD"}}, "is rebooting (hard)"),
    "pause": ({"pause": None}, "is pausing"),
    "unpause": ({"unpause": None}, "is resuming"),
    "suspend": ({"suspend": None}, "is suspending"),
    "resume": ({"resume": None}, "is resuming"),
    "confirm-resize": ({"confirmResize": None}, "keeps its new size"),
    "revert-resize": ({"revertResize": None}, "goes back to its old size"),
}


def _body(action: str) -> tuple[dict[str, Any], str]:
    if action in SIMPLE_ACTIONS:
        return SIMPLE_ACTIONS[action]
    if action == "resize":
        return {"resize": {"flavorRef": request.form.get("flavor", "")}}, "is being resized"
    if action == "snapshot":
        name = request.form.get("name", "").strip()
        return {"createImage": {"name": name}}, f"is being saved as image {name}"
    raise ApiError(404, f"There is no instance action {action!r}.")


@bp.post("/instances/<server_id>/action")
@signed_in
def instance_action_form(server_id: str) -> Response:
    """The actions form of a row or page: the button pressed names the action."""
    return instance_action(server_id, request.form.get("action", ""))


@bp.post("/instances/<server_id>/action/<action>")
@signed_in
def instance_action(server_id: str, action: str) -> Response:
    body, done = _body(action)
    client = api()
    error = ""
    try:
        client.post(f"/compute/v2.1/servers/{server_id}/action", body)
    except ApiError as exc:
        if exc.status in (401, 404) and not is_htmx():
            raise
        error = exc.message
    if is_htmx() and request.headers.get("HX-Target", "").startswith("server-"):
        return _row(server_id, error)  # a list row's button: the row comes back, with the error in it
    back = request.referrer if _local(request.referrer) else url_for("portal.instance_detail", server_id=server_id)
    response = redirect(back or url_for("portal.instances"), code=303)
    return set_notice(response, error or f"The instance {done}.", error=bool(error))


def _local(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)  # type: ignore[union-attr]


def _row(server_id: str, error: str) -> Response:
    client = api()
    try:
        server = client.get(f"/compute/v2.1/servers/{server_id}")["server"]
    except ApiError as exc:
        if exc.status == 404:
            return Response("", mimetype="text/html")
        raise
    row = row_context(server, flavor_names(client), image_names(client))
    return render("portal/instance_row.html", row=row, poll=POLL_SECONDS, in_row=True, row_error=error)


@bp.get("/instances/<server_id>/delete")
@signed_in
def instance_delete(server_id: str) -> Response:
    server = api().get(f"/compute/v2.1/servers/{server_id}")["server"]
    here = {"server_id": server_id}
    return confirm_page(
        "instance", server["name"], Page("portal.instance_delete_submit", here), Page("portal.instance_detail", here)
    )


@bp.post("/instances/<server_id>/delete")
@signed_in
def instance_delete_submit(server_id: str) -> Response:
    return delete_then_redirect(
        f"/compute/v2.1/servers/{server_id}",
        done=Page("portal.instances"),
        message="The instance is being deleted.",
        failed=Page("portal.instance_detail", {"server_id": server_id}),
        missing_is_done=True,
    )
