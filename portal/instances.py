"""Instances: the list (live status without reloading), one instance's page with its console log and action
history, and the row fragment the list polls while an instance is changing state.

Live status: a row whose instance is in a transitional state (BUILD, REBOOT, a task in flight) carries
``hx-get`` of its own fragment every 2 s; the fragment of a settled instance carries no trigger, so polling
stops by itself, and a deleted instance's fragment is empty, so its row goes away. A 500-instance list with
nothing changing makes no requests at all.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, request

from portal.blueprint import api, bp, is_htmx, render, signed_in
from portal.client import ApiClient
from portal.errors import ApiError
from portal.floating_ips import floating_by_server

TRANSITIONAL = frozenset({"BUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "MIGRATING", "REBUILD", "PASSWORD"})
POLL_SECONDS = 2
LIST_LIMIT = 1000  # Nova's largest page


def changing(server: dict[str, Any]) -> bool:
    return server.get("status") in TRANSITIONAL or bool(server.get("OS-EXT-STS:task_state"))


def flavor_names(client: ApiClient) -> dict[str, str]:
    return {f["id"]: f["name"] for f in client.get("/compute/v2.1/flavors/detail")["flavors"]}


def image_names(client: ApiClient) -> dict[str, str]:
    return {i["id"]: i["name"] or i["id"] for i in client.get("/image/v2/images", limit=1000)["images"]}


def addresses(server: dict[str, Any]) -> str:
    """``net: 10.0.0.5, ...`` from Nova's ``addresses``."""
    parts = []
    for network, entries in sorted((server.get("addresses") or {}).items()):
        ips = ", ".join(e.get("addr", "") for e in entries)
        parts.append(f"{network}: {ips}" if ips else network)
    return "; ".join(parts)


def row_context(
    server: dict[str, Any], flavors: dict[str, str], images: dict[str, str], floating: list[str] | None = None
) -> dict[str, Any]:
    """What a row shows; the template reads only this, so the list and the fragment agree. ``floating``: the
    server's floating IP addresses (Neutron's, see ``floating_ips.floating_by_server``)."""
    image = server.get("image") or {}
    flavor_id = (server.get("flavor") or {}).get("id", "")
    return {
        "id": server["id"],
        # Built here, not with url_for in the template: 2,000 url_for calls were 40 % of a 500-row page's render.
        "url": f"{request.script_root}/instances/{quote(server['id'], safe='')}",
        "name": server.get("name") or server["id"],
        "status": server.get("status", ""),
        "task": server.get("OS-EXT-STS:task_state") or "",
        "flavor": flavors.get(flavor_id, flavor_id),
        "image": images.get(image.get("id", ""), image.get("id", "")) if isinstance(image, dict) else "",
        "addresses": addresses(server),
        "floating": ", ".join(floating or []),
        "changing": changing(server),
        "fault": (server.get("fault") or {}).get("message", ""),
    }


@bp.get("/instances")
@signed_in
def instances() -> Response:
    client = api()
    servers = client.get("/compute/v2.1/servers/detail", limit=LIST_LIMIT)["servers"]
    flavors, images = flavor_names(client), image_names(client)
    floating = floating_by_server(client)
    rows = [row_context(s, flavors, images, floating.get(s["id"])) for s in servers]
    return render("portal/instances.html", title="Instances", rows=rows, poll=POLL_SECONDS)


@bp.get("/instances/<server_id>/row")
@signed_in
def instance_row(server_id: str) -> Response:
    client = api()
    try:
        server = client.get(f"/compute/v2.1/servers/{server_id}")["server"]
    except ApiError as exc:
        if exc.status == 404:
            return Response("", mimetype="text/html")  # deleted: the row goes away
        raise
    floating = floating_by_server(client, [server_id]).get(server_id)
    row = row_context(server, flavor_names(client), image_names(client), floating)
    return render("portal/instance_row.html", row=row, poll=POLL_SECONDS)


@bp.get("/instances/<server_id>")
@signed_in
def instance_detail(server_id: str) -> Response:
    client = api()
    server = client.get(f"/compute/v2.1/servers/{server_id}")["server"]
    floating = floating_by_server(client, [server_id]).get(server_id)
    row = row_context(server, flavor_names(client), image_names(client), floating)
    actions = client.get(f"/compute/v2.1/servers/{server_id}/os-instance-actions")["instanceActions"]
    flavors = client.get("/compute/v2.1/flavors/detail")["flavors"]
    return render(
        "portal/instance_detail.html",
        title=row["name"],
        server=server,
        row=row,
        actions=actions,
        flavors=flavors,
        poll=POLL_SECONDS,
    )


@bp.get("/instances/<server_id>/console")
@signed_in
def instance_console(server_id: str) -> Response:
    """The console log's tail, as ``openstack console log show`` prints it (a fragment under htmx)."""
    try:
        output = (
            api()
            .post(f"/compute/v2.1/servers/{server_id}/action", {"os-getConsoleOutput": {"length": 200}})
            .json()["output"]
        )
        error = ""
    except ApiError as exc:
        if exc.status in (401, 404):
            raise
        output, error = "", exc.message
    template = "portal/instance_console.html" if is_htmx() else "portal/instance_console_page.html"
    return render(template, title="Console log", server_id=server_id, output=output, error=error)
