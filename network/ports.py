"""Ports: creating, changing and deleting them with their MAC, fixed IPs and security groups.

These functions are the network side of booting a server, so they take the caller's ``Session`` (and work
inside its transaction) and a ``Caller`` rather than a web request. The compute server-create path creates a
server's port with::

    port = ports.create_port(session, Caller(project_id, is_admin=False), {
        "network_id": network_id, "device_id": server_id, "device_owner": "compute:nova",
        "security_groups": security_groups.resolve(session, project_id, ["default"]),
    })

claims a port the user made with ``claim_port``, and on server delete calls ``delete_device_ports`` (ports
it created) or ``release_port`` (ports the user brought). After commit it sends ``network.client.ports_changed``
for each network touched. Every function raises and leaves its rows unwritten (the caller rolls back) on
error; ``attrs`` use Neutron's attribute names (``binding:host_id``, ``fixed_ips`` ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.db import new_uuid
from network import addresses, dhcp_options, ipam, ipv6, macs, quota, security_groups
from network.access import Caller, get_port, get_subnet, usable_network
from network.db import begin_write, insert_with_retry
from network.exceptions import (
    AddressPairAndPortSecurityRequired,
    InvalidAttribute,
    InvalidInput,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    MacAddressGenerationFailure,
    MacAddressInUse,
    NetworkNotFound,
    NeutronConflict,
    PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup,
    ServicePortInUse,
)
from network.models import (
    DHCP_OWNER,
    FLOATING_IP_OWNER,
    ROUTER_GATEWAY_OWNER,
    ROUTER_INTERFACE_OWNER,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    PortSecurityGroup,
    Subnet,
)
from network.states import PortStatus

MAC_ATTEMPTS = 10
MAX_ADDRESS_PAIRS = 10
VIF_TYPE = "tap"
VIF_DETAILS = {"port_filter": True, "connectivity": "l2"}
SIMPLE_FIELDS = ("name", "description", "admin_state_up", "device_id", "device_owner")
SERVICE_OWNERS = (ROUTER_INTERFACE_OWNER, ROUTER_GATEWAY_OWNER, FLOATING_IP_OWNER)
"""Ports that belong to a router or a floating IP: made and deleted only with it (``network.routers``,
``network.floating_ips``), never through the ports API."""
SERVICE_FIELDS = ("device_id", "device_owner", "fixed_ips", "mac_address")


class PortInUse(NeutronConflict):
    msg_fmt = (
        "Unable to complete operation on port {port_id} for network {net_id}. Port already has an attached "
        "device {device_id}."
    )
    fault_type = "PortInUse"


class PortBound(NeutronConflict):
    msg_fmt = "Unable to complete operation on port {port_id}, port is already bound, port type: {vif_type}."
    fault_type = "PortBound"


@dataclass(frozen=True)
class FixedIp:
    """One entry of ``fixed_ips`` resolved to its subnet; ``ip_address`` None means "any free one"."""

    subnet: Subnet
    ip_address: str | None


def _fixed_ips(
    session: Session, caller: Caller, network: Network, entries: Sequence[Mapping[str, str]]
) -> list[FixedIp]:
    if entries and not network.subnets:
        raise InvalidInput(error_message="IP allocation requires subnets for network")
    resolved = []
    for entry in entries:
        subnet_id, address = entry.get("subnet_id"), entry.get("ip_address")
        if subnet_id:
            subnet = next((s for s in network.subnets if s.id == subnet_id), None)
            if subnet is None:
                get_subnet(session, caller, subnet_id)  # 404 SubnetNotFound unless it exists and is visible
                raise InvalidInput(
                    error_message=f"Failed to create port on network {network.id}, because fixed_ips included "
                    f"invalid subnet {subnet_id}"
                )
            resolved.append(FixedIp(subnet, ipam.check_address(subnet, address) if address else None))
        elif address:
            subnet = ipam.subnet_for_address(network.subnets, address)
            resolved.append(FixedIp(subnet, ipam.check_address(subnet, address)))
        else:
            raise InvalidInput(error_message="IP allocation requires subnet_id or ip_address")
    return resolved


NO_AUTO_ADDRESS_OWNERS = (ROUTER_INTERFACE_OWNER, FLOATING_IP_OWNER)
"""Ports that hold exactly the addresses they ask for: a router's interface (the gateway) and a floating IP's
(its one IPv4 address), never an EUI-64 address of their own."""


def _is_auto(subnet: Subnet) -> bool:
    return ipv6.is_auto_address(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)


def _allocate(
    session: Session, port: Port, network: Network, requests: list[FixedIp] | None, *, implicit: bool = True
) -> None:
    """Give ``port`` the requested addresses, or by default one from the first subnet of each IP version
    that has a free address (409 ``IpAddressGenerationFailure`` if none has); SLAAC and DHCPv6-stateless subnets
    are never chosen that way. With ``implicit`` (a new port), a port that is no router interface or floating IP
    also gets its EUI-64 address on every SLAAC or DHCPv6-stateless subnet of the network, as Neutron gives them."""
    lowest = port.device_owner == DHCP_OWNER

    def give(subnet: Subnet, address: str | None = None) -> None:
        ipam.allocate(
            session, subnet, port.id, address, lowest=lowest, device_owner=port.device_owner, mac=port.mac_address
        )

    named: set[str] = set()
    if requests is not None:
        for request in requests:
            give(request.subnet, request.ip_address)
            named.add(request.subnet.id)
    else:
        for version in (4, 6):
            candidates = [s for s in network.subnets if s.ip_version == version and not _is_auto(s)]
            for subnet in candidates:
                try:
                    give(subnet)
                    break
                except IpAddressGenerationFailure:
                    continue
            else:
                if candidates:
                    raise IpAddressGenerationFailure(net_id=network.id)
    if implicit and port.device_owner not in NO_AUTO_ADDRESS_OWNERS:
        for subnet in network.subnets:
            if _is_auto(subnet) and subnet.id not in named:
                give(subnet)


def _address_pairs(pairs: Sequence[Mapping[str, str]], port_security: bool, mac: str) -> list[dict[str, str]]:
    if pairs and not port_security:
        raise AddressPairAndPortSecurityRequired()
    if len(pairs) > MAX_ADDRESS_PAIRS:
        raise InvalidInput(error_message=f"Exceeded maximum amount of allowed address pairs {MAX_ADDRESS_PAIRS}")
    checked: list[dict[str, str]] = []
    for pair in pairs:
        try:
            network = addresses.parse_network(pair["ip_address"])
        except ValueError as exc:
            reason = f"{exc}: not a valid IP address or CIDR"
            raise InvalidAttribute(attribute="allowed_address_pairs", reason=reason) from None
        address = str(network.network_address) if "/" not in pair["ip_address"] else str(network)
        entry = {"ip_address": address, "mac_address": macs.normalise(pair.get("mac_address") or mac)}
        if entry in checked:
            raise InvalidAttribute(attribute="allowed_address_pairs", reason=f"duplicate address pair {entry}")
        checked.append(entry)
    return checked


MAX_DHCP_OPTS = 50


def _dhcp_opts(current: Sequence[Mapping[str, Any]], given: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Neutron's ``extra_dhcp_opts`` merge: an option is keyed by (opt_name, ip_version, default 4); a given one
    replaces the current one of its key, a null ``opt_value`` removes it. Each value is checked as its option's
    type (``network.dhcp_options``), a 400 naming the option otherwise."""
    merged = {(o["opt_name"], o["ip_version"]): o for o in current}
    for option in given:
        version = int(option.get("ip_version", 4))
        if option.get("opt_value") is None:
            merged.pop((option.get("opt_name"), version), None)
            continue
        try:
            name, value, version = dhcp_options.check(
                option.get("opt_name"), option["opt_value"], version, strict=False
            )
        except ValueError as exc:
            raise InvalidAttribute(attribute="extra_dhcp_opts", reason=str(exc)) from None
        merged[(name, version)] = {"opt_name": name, "opt_value": value, "ip_version": version}
    if len(merged) > MAX_DHCP_OPTS:
        raise InvalidInput(error_message=f"A port has at most {MAX_DHCP_OPTS} extra DHCP options")
    return list(merged.values())


def _groups(
    session: Session, port: Port, attrs: Mapping[str, Any], current: list[str], has_ip: bool, creating: bool
) -> list[str]:
    """The port's security groups after this request, by Neutron's rules: none when port security is off or
    the port has no address; the project's ``default`` when none are asked for (not for ``network:*`` ports)."""
    if "security_groups" in attrs:
        wanted = list(attrs["security_groups"] or [])
        if wanted and not (port.port_security_enabled and has_ip):
            raise PortSecurityAndIPRequiredForSecurityGroups()
        return security_groups.check_usable(session, port.project_id, wanted)
    if not creating:
        if current and not (port.port_security_enabled and has_ip):
            raise PortSecurityPortHasSecurityGroup()
        return current
    if port.port_security_enabled and has_ip and not port.device_owner.startswith("network:"):
        return [security_groups.ensure_default(session, port.project_id)]
    return []


def _set_groups(session: Session, port: Port, group_ids: list[str]) -> None:
    session.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
    for position, group_id in enumerate(group_ids):
        session.add(PortSecurityGroup(port_id=port.id, security_group_id=group_id, position=position))


def _insert(session: Session, port: Port, requested_mac: str | None) -> None:
    """Add the port with the requested or a generated MAC. A network deleted since it was looked up makes the
    insert break the foreign key: that is the 404 the caller would have had a moment later."""
    try:
        _insert_with_mac(session, port, requested_mac)
    except IntegrityError:
        raise NetworkNotFound(net_id=port.network_id) from None


def _insert_with_mac(session: Session, port: Port, requested_mac: str | None) -> None:
    if requested_mac is not None:
        port.mac_address = macs.normalise(requested_mac)
        _check_mac_free(session, port.network_id, port.mac_address)
        if insert_with_retry(session, 1, lambda _n: _add(session, port)) is None:
            raise MacAddressInUse(net_id=port.network_id, mac=port.mac_address)
        return

    def attempt(_number: int) -> Port:
        port.mac_address = macs.generate()
        return _add(session, port)

    if insert_with_retry(session, MAC_ATTEMPTS, attempt) is None:
        raise MacAddressGenerationFailure(net_id=port.network_id)


def _add(session: Session, port: Port) -> Port:
    session.add(port)
    session.flush()
    return port


def _check_mac_free(session: Session, network_id: str, mac: str) -> None:
    query = select(Port.id).where(Port.network_id == network_id, Port.mac_address == mac)
    if session.scalars(query.limit(1)).first() is not None:
        raise MacAddressInUse(net_id=network_id, mac=mac)


def _change_mac(session: Session, port: Port, mac: str) -> None:
    """Neutron lets an unbound port change its MAC; the unique constraint settles a concurrent taker."""
    if port.binding_host_id:
        raise PortBound(port_id=port.id, vif_type=port.binding_vif_type)
    _check_mac_free(session, port.network_id, mac)

    def attempt(_number: int) -> Port:
        port.mac_address = mac
        session.flush()
        return port

    if insert_with_retry(session, 1, attempt) is None:
        raise MacAddressInUse(net_id=port.network_id, mac=mac)


def _simple_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Name, description, state and device fields as given; a null device or name is stored as "" (Neutron)."""
    return {field: ("" if attrs[field] is None else attrs[field]) for field in SIMPLE_FIELDS if field in attrs}


def _apply_binding(port: Port, attrs: Mapping[str, Any]) -> None:
    """A port with a host is bound at once (one mechanism: a tap the network agent plugs), as ML2 binds it."""
    if "binding:host_id" in attrs:
        port.binding_host_id = attrs["binding:host_id"] or ""
    if "binding:vnic_type" in attrs:
        port.binding_vnic_type = attrs["binding:vnic_type"]
    if "binding:profile" in attrs:
        port.binding_profile = dict(attrs["binding:profile"] or {})
    if not port.binding_host_id:
        port.binding_vif_type, port.binding_vif_details = "unbound", {}
    elif port.binding_vnic_type != "normal":
        port.binding_vif_type, port.binding_vif_details = "binding_failed", {}
    else:
        port.binding_vif_type, port.binding_vif_details = VIF_TYPE, dict(VIF_DETAILS)


def create_port(session: Session, caller: Caller, attrs: Mapping[str, Any], check_quota: bool = True) -> Port:
    """A new port on ``attrs["network_id"]`` (the caller's or a shared network, else 404 ``NetworkNotFound``).
    ``check_quota`` is False only for the ports the service makes on its own (the DHCP port): counted, not
    checked, as in Neutron."""
    network = usable_network(session, caller, attrs["network_id"])
    project_id = attrs.get("project_id") or caller.project_id or network.project_id
    begin_write(session)
    if not (network.shared or caller.owns(network.project_id)):
        # Usable through an RBAC policy only: take the network's row (a policy's removal holds it for update) and
        # look again, so a port never lands on a network its project has just lost (network.rbac).
        session.execute(select(Network.id).where(Network.id == network.id).with_for_update(read=True))
        usable_network(session, caller, network.id)
    if check_quota:
        quota.check(session, project_id, "port")
    port = Port(
        id=new_uuid(),
        network_id=network.id,
        project_id=project_id,
        port_security_enabled=attrs.get("port_security_enabled", network.port_security_enabled),
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
        **_simple_fields(attrs),
    )
    port.device_owner = port.device_owner or ""
    requests = _fixed_ips(session, caller, network, attrs["fixed_ips"]) if "fixed_ips" in attrs else None
    has_ip = bool(requests) if requests is not None else bool(network.subnets)
    group_ids = _groups(session, port, attrs, [], has_ip, creating=True)
    _insert(session, port, attrs.get("mac_address"))
    port.allowed_address_pairs = _address_pairs(
        attrs.get("allowed_address_pairs") or [], port.port_security_enabled, port.mac_address
    )
    port.extra_dhcp_opts = _dhcp_opts([], attrs.get("extra_dhcp_opts") or [])
    _allocate(session, port, network, requests)
    _set_groups(session, port, group_ids)
    _apply_binding(port, attrs)
    session.flush()
    session.expire(port, ["fixed_ips", "security_group_bindings"])
    return port


def _reallocate(session: Session, caller: Caller, port: Port, network: Network, entries: Sequence[Any]) -> None:
    """Neutron's update of ``fixed_ips``: the list is the whole new set; an entry that matches an address the
    port has (same subnet, and the same address if one is given) keeps it, the rest are freed or given."""
    requests = _fixed_ips(session, caller, network, entries)
    kept: set[int] = set()
    missing: list[FixedIp] = []
    for request in requests:
        match = next(
            (
                a
                for a in port.fixed_ips
                if a.id not in kept and a.subnet_id == request.subnet.id and request.ip_address in (None, a.ip_address)
            ),
            None,
        )
        if match is None:
            missing.append(request)
        else:
            kept.add(match.id)
    if port.device_owner != ROUTER_INTERFACE_OWNER:
        # A host keeps the address it made by SLAAC whatever the list says (Neutron keeps it too).
        auto = {s.id for s in network.subnets if _is_auto(s)}
        kept |= {a.id for a in port.fixed_ips if a.subnet_id in auto}
    for allocation in [a for a in port.fixed_ips if a.id not in kept]:
        port.fixed_ips.remove(allocation)
    session.flush()
    _allocate(session, port, network, missing, implicit=False)
    session.expire(port, ["fixed_ips"])


def _readdress(session: Session, port: Port, network: Network) -> None:
    """A port's EUI-64 addresses follow its new MAC (the host makes its SLAAC address from it)."""
    auto = {s.id: s for s in network.subnets if _is_auto(s)}
    for allocation in port.fixed_ips:
        subnet = auto.get(allocation.subnet_id)
        if subnet is not None and allocation.ip_address != subnet.gateway_ip:
            allocation.ip_address = str(ipv6.eui64(subnet.cidr, port.mac_address))
            try:
                session.flush()
            except IntegrityError:  # another port holds it on the subnet (a router's, named explicitly)
                raise IpAddressAlreadyAllocated(ip=allocation.ip_address, subnet_id=subnet.id) from None


def _check_service_port(port: Port, attrs: Mapping[str, Any], fixed: Sequence[str]) -> None:
    """A router's or floating IP's port keeps its owner, device and addresses (``fixed``): they are what the
    router's interface, gateway or the floating IP is."""
    changed = [f for f in fixed if f in attrs and attrs[f] != getattr(port, f, None)]
    if port.device_owner in SERVICE_OWNERS and changed:
        reason = f"has device owner {port.device_owner}, its {', '.join(changed)} cannot be changed"
        raise ServicePortInUse(port_id=port.id, reason=reason)


def update_port(
    session: Session, caller: Caller, port_id: str, attrs: Mapping[str, Any], fixed: Sequence[str] = SERVICE_FIELDS
) -> Port:
    """Change the port. ``fixed`` are the fields a router's or floating IP's port may not change here: all of
    ``SERVICE_FIELDS``, except for ``network.router_interfaces.update_port``, which readdresses an interface
    (and checks the router afterwards) as Neutron lets its fixed IPs change."""
    port = get_port(session, caller, port_id)
    _check_service_port(port, attrs, fixed)
    network = session.get_one(Network, port.network_id)
    begin_write(session)
    if attrs.get("mac_address") is not None and macs.normalise(attrs["mac_address"]) != port.mac_address:
        _change_mac(session, port, macs.normalise(attrs["mac_address"]))
        _readdress(session, port, network)
    for field, value in _simple_fields(attrs).items():
        setattr(port, field, value)
    if "port_security_enabled" in attrs:
        port.port_security_enabled = attrs["port_security_enabled"]
    if "fixed_ips" in attrs:
        _reallocate(session, caller, port, network, attrs["fixed_ips"])
        _disassociate_lost_addresses(session, port)
    has_ip = bool(port.fixed_ips)
    current = port.security_group_ids
    group_ids = _groups(session, port, attrs, current, has_ip, creating=False)
    if group_ids != current:
        _set_groups(session, port, group_ids)
    pairs = attrs.get("allowed_address_pairs", port.allowed_address_pairs)
    port.allowed_address_pairs = _address_pairs(pairs or [], port.port_security_enabled, port.mac_address)
    if attrs.get("extra_dhcp_opts"):
        port.extra_dhcp_opts = _dhcp_opts(port.extra_dhcp_opts or [], attrs["extra_dhcp_opts"])
    _apply_binding(port, attrs)
    port.revision_number += 1
    session.flush()
    session.expire(port, ["fixed_ips", "security_group_bindings"])
    return port


def delete_port(session: Session, caller: Caller, port_id: str) -> str:
    """Delete the port (its addresses and group memberships go with it, its floating IPs are disassociated:
    read ``floating_ip_routers`` first to tell their routers); returns its network's id. A router's or
    floating IP's port is a 409 ``ServicePortInUse``: it goes with its router interface or floating IP."""
    port = get_port(session, caller, port_id)
    if port.device_owner in SERVICE_OWNERS:
        raise ServicePortInUse(port_id=port.id, reason=f"has device owner {port.device_owner}")
    begin_write(session)
    network_id = port.network_id
    disassociate_floating_ips(session, [port.id])
    session.delete(port)
    session.flush()
    return network_id


def floating_ip_routers(session: Session, port_ids: Sequence[str]) -> list[str]:
    """The routers that translate floating IPs to these ports: they change when the ports go."""
    query = select(FloatingIP.router_id).where(FloatingIP.port_id.in_(list(port_ids)))
    return sorted({router_id for router_id in session.scalars(query) if router_id})


def _disassociate_lost_addresses(session: Session, port: Port) -> None:
    """A floating IP whose fixed address the port no longer has is disassociated (read ``floating_ip_routers``
    before the update to tell its router)."""
    kept = [a.ip_address for a in port.fixed_ips]
    session.execute(
        update(FloatingIP)
        .where(FloatingIP.port_id == port.id, FloatingIP.fixed_ip_address.not_in(kept))
        .values(port_id=None, fixed_ip_address=None, router_id=None, status=PortStatus.DOWN)
        .execution_options(synchronize_session=False)
    )


def disassociate_floating_ips(session: Session, port_ids: Sequence[str]) -> None:
    """Neutron's behaviour when a port goes: its floating IPs stay the project's, unassociated."""
    session.execute(
        update(FloatingIP)
        .where(FloatingIP.port_id.in_(list(port_ids)))
        .values(
            port_id=None,
            fixed_ip_address=None,
            router_id=None,
            status=PortStatus.DOWN,
            revision_number=FloatingIP.revision_number + 1,
        )
        .execution_options(synchronize_session=False)
    )


def claim_port(session: Session, caller: Caller, port_id: str, device_id: str, device_owner: str) -> Port:
    """Attach an existing port to a device (a server given ``networks: [{"port": id}]``) by compare-and-swap:
    409 ``PortInUse`` if another device has it."""
    port = get_port(session, caller, port_id)
    claimed = session.execute(
        update(Port)
        .where(Port.id == port.id, Port.device_id.in_(("", device_id)))
        .values(device_id=device_id, device_owner=device_owner, revision_number=Port.revision_number + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.refresh(port)
        raise PortInUse(port_id=port.id, net_id=port.network_id, device_id=port.device_id)
    session.refresh(port)
    return port


def release_port(session: Session, port_id: str) -> str | None:
    """Detach a port its device no longer uses (device, owner and binding cleared); returns its network id."""
    port = session.get(Port, port_id)
    if port is None:
        return None
    port.device_id, port.device_owner, port.status = "", "", PortStatus.DOWN  # unbound: no host wires it any more
    _apply_binding(port, {"binding:host_id": "", "binding:profile": {}})
    port.revision_number += 1
    session.flush()
    return port.network_id


def unbind_device_ports(session: Session, device_id: str, project_id: str) -> list[str]:
    """Unbind every port of ``device_id`` in its project from its host, keeping the port, its device and its
    addresses (a shelved server offloaded from its host, as Nova unbinds them); returns their network ids."""
    found = list(session.scalars(select(Port).where(Port.device_id == device_id, Port.project_id == project_id)))
    for port in found:
        if port.binding_host_id:
            port.status = PortStatus.DOWN
            _apply_binding(port, {"binding:host_id": ""})
            port.revision_number += 1
    session.flush()
    return sorted({port.network_id for port in found})


def delete_device_ports(session: Session, device_id: str, project_id: str) -> list[str]:
    """Delete every port of ``device_id`` (a deleted server's) in the server's project; returns the ids of the
    networks they were on. A port of another project that names the device is not the server's (Nova lists a
    server's ports by project and device): it stays."""
    query = select(Port.id, Port.network_id).where(Port.device_id == device_id, Port.project_id == project_id)
    found = list(session.execute(query))
    if found:
        disassociate_floating_ips(session, [row.id for row in found])
        session.execute(delete(Port).where(Port.id.in_([row.id for row in found])))
    return sorted({row.network_id for row in found})


def addresses_of(session: Session, port_ids: Sequence[str]) -> dict[str, list[IPAllocation]]:
    """Fixed IPs of many ports in one query (for views of servers with many ports)."""
    rows = session.scalars(select(IPAllocation).where(IPAllocation.port_id.in_(list(port_ids))))
    found: dict[str, list[IPAllocation]] = {}
    for allocation in sorted(rows, key=lambda a: a.id):
        found.setdefault(allocation.port_id, []).append(allocation)
    return found
