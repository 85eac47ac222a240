"""``/network/v2.0/ports``: list, show, create, update and delete ports.

Anyone may put a port on their own or a shared network, but choosing its MAC or a fixed address, a
``network:*`` owner, or port security (``port_security_enabled``, ``allowed_address_pairs``: anti-spoofing is the
network owner's to relax) needs the network's project (Neutron's ``admin_or_network_owner``); ``binding:host_id``
and ``binding:profile`` are for admins (the compute service binds ports), and so are the ``binding:vif_*``
attributes in views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import ColumnElement, select

from api import policy
from api.network import device_ids, listing, records, schemas
from api.network.common import (
    PREFIX,
    caller,
    collection,
    created,
    enforce,
    resource_bodies,
    resource_body,
    single,
)
from api.network.port_documents import joined_documents, port_document_query
from api.network.unit_of_work import unit_of_work
from api.network.views import port_view
from api.runtime import runtime
from network import addresses, ports, qos, router_interfaces
from network.access import get_port, own, usable_network
from network.exceptions import InvalidAttribute, PortNotFound
from network.models import ROUTER_INTERFACE_OWNER, IPAllocation, Network, Port, PortSecurityGroup

bp = Blueprint("network_ports", __name__, url_prefix=PREFIX)

COLUMNS = {
    "id": Port.id,
    "name": Port.name,
    "network_id": Port.network_id,
    "tenant_id": Port.project_id,
    "project_id": Port.project_id,
    "mac_address": Port.mac_address,
    "admin_state_up": Port.admin_state_up,
    "status": Port.status,
    "device_id": Port.device_id,
    "device_owner": Port.device_owner,
    "port_security_enabled": Port.port_security_enabled,
    "binding:vnic_type": Port.binding_vnic_type,
    "description": Port.description,
    "revision_number": Port.revision_number,
    "qos_policy_id": Port.qos_policy_id,
}
BINDING_COLUMNS = {"binding:host_id": Port.binding_host_id, "binding:vif_type": Port.binding_vif_type}
FIXED_IP_KEYS = ("ip_address", "subnet_id", "ip_address_substr")


def _with_addresses(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return Port.id.in_(select(IPAllocation.port_id).where(*conditions))


def _canonical(values: list[str]) -> list[str]:
    """Addresses as they are stored (``2001:DB8::0005`` is ``2001:db8::5``); a value that is no address matches
    nothing, as given."""
    found = []
    for value in values:
        try:
            found.append(addresses.canonical_address(value))
        except ValueError:
            found.append(value)
    return found


def _fixed_ips_filter(values: list[str]) -> ColumnElement[bool]:
    """``fixed_ips=ip_address=10.0.0.5&fixed_ips=subnet_id=S``: ports with an address matching all of them."""
    wanted: dict[str, list[str]] = {}
    for value in values:
        key, _, item = value.partition("=")
        if key not in FIXED_IP_KEYS or not item:
            raise InvalidAttribute(
                attribute="fixed_ips", reason=f"'{value}' is not key=value with key in {FIXED_IP_KEYS}"
            )
        wanted.setdefault(key, []).append(item)
    conditions: list[ColumnElement[bool]] = []
    if "ip_address" in wanted:
        conditions.append(IPAllocation.ip_address.in_(_canonical(wanted["ip_address"])))
    if "subnet_id" in wanted:
        conditions.append(IPAllocation.subnet_id.in_(wanted["subnet_id"]))
    for part in wanted.get("ip_address_substr", []):
        conditions.append(IPAllocation.ip_address.contains(part, autoescape=True))
    return _with_addresses(conditions)


def _shows_binding() -> bool:
    return policy.allowed("network:port:binding")


def _listing() -> listing.Listing:
    binding = _shows_binding()
    return listing.Listing(
        collection="ports",
        model=Port,
        columns={**COLUMNS, **(BINDING_COLUMNS if binding else {})},
        special={
            "fixed_ips": _fixed_ips_filter,
            "ip_address": lambda values: _with_addresses([IPAllocation.ip_address.in_(_canonical(values))]),
            "subnet_id": lambda values: _with_addresses([IPAllocation.subnet_id.in_(values)]),
            "security_groups": lambda values: Port.id.in_(
                select(PortSecurityGroup.port_id).where(PortSecurityGroup.security_group_id.in_(values))
            ),
        },
        constants={"ip_allocation": "immediate", "dns_name": "", "extra_dhcp_opts": []},
        not_found=lambda marker: PortNotFound(port_id=marker),
    )


def _check_fields(attrs: dict[str, Any], network: Network) -> None:
    """Field policies of Neutron's ports: what only the network's owner (or an admin) may choose. As in
    Neutron, port security fields are checked whenever the request names them, whatever their value."""
    if attrs.get("device_owner") in ports.SERVICE_OWNERS:
        # The hosts treat such a port as a router's or a floating IP's: only those resources make them.
        reason = f"{attrs['device_owner']} is the owner of ports the routers and floating IPs APIs make"
        raise InvalidAttribute(attribute="device_owner", reason=reason)
    owner = {"project_id": network.project_id}
    owner_fields = "mac_address" in attrs or any("ip_address" in entry for entry in _entries(attrs))
    if owner_fields or str(attrs.get("device_owner") or "").startswith("network:"):
        enforce("network:port:network_owner_fields", owner)
    for field in ("port_security_enabled", "allowed_address_pairs"):
        if field in attrs:
            enforce(f"network:port:{field}", owner)
    if attrs.get("binding:host_id") or attrs.get("binding:profile"):
        enforce("network:port:binding")


def _entries(attrs: dict[str, Any]) -> Sequence[dict[str, Any]]:
    return attrs.get("fixed_ips") or []


@bp.get("/ports")
def list_ports() -> Response:
    who = caller(enforce("network:get_port"))
    binding = _shows_binding()
    with runtime().db.session() as session:
        if "fields" not in request.args:  # every attribute: the database writes the documents
            query = port_document_query(session.bind.dialect.name, binding).where(own(who, Port.project_id))
            found = listing.page(session, _listing(), query)
            return joined_documents("ports", [row.document for row in found.rows], found.links)
        found = listing.page(session, _listing(), records.port_query().where(own(who, Port.project_id)))
        views = [port_view(p, binding) for p in records.ports(session, found)]
    return collection("ports", views, found.links)


@bp.get("/ports/<port_id>")
def show_port(port_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_port"))
    with runtime().db.session() as session:
        return single("port", port_view(get_port(session, who, port_id), _shows_binding()))


@bp.post("/ports")
def create_port() -> tuple[Response, int]:
    """One port, or Neutron's bulk form: all in one transaction, so one item's fault leaves none created."""
    with unit_of_work() as work:
        items, bulk = resource_bodies("port", "ports", schemas.PORT_CREATE, schemas.PORT_BOOLS)
        views = []
        for attrs in items:
            project_id = work.project_for(attrs, "network:create_port")
            network = usable_network(work.session, work.who, attrs["network_id"])
            _check_fields(attrs, network)
            device_ids.check(work.session, work.who, project_id or "", attrs)
            port = ports.create_port(work.session, work.who, attrs)
            if attrs.get("qos_policy_id"):
                qos.attach(work.session, work.who, port, attrs["qos_policy_id"])
            views.append(port_view(port, _shows_binding()))
            work.notify(attrs["network_id"])
        return created("port", "ports", views, bulk)


@bp.put("/ports/<port_id>")
def update_port(port_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("port", schemas.PORT_UPDATE, schemas.PORT_BOOLS)
        port = work.fetch(get_port, port_id, "network:update_port")
        _check_fields(attrs, work.session.get_one(Network, port.network_id))
        device_ids.check(work.session, work.who, port.project_id, attrs)
        if "fixed_ips" in attrs:  # a floating IP whose address goes is disassociated: its router changes
            work.notify_router(*ports.floating_ip_routers(work.session, [port_id]))
        if port.device_owner == ROUTER_INTERFACE_OWNER:  # readdressed as Neutron allows: the router moves with it
            work.notify_router(port.device_id)
            port = router_interfaces.update_port(work.session, work.who, port_id, attrs)
        else:
            port = ports.update_port(work.session, work.who, port_id, attrs)
        if "qos_policy_id" in attrs:
            qos.attach(work.session, work.who, port, attrs["qos_policy_id"])
        work.notify(port.network_id)
        return single("port", port_view(port, _shows_binding()))


@bp.delete("/ports/<port_id>")
def delete_port(port_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_port, port_id, "network:delete_port")
        work.notify_router(*ports.floating_ip_routers(work.session, [port_id]))
        work.notify(ports.delete_port(work.session, work.who, port_id))
    return Response(status=204)
