"""Subnets: Neutron's checks of a CIDR, gateway, allocation pools, DNS servers and host routes, and the
create/update/delete that keep the network's DHCP port in step.

The checks (``plan``) are pure functions of the request, so they are unit-tested without a database:

- the CIDR must be a network address (``10.0.0.1/24`` is a 400 that recommends ``10.0.0.0/24``) of the
  requested IP version; subnets of one network must not overlap (those of different networks may);
- the gateway defaults to the first host address; null means no gateway; it may not be the network or
  broadcast address, nor lie in an allocation pool (409);
- pools default to every host address except the gateway; given pools must lie inside the CIDR's host
  range (400) and not overlap each other (409).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.exceptions import BadRequest
from network import addresses, dhcp, ipam, ipv6, ports, quota, subnet_pools
from network.access import Caller, get_subnet, usable_network
from network.db import begin_write
from network.exceptions import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidAttribute,
    InvalidInput,
    NetworkNotFound,
    NeutronConflict,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
    SubnetInUse,
)
from network.ipam import IPAddress, IPNetwork
from network.models import DHCP_OWNER, ROUTER_INTERFACE_OWNER, IPAllocation, Network, Port, Subnet, SubnetPool

MAX_DNS_NAMESERVERS = 5
MAX_HOST_ROUTES = 20
ADDRESSING = ("gateway_ip", "allocation_pools", "dns_nameservers", "host_routes")


class GatewayIpInUse(NeutronConflict):
    msg_fmt = "Current gateway ip {ip_address} already in use by port {port_id}. Unable to update."
    fault_type = "GatewayIpInUse"


class SubnetBadRequest(BadRequest):
    msg_fmt = "Bad subnets request: {msg}."
    fault_type = "BadRequest"


def parse_cidr(cidr: str, ip_version: int) -> IPNetwork:
    try:
        loose = addresses.parse_network(cidr)
    except ValueError as exc:
        raise InvalidAttribute(attribute="cidr", reason=str(exc)) from None
    if "/" not in cidr or str(loose) != cidr:
        reason = f"'{cidr}' isn't a recognized IP subnet cidr, '{loose}' is recommended"
        raise InvalidAttribute(attribute="cidr", reason=reason)
    if loose.version != ip_version:
        raise InvalidInput(error_message=f"Cidr {cidr} is not an IPv{ip_version} subnet (ip_version {ip_version})")
    if loose.prefixlen == 0:
        raise InvalidInput(error_message=f"{cidr} cannot be a subnet: it spans the whole address space")
    return loose


def host_range(network: IPNetwork) -> tuple[int, int]:
    """First and last address a port may have (network and IPv4 broadcast excluded)."""
    low, high = int(network.network_address), int(network.broadcast_address)
    if network.version == 4 and network.prefixlen >= 31:
        return low, high
    return low + 1, high - (1 if network.version == 4 else 0)


def _address(version: int, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def default_gateway(network: IPNetwork) -> str | None:
    low, high = host_range(network)
    return str(_address(network.version, low)) if low <= high else None


def check_gateway(network: IPNetwork, gateway: Any) -> str | None:
    if gateway is None:
        return None
    try:
        address = addresses.parse_address(gateway)
    except ValueError as exc:
        raise InvalidAttribute(attribute="gateway_ip", reason=str(exc)) from None
    if address.version != network.version or int(address) in ipam.reserved(network):
        raise InvalidInput(error_message="Gateway is not valid on subnet")
    return str(address)


def default_pools(network: IPNetwork, gateway: str | None) -> list[dict[str, str]]:
    """Every host address except the gateway, as one or two ranges."""
    low, high = host_range(network)
    ranges = [(low, high)]
    if gateway is not None and network.version == ipaddress.ip_address(gateway).version:
        gw = int(ipaddress.ip_address(gateway))
        ranges = [(low, gw - 1), (gw + 1, high)] if low <= gw <= high else ranges
    version = network.version
    return [{"start": str(_address(version, a)), "end": str(_address(version, b))} for a, b in ranges if a <= b]


def check_pools(network: IPNetwork, pools: Sequence[Mapping[str, str]], gateway: str | None) -> list[dict[str, str]]:
    low, high = host_range(network)
    checked: list[tuple[int, int, dict[str, str]]] = []
    for pool in pools:
        text = f"{pool.get('start')}-{pool.get('end')}"
        try:
            start, end = addresses.parse_address(pool["start"]), addresses.parse_address(pool["end"])
        except (KeyError, ValueError):
            raise InvalidAllocationPool(pool=text) from None
        if start.version != network.version or end.version != network.version or start > end:
            raise InvalidAllocationPool(pool=text)
        if int(start) < low or int(end) > high:
            raise OutOfBoundsAllocationPool(pool=text, subnet_cidr=str(network))
        checked.append((int(start), int(end), {"start": str(start), "end": str(end)}))
    checked.sort(key=lambda item: item[0])
    for (_, first_end, first), (second_start, _, second) in itertools.pairwise(checked):
        if second_start <= first_end:
            raise OverlappingAllocationPools(
                pool_1=f"{first['start']}-{first['end']}",
                pool_2=f"{second['start']}-{second['end']}",
                subnet_cidr=str(network),
            )
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        for start, end, pool in checked:
            if start <= gw <= end:
                raise GatewayConflictWithAllocationPools(ip_address=gateway, pool=f"{pool['start']}-{pool['end']}")
    return [pool for _, _, pool in checked]


def check_nameservers(values: Sequence[str]) -> list[str]:
    if len(values) > MAX_DNS_NAMESERVERS:
        raise InvalidInput(error_message=f"The number of DNS nameservers exceeds the limit {MAX_DNS_NAMESERVERS}")
    found: list[str] = []
    for value in values:
        try:
            address = addresses.canonical_address(value)
        except ValueError as exc:
            raise InvalidAttribute(attribute="dns_nameservers", reason=f"{exc}: not a valid nameserver") from None
        if address in found:
            raise InvalidAttribute(attribute="dns_nameservers", reason=f"Duplicate nameserver '{value}'")
        found.append(address)
    return found


def check_routes(values: Sequence[Mapping[str, str]], version: int) -> list[dict[str, str]]:
    if len(values) > MAX_HOST_ROUTES:
        raise InvalidInput(error_message=f"The number of host routes exceeds the limit {MAX_HOST_ROUTES}")
    found: list[dict[str, str]] = []
    for route in values:
        try:
            destination = addresses.parse_network(route["destination"], strict=True)
            nexthop = addresses.parse_address(route["nexthop"])
        except (KeyError, ValueError):
            raise InvalidAttribute(attribute="host_routes", reason=f"'{dict(route)}' is not a valid route") from None
        if destination.version != version or nexthop.version != version:
            raise InvalidAttribute(attribute="host_routes", reason=f"'{dict(route)}' is not an IPv{version} route")
        entry = {"destination": str(destination), "nexthop": str(nexthop)}
        if entry in found:
            raise InvalidAttribute(attribute="host_routes", reason=f"Duplicate hostroute '{dict(route)}'")
        found.append(entry)
    return found


def plan(attrs: Mapping[str, Any], current: Subnet | None = None) -> dict[str, Any]:
    """The addressing columns of a subnet created (or, with ``current``, updated) with ``attrs``, checked."""
    version = current.ip_version if current else attrs.get("ip_version", 4)
    network = parse_cidr(current.cidr if current else attrs["cidr"], version)
    if current is None:
        gateway = check_gateway(network, attrs["gateway_ip"]) if "gateway_ip" in attrs else default_gateway(network)
    else:
        gateway = check_gateway(network, attrs.get("gateway_ip", current.gateway_ip))
    if "allocation_pools" in attrs and attrs["allocation_pools"] is not None:
        pools = check_pools(network, attrs["allocation_pools"], gateway)
    elif current is not None:
        pools = check_pools(network, current.allocation_pools, gateway)
    else:
        pools = default_pools(network, gateway)
    return {
        "ip_version": version,
        "cidr": str(network),
        "gateway_ip": gateway,
        "allocation_pools": pools,
        "dns_nameservers": check_nameservers(attrs.get("dns_nameservers") or [])
        if "dns_nameservers" in attrs or current is None
        else current.dns_nameservers,
        "host_routes": check_routes(attrs.get("host_routes") or [], version)
        if "host_routes" in attrs or current is None
        else current.host_routes,
    }


def _check_overlap(session: Session, network_id: str, cidr: str, exclude: str | None = None) -> None:
    wanted = ipaddress.ip_network(cidr)
    for other_id, other in session.execute(select(Subnet.id, Subnet.cidr).where(Subnet.network_id == network_id)):
        if other_id != exclude and wanted.overlaps(ipaddress.ip_network(other)):  # type: ignore[arg-type]
            raise InvalidInput(
                error_message=f"Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another "
                "subnet"
            )


def _check_pool_request(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> SubnetPool | None:
    """Neutron's rules on how a subnet names its CIDR, then the pool it takes it from (locked), if any."""
    has_cidr, has_pool = attrs.get("cidr") is not None, attrs.get("subnetpool_id") is not None
    if has_cidr and attrs.get("prefixlen") is not None:
        raise SubnetBadRequest(msg="cidr and prefixlen must not be supplied together")
    if has_pool and attrs.get("use_default_subnetpool"):
        raise SubnetBadRequest(msg="subnetpool_id and use_default_subnetpool cannot both be specified")
    if not (has_cidr or has_pool or attrs.get("use_default_subnetpool")):
        raise SubnetBadRequest(msg="a subnetpool must be specified in the absence of a cidr")
    pool = subnet_pools.pool_for_subnet(session, caller, attrs)
    if pool is not None and attrs.get("ip_version", pool.ip_version) != pool.ip_version:
        raise SubnetBadRequest(
            msg=f"Cannot allocate IPv{attrs['ip_version']} subnet from IPv{pool.ip_version} subnet pool"
        )
    return pool


def _from_pool(session: Session, pool: SubnetPool, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` with the CIDR the pool gives (a named CIDR is checked as any subnet's first)."""
    cidr = attrs.get("cidr")
    if cidr is not None:
        cidr = str(parse_cidr(cidr, pool.ip_version))
    allocated = subnet_pools.allocate_cidr(session, pool, cidr, attrs.get("prefixlen"))
    return {**attrs, "ip_version": pool.ip_version, "cidr": allocated}


def create_subnet(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> Subnet:
    """A new subnet on ``attrs["network_id"]``; with DHCP, the network's DHCP port gets an address on it."""
    network = usable_network(session, caller, attrs["network_id"])
    pool = _check_pool_request(session, caller, attrs)
    if pool is not None:
        attrs = _from_pool(session, pool, attrs)
    addressing = plan(attrs)
    ipv6.check_modes(attrs, addressing["ip_version"], addressing["cidr"], attrs.get("enable_dhcp", True))
    project_id = attrs.get("project_id") or caller.project_id or network.project_id
    begin_write(session)
    # One subnet create per network at a time (the overlap check below), and none on a network just deleted.
    if session.scalar(select(Network.id).where(Network.id == network.id).with_for_update()) is None:
        raise NetworkNotFound(net_id=network.id)
    quota.check(session, project_id, "subnet")
    _check_overlap(session, network.id, addressing["cidr"])
    subnet = Subnet(
        network_id=network.id,
        project_id=project_id,
        name=attrs.get("name") or "",
        description=attrs.get("description") or "",
        enable_dhcp=attrs.get("enable_dhcp", True),
        service_types=list(attrs.get("service_types") or []),
        ipv6_ra_mode=attrs.get("ipv6_ra_mode"),
        ipv6_address_mode=attrs.get("ipv6_address_mode"),
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
        subnetpool_id=pool.id if pool is not None else None,
        **addressing,
    )
    session.add(subnet)
    session.flush()
    session.expire(network, ["subnets"])
    if ipv6.is_auto_address(subnet.ipv6_ra_mode, subnet.ipv6_address_mode):
        _add_auto_addresses(session, subnet)
    if subnet.enable_dhcp:
        dhcp.add_subnet(session, network, subnet)
    return subnet


def _add_auto_addresses(session: Session, subnet: Subnet) -> None:
    """Every port of the network but a router's interfaces and floating IPs gets its EUI-64 address on a new SLAAC or
    DHCPv6-stateless subnet, as Neutron adds them: the hosts configure it by themselves once advertised."""
    query = select(Port).where(
        Port.network_id == subnet.network_id, Port.device_owner.not_in(ports.NO_AUTO_ADDRESS_OWNERS)
    )
    for port in session.scalars(query.order_by(Port.created_at, Port.id)):
        ipam.allocate(session, subnet, port.id, device_owner=port.device_owner, mac=port.mac_address)
        port.revision_number += 1
        session.expire(port, ["fixed_ips"])


def _gateway_user(session: Session, subnet: Subnet, gateway: str, owner: str | None = None) -> str | None:
    query = select(IPAllocation.port_id).where(IPAllocation.subnet_id == subnet.id, IPAllocation.ip_address == gateway)
    if owner is not None:
        query = query.join(Port, Port.id == IPAllocation.port_id).where(Port.device_owner == owner)
    return session.scalars(query.limit(1)).first()


def update_subnet(session: Session, caller: Caller, subnet_id: str, attrs: Mapping[str, Any]) -> Subnet:
    subnet = get_subnet(session, caller, subnet_id)
    begin_write(session)
    ipv6.check_dhcp_update(subnet.ipv6_ra_mode, subnet.ipv6_address_mode, attrs)
    addressing = plan(attrs, current=subnet)
    gateway = addressing["gateway_ip"]
    if gateway is not None and gateway != subnet.gateway_ip:
        port_id = _gateway_user(session, subnet, gateway)
        if port_id is not None:
            raise GatewayIpInUse(ip_address=gateway, port_id=port_id)
    if gateway != subnet.gateway_ip and subnet.gateway_ip is not None:
        # A router's interface is the gateway: the subnet's hosts would route to an address nobody answers.
        port_id = _gateway_user(session, subnet, subnet.gateway_ip, ROUTER_INTERFACE_OWNER)
        if port_id is not None:
            raise GatewayIpInUse(ip_address=subnet.gateway_ip, port_id=port_id)
    for field in ADDRESSING:
        setattr(subnet, field, addressing[field])
    for field in ("name", "description", "service_types"):
        if field in attrs:
            setattr(subnet, field, attrs[field] if attrs[field] is not None else "")
    was_dhcp = subnet.enable_dhcp
    if "enable_dhcp" in attrs:
        subnet.enable_dhcp = attrs["enable_dhcp"]
    subnet.revision_number += 1
    session.flush()
    network = session.get_one(Network, subnet.network_id)
    if subnet.enable_dhcp and not was_dhcp:
        dhcp.add_subnet(session, network, subnet)
    elif was_dhcp and not subnet.enable_dhcp:
        dhcp.remove_subnet(session, network.id, subnet.id)
    return subnet


def delete_subnet(session: Session, caller: Caller, subnet_id: str) -> str:
    """Delete the subnet (409 ``SubnetInUse`` while a port other than the DHCP port has an address on it);
    returns the network's id."""
    subnet = get_subnet(session, caller, subnet_id)
    begin_write(session)
    # Addresses hosts make by themselves (SLAAC, DHCPv6-stateless) go with their subnet, as in Neutron; only a
    # router's interface on it (a gateway others route through) holds such a subnet.
    auto = ipv6.is_auto_address(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)
    holders = (ROUTER_INTERFACE_OWNER,) if auto else None
    users = (
        select(IPAllocation.port_id)
        .join(Port, Port.id == IPAllocation.port_id)
        .where(IPAllocation.subnet_id == subnet.id, Port.device_owner != DHCP_OWNER)
    )
    if holders is not None:
        users = users.where(Port.device_owner.in_(holders))
    if session.scalars(users.limit(1)).first() is not None:
        raise SubnetInUse(subnet_id=subnet.id)
    if auto:
        session.execute(delete(IPAllocation).where(IPAllocation.subnet_id == subnet.id))
    network_id = subnet.network_id
    dhcp.remove_subnet(session, network_id, subnet.id)
    session.delete(subnet)
    session.flush()
    return network_id
