"""Floating IPs: the project's list, allocating one from an external network, associating it with an instance's
address (the instance is chosen; the page finds its port and fixed IP), disassociating and releasing it.

Neutron ties a floating IP to a port, not to a server: a server's floating IPs are those whose ``port_id`` is
one of its ports (``device_id`` the server's id). The instance pages read them the same way
(:func:`floating_by_server`).
"""

from __future__ import annotations

import ipaddress

from flask import Response

from portal.blueprint import api, bp, redirect_with, render, session, signed_in
from portal.client import ApiClient
from portal.deletion import Page, confirm_page, delete_then_redirect
from portal.errors import ApiError
from portal.forms import Form, empty
from portal.routers import external_networks

ALLOCATE_FIELDS = {"floating_network_id": "network", "floatingip.floating_network_id": "network"}
ALLOCATE_KEYWORDS = {"quota": "network", "network": "network", "subnet": "network", "address": "network"}
ASSOCIATE_FIELDS = {"port_id": "target", "fixed_ip_address": "target", "floatingip.port_id": "target"}
ASSOCIATE_KEYWORDS = {"port": "target", "address": "target", "reachable": "target", "network": "target"}
TARGET_SEPARATOR = " "


def floating_by_server(client: ApiClient, server_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Server id -> the floating IP addresses associated with its ports. ``server_ids`` narrows the port lookup
    to those servers (one instance's page). An API that refuses (no L3 service, a reader role) leaves the
    instance pages without floating IPs rather than failing them."""
    project = session().project_id  # an admin's listings would hold every project's
    try:
        if server_ids is not None:
            if not server_ids:
                return {}
            ports = client.get("/network/v2.0/ports", device_id=server_ids, project_id=project)["ports"]
            port_ids = [p["id"] for p in ports]
            found = client.get("/network/v2.0/floatingips", port_id=port_ids)["floatingips"] if port_ids else []
        else:
            listing = client.get("/network/v2.0/floatingips", project_id=project)["floatingips"]
            found = [f for f in listing if f.get("port_id")]
            wanted = sorted({f["port_id"] for f in found})
            ports = client.get("/network/v2.0/ports", id=wanted)["ports"] if wanted else []
    except ApiError as exc:
        if exc.status == 401:
            raise
        return {}
    device = {p["id"]: p.get("device_id", "") for p in ports}
    result: dict[str, list[str]] = {}
    for fip in sorted(found, key=lambda f: f.get("floating_ip_address", "")):
        server = device.get(fip.get("port_id") or "")
        if server:
            result.setdefault(server, []).append(fip["floating_ip_address"])
    return result


def instance_targets(client: ApiClient) -> list[tuple[str, str]]:
    """(value, label) for every IPv4 fixed address of the project's instances: the choices a floating IP can be
    associated with. The value is ``port_id fixed_ip`` (:func:`parse_target` reads it back)."""
    servers = {s["id"]: s.get("name") or s["id"] for s in client.get("/compute/v2.1/servers")["servers"]}
    if not servers:
        return []
    ports = client.get("/network/v2.0/ports", device_id=sorted(servers), project_id=session().project_id)["ports"]
    targets = []
    for port in sorted(ports, key=lambda p: (servers.get(p.get("device_id", ""), ""), p["id"])):
        name = servers.get(port.get("device_id", ""))
        if name is None:
            continue
        for fixed in port.get("fixed_ips") or []:
            address = fixed.get("ip_address", "")
            if _is_ipv4(address):
                targets.append((f"{port['id']}{TARGET_SEPARATOR}{address}", f"{name}: {address}"))
    return targets


def _is_ipv4(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


def parse_target(form: Form, offered: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(port id, fixed IP) of the chosen instance address; None, with the form's error set, when nothing or
    something not offered was chosen (a stale page, or a forged value)."""
    chosen = form.get("target")
    if not chosen:
        form.errors["target"] = "Choose an instance address."
        return None
    if chosen not in {value for value, _ in offered}:
        form.errors["target"] = "That instance address is not one of yours any more; choose again."
        return None
    port_id, _, address = chosen.partition(TARGET_SEPARATOR)
    return port_id, address


def _list_page(form: Form, status: int = 200) -> Response:
    client = api()
    fips = client.get("/network/v2.0/floatingips", project_id=session().project_id)["floatingips"]
    externals = external_networks(client)
    names = {n["id"]: n.get("name") or n["id"] for n in externals}
    servers = {s["id"]: s.get("name") or s["id"] for s in client.get("/compute/v2.1/servers")["servers"]}
    port_ids = sorted({f["port_id"] for f in fips if f.get("port_id")})
    ports = client.get("/network/v2.0/ports", id=port_ids)["ports"] if port_ids else []
    owners = {p["id"]: p.get("device_id", "") for p in ports}
    rows = []
    for fip in sorted(fips, key=lambda f: f.get("floating_ip_address", "")):
        server_id = owners.get(fip.get("port_id") or "", "")
        rows.append(
            {
                "fip": fip,
                "network": names.get(fip.get("floating_network_id", ""), fip.get("floating_network_id", "")),
                "server_id": server_id,
                "server": servers.get(server_id, server_id),
            }
        )
    if not form.values and len(externals) == 1:
        form.values["network"] = externals[0]["id"]
    return render(
        "portal/floating_ips.html",
        status=status,
        title="Floating IPs",
        rows=rows,
        externals=list(names.items()),
        form=form,
    )


@bp.get("/floating-ips")
@signed_in
def floating_ips() -> Response:
    return _list_page(empty("fip"))


@bp.post("/floating-ips")
@signed_in
def floating_ip_allocate() -> Response:
    form = Form.posted("fip")
    form.require("network")
    if form.ok:
        body = {"floatingip": {"floating_network_id": form.get("network")}}
        created = form.attempt(
            lambda: api().post("/network/v2.0/floatingips", body), ALLOCATE_FIELDS, ALLOCATE_KEYWORDS
        )
        if created is not None:
            address = created.json()["floatingip"]["floating_ip_address"]
            return redirect_with("portal.floating_ips", f"Floating IP {address} allocated.")
    return _list_page(form, form.status)


def _associate_page(fip_id: str, form: Form, status: int = 200) -> Response:
    client = api()
    fip = client.get(f"/network/v2.0/floatingips/{fip_id}")["floatingip"]
    return render(
        "portal/floating_ip_associate.html",
        status=status,
        title=f"Associate {fip['floating_ip_address']}",
        fip=fip,
        targets=instance_targets(client),
        form=form,
    )


@bp.get("/floating-ips/<fip_id>/associate")
@signed_in
def floating_ip_associate(fip_id: str) -> Response:
    return _associate_page(fip_id, empty("associate"))


@bp.post("/floating-ips/<fip_id>/associate")
@signed_in
def floating_ip_associate_submit(fip_id: str) -> Response:
    form = Form.posted("associate")
    target = parse_target(form, instance_targets(api()))
    if target is not None:
        port_id, address = target
        body = {"floatingip": {"port_id": port_id, "fixed_ip_address": address}}
        done = form.attempt(
            lambda: api().put(f"/network/v2.0/floatingips/{fip_id}", body), ASSOCIATE_FIELDS, ASSOCIATE_KEYWORDS
        )
        if done is not None:
            fip = done.json()["floatingip"]
            message = f"Floating IP {fip['floating_ip_address']} associated with {address}."
            return redirect_with("portal.floating_ips", message)
    return _associate_page(fip_id, form, form.status)


@bp.post("/floating-ips/<fip_id>/disassociate")
@signed_in
def floating_ip_disassociate(fip_id: str) -> Response:
    try:
        api().put(f"/network/v2.0/floatingips/{fip_id}", {"floatingip": {"port_id": None}})
    except ApiError as exc:
        if exc.status == 401:
            raise
        return redirect_with("portal.floating_ips", exc.message, error=True)
    return redirect_with("portal.floating_ips", "Floating IP disassociated.")


@bp.get("/floating-ips/<fip_id>/release")
@signed_in
def floating_ip_release(fip_id: str) -> Response:
    fip = api().get(f"/network/v2.0/floatingips/{fip_id}")["floatingip"]
    here = {"fip_id": fip_id}
    return confirm_page(
        "floating IP",
        fip["floating_ip_address"],
        Page("portal.floating_ip_release_submit", here),
        Page("portal.floating_ips"),
    )


@bp.post("/floating-ips/<fip_id>/release")
@signed_in
def floating_ip_release_submit(fip_id: str) -> Response:
    return delete_then_redirect(
        f"/network/v2.0/floatingips/{fip_id}",
        done=Page("portal.floating_ips"),
        message="Floating IP released.",
        failed=Page("portal.floating_ips"),
    )
