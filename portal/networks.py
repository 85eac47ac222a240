"""Networks and subnets: the list, a network with its subnets and ports, creating both (a network created
with a subnet that the API refuses is removed again, so a typo in the CIDR leaves nothing half made)."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Response

from portal.blueprint import api, bp, redirect_with, render, signed_in
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.forms import Form, empty

NETWORK_FIELDS = {"network.name": "name", "name": "name"}
SUBNET_FIELDS = {
    "subnet.cidr": "cidr",
    "cidr": "cidr",
    "gateway_ip": "gateway",
    "subnet.gateway_ip": "gateway",
    "subnet.name": "subnet_name",
}
SUBNET_KEYWORDS = {"cidr": "cidr", "gateway": "gateway", "overlaps": "cidr", "subnet": "cidr", "quota": "cidr"}


@bp.get("/networks")
@signed_in
def networks() -> Response:
    client = api()
    listing = client.get("/network/v2.0/networks")["networks"]
    subnets = {s["id"]: s for s in client.get("/network/v2.0/subnets")["subnets"]}
    return render(
        "portal/networks.html",
        title="Networks",
        networks=listing,
        subnets=subnets,
        form=empty("network", ip_version="4", enable_dhcp="on"),
    )


def _subnet_body(form: Form, network_id: str) -> dict[str, Any]:
    subnet: dict[str, Any] = {
        "network_id": network_id,
        "cidr": form.get("cidr"),
        "ip_version": 6 if ":" in form.get("cidr") else 4,
        "enable_dhcp": form.get("enable_dhcp") == "on",
    }
    if form.get("subnet_name"):
        subnet["name"] = form.get("subnet_name")
    if form.get("gateway"):
        subnet["gateway_ip"] = form.get("gateway")
    return {"subnet": subnet}


def _network_page(form: Form, status: int) -> Response:
    client = api()
    listing = client.get("/network/v2.0/networks")["networks"]
    subnets = {s["id"]: s for s in client.get("/network/v2.0/subnets")["subnets"]}
    return render("portal/networks.html", status=status, title="Networks", networks=listing, subnets=subnets, form=form)


@bp.post("/networks")
@signed_in
def network_create() -> Response:
    form = Form.posted("network")
    form.require("name")
    if not form.ok:
        return _network_page(form, 400)
    client = api()
    created = form.attempt(
        lambda: client.post("/network/v2.0/networks", {"network": {"name": form.get("name")}}),
        NETWORK_FIELDS,
        {"quota": "name"},
    )
    if created is None:
        return _network_page(form, 400)
    network = created.json()["network"]
    if form.get("cidr"):
        try:
            client.post("/network/v2.0/subnets", _subnet_body(form, network["id"]))
        except ApiError as exc:
            _remove_quietly(f"/network/v2.0/networks/{network['id']}")
            if exc.status == 401:
                raise
            form.fail(exc, SUBNET_FIELDS, SUBNET_KEYWORDS)
            return _network_page(form, 400)
    return redirect_with("portal.network_detail", f"Network {network['name']} created.", network_id=network["id"])


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(ApiError):  # the subnet's error is the one to show
        api().delete(path)


def _detail_page(network_id: str, form: Form, status: int = 200) -> Response:
    client = api()
    network = client.get(f"/network/v2.0/networks/{network_id}")["network"]
    subnets = client.get("/network/v2.0/subnets", network_id=network_id)["subnets"]
    ports = client.get("/network/v2.0/ports", network_id=network_id)["ports"]
    return render(
        "portal/network_detail.html",
        status=status,
        title=network["name"],
        network=network,
        subnets=subnets,
        ports=ports,
        form=form,
    )


@bp.get("/networks/<network_id>")
@signed_in
def network_detail(network_id: str) -> Response:
    return _detail_page(network_id, empty("subnet", enable_dhcp="on"))


@bp.post("/networks/<network_id>/subnets")
@signed_in
def subnet_create(network_id: str) -> Response:
    form = Form.posted("subnet")
    form.require("cidr")
    if form.ok:
        created = form.attempt(
            lambda: api().post("/network/v2.0/subnets", _subnet_body(form, network_id)),
            SUBNET_FIELDS,
            SUBNET_KEYWORDS,
            (401, 404),
        )
        if created is not None:
            return redirect_with("portal.network_detail", "Subnet created.", network_id=network_id)
    return _detail_page(network_id, form, 400)


@bp.post("/networks/<network_id>/subnets/<subnet_id>/delete")
@signed_in
def subnet_delete(network_id: str, subnet_id: str) -> Response:
    detail = Page("portal.network_detail", {"network_id": network_id})
    return delete_then_redirect(f"/network/v2.0/subnets/{subnet_id}", detail, "Subnet deleted.", detail)


@bp.get("/networks/<network_id>/delete")
@signed_in
def network_delete(network_id: str) -> Response:
    network = api().get(f"/network/v2.0/networks/{network_id}")["network"]
    here = {"network_id": network_id}
    return confirm_page(
        "network", network["name"], Page("portal.network_delete_submit", here), Page("portal.network_detail", here)
    )


@bp.post("/networks/<network_id>/delete")
@signed_in
def network_delete_submit(network_id: str) -> Response:
    return delete_then_redirect(
        f"/network/v2.0/networks/{network_id}",
        done=Page("portal.networks"),
        message="Network deleted.",
        failed=Page("portal.network_detail", {"network_id": network_id}),
    )
