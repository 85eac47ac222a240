"""Routers: the list, creating one (optionally with its gateway on an external network), and one router's page
where its gateway is set or cleared and tenant subnets are attached and detached, all through Neutron's L3 API.

A router's interfaces are not a field of the router in Neutron: they are the ports it owns on tenant subnets
(``device_owner`` ``network:router_interface``, ``device_id`` the router's id), so the page lists those ports.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from portal.blueprint import api, bp, redirect_with, render, session, signed_in
from portal.client import ApiClient
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.forms import Form, empty

INTERFACE_OWNER = "network:router_interface"
ROUTER_FIELDS = {"router.name": "name", "name": "name", "external_gateway_info": "network", "network_id": "network"}
ROUTER_KEYWORDS = {"quota": "name", "external": "network", "gateway": "network", "network": "network"}
GATEWAY_FIELDS = {"external_gateway_info": "network", "network_id": "network"}
GATEWAY_KEYWORDS = {"external": "network", "gateway": "network", "network": "network", "address": "network"}
INTERFACE_FIELDS = {"subnet_id": "subnet"}
INTERFACE_KEYWORDS = {"subnet": "subnet", "gateway": "subnet", "overlap": "subnet", "address": "subnet"}


def external_networks(client: ApiClient) -> list[dict[str, Any]]:
    """The networks routers may have their gateway on and floating IPs come from (``router:external``).
    Filtered here rather than by query so the page asks nothing the API might not filter on."""
    return [n for n in client.get("/network/v2.0/networks")["networks"] if n.get("router:external")]


def gateway_body(network_id: str) -> dict[str, Any]:
    """``external_gateway_info`` for a chosen external network; an empty choice clears the gateway ({})."""
    return {"network_id": network_id} if network_id else {}


def gateway_text(router: dict[str, Any], names: dict[str, str]) -> str:
    """``public (172.24.4.10)`` for a router's gateway, "" when it has none."""
    info = router.get("external_gateway_info") or {}
    network_id = info.get("network_id")
    if not network_id:
        return ""
    ips = ", ".join(f.get("ip_address", "") for f in info.get("external_fixed_ips") or [] if f.get("ip_address"))
    name = names.get(network_id, network_id)
    return f"{name} ({ips})" if ips else name


def _list_page(form: Form, status: int = 200) -> Response:
    client = api()
    # The project's own: an admin's listing would hold every project's.
    routers = client.get("/network/v2.0/routers", project_id=session().project_id)["routers"]
    externals = external_networks(client)
    names = {n["id"]: n.get("name") or n["id"] for n in externals}
    rows = [{"router": r, "gateway": gateway_text(r, names)} for r in routers]
    return render(
        "portal/routers.html",
        status=status,
        title="Routers",
        rows=rows,
        externals=[(n["id"], n.get("name") or n["id"]) for n in externals],
        form=form,
    )


@bp.get("/routers")
@signed_in
def routers() -> Response:
    return _list_page(empty("router"))


@bp.post("/routers")
@signed_in
def router_create() -> Response:
    form = Form.posted("router")
    form.require("name")
    if form.ok:
        body: dict[str, Any] = {"name": form.get("name")}
        if form.get("network"):
            body["external_gateway_info"] = gateway_body(form.get("network"))
        created = form.attempt(
            lambda: api().post("/network/v2.0/routers", {"router": body}), ROUTER_FIELDS, ROUTER_KEYWORDS
        )
        if created is not None:
            router = created.json()["router"]
            message = f"Router {router.get('name') or router['id']} created."
            return redirect_with("portal.router_detail", message, router_id=router["id"])
    return _list_page(form, form.status)


def interface_rows(ports: list[dict[str, Any]], subnets: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per subnet a router is attached to (a port may in principle hold several of its addresses)."""
    rows = []
    for port in ports:
        for fixed in port.get("fixed_ips") or []:
            subnet = subnets.get(fixed.get("subnet_id", ""), {})
            rows.append(
                {
                    "subnet_id": fixed.get("subnet_id", ""),
                    "subnet": subnet.get("name") or subnet.get("cidr") or fixed.get("subnet_id", ""),
                    "cidr": subnet.get("cidr", ""),
                    "ip_address": fixed.get("ip_address", ""),
                    "status": port.get("status", ""),
                }
            )
    return rows


def _detail_page(router_id: str, forms: dict[str, Form] | None = None, status: int = 200) -> Response:
    client = api()
    router = client.get(f"/network/v2.0/routers/{router_id}")["router"]
    externals = external_networks(client)
    external_ids = {n["id"] for n in externals}
    subnets = {s["id"]: s for s in client.get("/network/v2.0/subnets")["subnets"]}
    own = session().project_id
    ports = client.get("/network/v2.0/ports", device_id=router_id, device_owner=INTERFACE_OWNER)["ports"]
    interfaces = interface_rows(ports, subnets)
    attached = {row["subnet_id"] for row in interfaces}
    # What may still be attached: the project's own subnets (an admin sees every project's), none of an
    # external network. All subnets are read so an interface on a shared one still has its name.
    choices = [
        (s["id"], f"{s.get('name') or s['id']} ({s['cidr']})")
        for s in subnets.values()
        if s.get("project_id") == own and s["network_id"] not in external_ids and s["id"] not in attached
    ]
    names = {n["id"]: n.get("name") or n["id"] for n in externals}
    forms = forms or {}
    current = (router.get("external_gateway_info") or {}).get("network_id", "")
    return render(
        "portal/router_detail.html",
        status=status,
        title=router.get("name") or router["id"],
        router=router,
        gateway=gateway_text(router, names),
        externals=list(names.items()),
        interfaces=interfaces,
        subnet_choices=choices,
        gateway_form=forms.get("gateway") or empty("gateway", network=current),
        interface_form=forms.get("interface") or empty("interface"),
    )


@bp.get("/routers/<router_id>")
@signed_in
def router_detail(router_id: str) -> Response:
    return _detail_page(router_id)


@bp.post("/routers/<router_id>/gateway")
@signed_in
def router_gateway(router_id: str) -> Response:
    """Set the gateway to the chosen external network; the empty choice ("No gateway") clears it."""
    form = Form.posted("gateway")
    body = {"router": {"external_gateway_info": gateway_body(form.get("network"))}}
    done = form.attempt(lambda: api().put(f"/network/v2.0/routers/{router_id}", body), GATEWAY_FIELDS, GATEWAY_KEYWORDS)
    if done is None:
        return _detail_page(router_id, {"gateway": form}, form.status)
    message = "Gateway set." if form.get("network") else "Gateway cleared."
    return redirect_with("portal.router_detail", message, router_id=router_id)


@bp.post("/routers/<router_id>/interfaces")
@signed_in
def router_interface_add(router_id: str) -> Response:
    form = Form.posted("interface")
    form.require("subnet")
    if form.ok:
        body = {"subnet_id": form.get("subnet")}
        done = form.attempt(
            lambda: api().put(f"/network/v2.0/routers/{router_id}/add_router_interface", body),
            INTERFACE_FIELDS,
            INTERFACE_KEYWORDS,
        )
        if done is not None:
            return redirect_with("portal.router_detail", "Subnet attached.", router_id=router_id)
    return _detail_page(router_id, {"interface": form}, form.status)


@bp.post("/routers/<router_id>/interfaces/<subnet_id>/remove")
@signed_in
def router_interface_remove(router_id: str, subnet_id: str) -> Response:
    body = {"subnet_id": subnet_id}
    try:
        api().put(f"/network/v2.0/routers/{router_id}/remove_router_interface", body)
    except ApiError as exc:
        if exc.status == 401:
            raise
        return redirect_with("portal.router_detail", exc.message, error=True, router_id=router_id)
    return redirect_with("portal.router_detail", "Subnet detached.", router_id=router_id)


@bp.get("/routers/<router_id>/delete")
@signed_in
def router_delete(router_id: str) -> Response:
    router = api().get(f"/network/v2.0/routers/{router_id}")["router"]
    here = {"router_id": router_id}
    submit, cancel = Page("portal.router_delete_submit", here), Page("portal.router_detail", here)
    return confirm_page("router", router.get("name") or router_id, submit, cancel)


@bp.post("/routers/<router_id>/delete")
@signed_in
def router_delete_submit(router_id: str) -> Response:
    return delete_then_redirect(
        f"/network/v2.0/routers/{router_id}",
        done=Page("portal.routers"),
        message="Router deleted.",
        failed=Page("portal.router_detail", {"router_id": router_id}),
    )
