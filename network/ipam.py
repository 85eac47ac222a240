"""IP address management: giving ports addresses from their subnets, never the same one twice.

An address is given by inserting an ``IPAllocation`` row; the unique (subnet_id, ip_address) constraint is
what makes concurrent allocation duplicate-free. A chosen address may have been taken by a concurrent
transaction in the meantime: the insert then fails in its savepoint and the next free address is tried, a
bounded number of times (``network.db.insert_with_retry``).

Automatic allocation takes addresses from the subnet's allocation pools only, and never the network,
broadcast or gateway address (those are outside the pools by construction, and excluded again here in
case the pools were edited). A requested address may be anywhere in the subnet except those three.
Ordinary ports get a random address among the first few free ones (as Neutron does), which keeps
concurrent creates from all racing for the same one; ``lowest=True`` (the DHCP port) takes the first free.
"""

from __future__ import annotations

import bisect
import ipaddress
import random
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from network import addresses, ipv6
from network.db import insert_with_retry
from network.exceptions import (
    InvalidAttribute,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
)
from network.models import IPAllocation, Subnet

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ATTEMPTS = 30
WINDOW = 16
ROUTER_OWNERS = ("network:router_interface", "network:router_gateway", "network:router_interface_distributed")
_rng = random.SystemRandom()


def reserved(network: IPNetwork) -> set[int]:
    """Addresses no port may have: the network address, and for IPv4 the broadcast (except in /31 and /32)."""
    if network.version == 4 and network.prefixlen >= 31:
        return set()
    found = {int(network.network_address)}
    if network.version == 4:
        found.add(int(network.broadcast_address))
    return found


def is_host_address(network: IPNetwork, address: IPAddress) -> bool:
    return address.version == network.version and address in network and int(address) not in reserved(network)


def pool_ranges(subnet: Subnet) -> list[tuple[int, int]]:
    pools = subnet.allocation_pools or []
    return sorted((int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"]))) for p in pools)


def first_free(pools: Sequence[tuple[int, int]], blocked: Iterable[int], count: int) -> list[int]:
    """Up to ``count`` lowest addresses (as integers) of ``pools`` not in ``blocked``.

    Costs O(count + blocked addresses) whatever the pool size, so a nearly empty /64 is as cheap as a /29.
    """
    taken = sorted(set(blocked))
    found: list[int] = []
    for start, end in sorted(pools):
        candidate = start
        index = bisect.bisect_left(taken, candidate)
        while candidate <= end and len(found) < count:
            if index < len(taken) and taken[index] == candidate:
                candidate += 1
                index += 1
            else:
                found.append(candidate)
                candidate += 1
        if len(found) >= count:
            break
    return found


def used_addresses(session: Session, subnet_id: str) -> set[int]:
    rows = session.scalars(select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet_id))
    return {int(ipaddress.ip_address(row)) for row in rows}


def parse_fixed_ip(address: str) -> IPAddress:
    """A requested fixed IP as a plain address; 400 naming ``fixed_ips`` when it is none (a scope id, spaces)."""
    try:
        return addresses.parse_address(address)
    except ValueError as exc:
        raise InvalidAttribute(attribute="fixed_ips", reason=str(exc)) from None


def check_address(subnet: Subnet, address: str) -> str:
    """``address`` normalised, if a port may have it on ``subnet``; else 400 ``InvalidIpForSubnet`` (or naming
    ``fixed_ips`` when it is no plain address at all)."""
    parsed = parse_fixed_ip(address)
    if not is_host_address(ipaddress.ip_network(subnet.cidr), parsed):
        raise InvalidIpForSubnet(ip_address=address)
    return str(parsed)


def subnet_for_address(subnets: Iterable[Subnet], address: str) -> Subnet:
    """The subnet of the network that ``address`` belongs to; else 400 ``InvalidIpForNetwork``."""
    for subnet in subnets:
        try:
            check_address(subnet, address)
        except InvalidIpForSubnet:
            continue
        return subnet
    raise InvalidIpForNetwork(ip_address=address)


def allocate(
    session: Session,
    subnet: Subnet,
    port_id: str,
    address: str | None = None,
    *,
    lowest: bool = False,
    device_owner: str = "",
    mac: str | None = None,
) -> str:
    """Give port ``port_id`` an address on ``subnet`` and return it, inside the caller's transaction.

    With ``address``: exactly that one (400 ``InvalidIpForSubnet`` outside the subnet, 409
    ``IpAddressAlreadyAllocated`` if a port has it or it is the gateway and the port is no router's; on a SLAAC
    or DHCPv6-stateless subnet only a router's port may name one, 400 ``AllocationOnAutoAddressSubnet``).
    Without: on such a subnet the port's EUI-64 address, made from ``mac`` (which it then needs); else a free
    pool address (409 ``IpAddressGenerationFailure`` when the pools are exhausted).
    """
    auto = ipv6.is_auto_address(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)
    if address is not None and auto and device_owner not in ROUTER_OWNERS:
        raise ipv6.AllocationOnAutoAddressSubnet(ip=address, subnet_id=subnet.id)
    if address is None and auto:
        if mac is None:
            raise ValueError("an EUI-64 address needs the port's MAC")
        address = str(ipv6.eui64(subnet.cidr, mac))
    if address is not None:
        chosen = check_address(subnet, address)
        if chosen == subnet.gateway_ip and device_owner not in ROUTER_OWNERS:
            raise IpAddressAlreadyAllocated(ip=chosen, subnet_id=subnet.id)
        if insert_with_retry(session, 1, _inserter(session, subnet, port_id, lambda: chosen)) is None:
            raise IpAddressAlreadyAllocated(ip=chosen, subnet_id=subnet.id)
        return chosen

    version = ipaddress.ip_network(subnet.cidr).version
    excluded = reserved(ipaddress.ip_network(subnet.cidr))
    if subnet.gateway_ip:
        excluded.add(int(ipaddress.ip_address(subnet.gateway_ip)))

    def choose() -> str:
        free = first_free(pool_ranges(subnet), used_addresses(session, subnet.id) | excluded, 1 if lowest else WINDOW)
        if not free:
            raise IpAddressGenerationFailure(net_id=subnet.network_id)
        value = free[0] if lowest else _rng.choice(free)
        return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))

    allocated = insert_with_retry(session, ATTEMPTS, _inserter(session, subnet, port_id, choose))
    if allocated is None:
        raise IpAddressGenerationFailure(
            f"Could not allocate an address on subnet {subnet.id} after {ATTEMPTS} attempts under concurrent "
            "allocation; retry the request."
        )
    return allocated


def _inserter(session: Session, subnet: Subnet, port_id: str, choose: Callable[[], str]) -> Callable[[int], str]:
    def attempt(_number: int) -> str:
        ip_address = choose()
        session.add(IPAllocation(port_id=port_id, subnet_id=subnet.id, ip_address=ip_address))
        session.flush()
        return ip_address

    return attempt


def release(session: Session, port_id: str, subnet_ids: Iterable[str] | None = None) -> None:
    """Free the port's addresses (on ``subnet_ids`` only, if given)."""
    query = delete(IPAllocation).where(IPAllocation.port_id == port_id)
    if subnet_ids is not None:
        query = query.where(IPAllocation.subnet_id.in_(list(subnet_ids)))
    session.execute(query)
