"""The desired state the network control side sends a host agent: ``HostWiring`` and what it is made of.

The control side (``network.control.wiring``) computes, for each host, the complete desired state and sends it in
a task; the host agent (``network.host``) hands it to its dataplane driver. These types are the only vocabulary
the two sides share, so they live here, above both: the control side never imports host code, and the host side
never imports control code. They are plain, frozen data that validate themselves on construction (a malformed
address or id fails where the message is built, not deep in an apply on a host) and travel as JSON dicts
(``to_dict``/``from_dict``), because host agents never read the database.

The state is *level-triggered*: every message carries everything the host must have, so a lost or repeated
message, a restarted agent or a device deleted by hand are all healed by the next one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from network import addresses, dhcp_options

DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")
PROTOCOL_NAMES = ("tcp", "udp", "icmp", "icmpv6", "sctp", "udplite", "dccp", "gre", "esp", "ah", "igmp")
PORT_KINDS = ("vm", "dhcp")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_ID = re.compile(r"[A-Za-z0-9_-]{11,64}")
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]{0,253}")


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(what)


def _mac(value: str) -> str:
    _check(isinstance(value, str), f"not a MAC address: {value!r}")
    mac = value.lower()
    _check(bool(_MAC.fullmatch(mac)), f"not a MAC address: {value!r}")
    return mac


def _id(value: str, what: str) -> str:
    """An id that becomes part of device names, chains and file names: letters, digits, ``-`` and ``_`` only."""
    _check(isinstance(value, str) and len(value) >= 11, f"{what} too short for device names: {value!r}")
    _check(bool(_ID.fullmatch(value)), f"{what} is not a plain id (letters, digits, '-', '_'): {value!r}")
    return value


def _hostname(value: str | None) -> str:
    """A static lease's host name: "" or plain name characters (the renderer drops names dnsmasq would refuse)."""
    name = value or ""
    _check(isinstance(name, str) and bool(_HOSTNAME.fullmatch(name)), f"not a host name: {value!r}")
    return name


def _dhcp_option(mac: str, name: str, value: str) -> tuple[str, str, str]:
    """An extra DHCP option of one MAC, as ``network.dhcp_options`` reads it (IPv4: dnsmasq serves DHCPv4)."""
    try:
        checked_name, checked_value, _version = dhcp_options.check(name, value, 4)
    except ValueError as exc:
        raise ValueError(f"not a DHCP option: {exc}") from None
    return _mac(mac), checked_name, checked_value


def _ip(value: str) -> str:
    """A plain address, canonical (``network.addresses``: a scope id or whitespace is refused, not kept)."""
    return addresses.canonical_address(value)


def _net(value: str) -> str:
    """An address or a CIDR, normalised (host bits allowed, as Neutron allows them in remote_ip_prefix)."""
    return addresses.canonical_network(value) if "/" in str(value) else _ip(value)


def _cidr(value: str) -> str:
    """A network address with its prefix, host bits zero."""
    _check(isinstance(value, str) and "/" in value, f"not a CIDR: {value!r}")
    return addresses.canonical_network(value, strict=True)


class Codec:
    """``to_dict`` gives JSON-ready plain data (tuples travel as lists); ``from_dict`` accepts lists or tuples."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**dict(data))


@dataclass(frozen=True)
class Rule(Codec):
    """One security group rule, already resolved for one port.

    ``protocol`` None is any protocol; else a name in ``PROTOCOL_NAMES`` or an IP protocol number as a string.
    For tcp/udp/sctp/udplite/dccp ``port_min``..``port_max`` is a destination port range (``port_max`` None means
    just ``port_min``); for icmp/icmpv6 ``port_min`` is the type and ``port_max`` the code, as in Neutron.
    ``remote_ips`` None matches any address; a tuple (a remote-group rule resolved to the member ports' addresses,
    or a remote_ip_prefix) matches those, and an empty tuple matches nothing. Addresses of the other ethertype
    are ignored.
    """

    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_ips: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check(self.direction in DIRECTIONS, f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        _check(self.ethertype in ETHERTYPES, f"ethertype must be one of {ETHERTYPES}, got {self.ethertype!r}")
        if self.protocol is not None:
            protocol = str(self.protocol).lower()
            _check(
                protocol in PROTOCOL_NAMES or (protocol.isascii() and protocol.isdigit() and int(protocol) <= 255),
                f"unknown protocol {self.protocol!r}",
            )
            object.__setattr__(self, "protocol", protocol)
        for bound in (self.port_min, self.port_max):
            _check(bound is None or 0 <= bound <= 65535, f"port or ICMP type/code out of range: {bound}")
        if self.port_max is not None:
            _check(self.port_min is not None, "port_max without port_min")
        if self.remote_ips is not None:
            object.__setattr__(self, "remote_ips", tuple(_net(ip) for ip in self.remote_ips))


MAX_KBPS = 2_147_483_647
"""The largest rate or burst Neutron accepts (its database integer)."""


@dataclass(frozen=True)
class BandwidthLimit(Codec):
    """One bandwidth-limit rule of a port's QoS policy, in Neutron's terms (the VM's point of view): ``egress`` is
    what the VM sends, ``ingress`` what it receives; ``max_kbps`` kilobits per second (1000 bits), ``max_burst_kbps``
    kilobits of burst, 0 for the host's default. ``max_kbps`` 0 is no limit (as Neutron's agents treat it)."""

    direction: str
    max_kbps: int
    max_burst_kbps: int = 0

    def __post_init__(self) -> None:
        _check(self.direction in DIRECTIONS, f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        for value in (self.max_kbps, self.max_burst_kbps):
            _check(type(value) is int and 0 <= value <= MAX_KBPS, f"rate or burst not an integer in range: {value!r}")


@dataclass(frozen=True)
class PortWiring(Codec):
    """One port bound to this host. ``kind`` "vm" gets the hybrid plug (``qbr``/``qvb``/``qvo``); "dhcp" is the
    network's DHCP port, wired by ``DhcpWiring`` and never filtered. ``allowed_pairs`` are Neutron's allowed
    address pairs: (mac, ip-or-cidr) the port may also send from. ``port_security`` False: no filtering and no
    anti-spoofing at all (``rules`` are then ignored). ``bandwidth``: its QoS policy's limits, at most one per
    direction (none: unshaped)."""

    port_id: str
    mac: str
    ips: tuple[str, ...] = ()
    allowed_pairs: tuple[tuple[str, str], ...] = ()
    port_security: bool = True
    rules: tuple[Rule, ...] = ()
    kind: str = "vm"
    bandwidth: tuple[BandwidthLimit, ...] = ()

    def __post_init__(self) -> None:
        _id(self.port_id, "port id")
        limits = tuple(_coerce(BandwidthLimit, limit) for limit in self.bandwidth)
        _check(len({limit.direction for limit in limits}) == len(limits), "two bandwidth limits of one direction")
        object.__setattr__(self, "bandwidth", limits)
        _check(self.kind in PORT_KINDS, f"kind must be one of {PORT_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "ips", tuple(_ip(ip) for ip in self.ips))
        pairs = tuple((_mac(mac), _net(ip)) for mac, ip in self.allowed_pairs)
        object.__setattr__(self, "allowed_pairs", pairs)
        rules = tuple(rule if isinstance(rule, Rule) else Rule.from_dict(rule) for rule in self.rules)
        object.__setattr__(self, "rules", rules)


@dataclass(frozen=True)
class RemotePort(Codec):
    """A port of the network on another host, for L2 population: frames to ``mac`` go to ``underlay_ip``."""

    mac: str
    ip: str
    underlay_ip: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "ip", _ip(self.ip) if self.ip else "")
        object.__setattr__(self, "underlay_ip", _ip(self.underlay_ip))


IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


@dataclass(frozen=True)
class DhcpSubnet(Codec):
    """A subnet served by the network's dnsmasq. ``host_routes`` are (destination CIDR, nexthop), sent as
    classless static routes (option 121) together with the default route when there is a gateway. An IPv6
    subnet's ``ipv6_ra_mode`` and ``ipv6_address_mode`` are Neutron's (None or one of ``IPV6_MODES``): whether
    router advertisements are sent for it, and whether hosts get addresses by DHCPv6 or SLAAC."""

    cidr: str
    gateway_ip: str | None = None
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None

    def __post_init__(self) -> None:
        for mode in (self.ipv6_ra_mode, self.ipv6_address_mode):
            _check(mode is None or mode in IPV6_MODES, f"not an IPv6 mode: {mode!r}")
        object.__setattr__(self, "cidr", _cidr(self.cidr))
        object.__setattr__(self, "gateway_ip", _ip(self.gateway_ip) if self.gateway_ip else None)
        object.__setattr__(self, "dns_nameservers", tuple(_ip(ip) for ip in self.dns_nameservers))
        routes = tuple((_cidr(dst), _ip(hop)) for dst, hop in self.host_routes)
        object.__setattr__(self, "host_routes", routes)


@dataclass(frozen=True)
class DhcpWiring(Codec):
    """The DHCP server of one network, set only on the host that serves it. ``ip`` is the DHCP port's address
    (on the first subnet that contains it); ``extra_ips`` its addresses on further subnets (an addition to the
    first draft of this contract: dnsmasq only serves an IPv4 subnet it has an address on). ``hosts`` are the
    static leases (mac, ip, hostname); hostname may be "". ``mtu`` is advertised as option 26. ``options`` are
    the ports' extra DHCP options (mac, option name, value), each a ``network.dhcp_options`` name with a value of
    its type, sent to that MAC only."""

    port_id: str
    mac: str
    ip: str
    subnets: tuple[DhcpSubnet, ...] = ()
    hosts: tuple[tuple[str, str, str], ...] = ()
    mtu: int = 1450
    lease_time: int = 86400
    extra_ips: tuple[str, ...] = ()
    options: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        _id(self.port_id, "port id")
        object.__setattr__(self, "options", tuple(_dhcp_option(*option) for option in self.options))
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "ip", _ip(self.ip))
        object.__setattr__(self, "extra_ips", tuple(_ip(ip) for ip in self.extra_ips))
        subnets = tuple(s if isinstance(s, DhcpSubnet) else DhcpSubnet.from_dict(s) for s in self.subnets)
        object.__setattr__(self, "subnets", subnets)
        object.__setattr__(self, "hosts", tuple((_mac(mac), _ip(ip), _hostname(name)) for mac, ip, name in self.hosts))
        _check(68 <= self.mtu <= 65535, f"mtu out of range: {self.mtu}")
        _check(self.lease_time >= 120, f"lease_time below dnsmasq's minimum of 120 s: {self.lease_time}")


@dataclass(frozen=True)
class NetworkWiring(Codec):
    """One tenant network as this host must see it: its VXLAN segment, its ports here, every port elsewhere
    (``remote``, for unicast forwarding entries), the other hosts that have it (``remote_vteps``, for the
    head-end replicated flooding of broadcast and unknown unicast) and, on its DHCP host, its DHCP server."""

    network_id: str
    vni: int
    mtu: int = 1450
    ports: tuple[PortWiring, ...] = ()
    remote: tuple[RemotePort, ...] = ()
    remote_vteps: tuple[str, ...] = ()
    dhcp: DhcpWiring | None = None

    def __post_init__(self) -> None:
        _id(self.network_id, "network id")
        _check(1 <= self.vni <= 0xFFFFFF, f"vni out of range: {self.vni}")
        _check(68 <= self.mtu <= 65535, f"mtu out of range: {self.mtu}")
        object.__setattr__(self, "ports", tuple(_coerce(PortWiring, p) for p in self.ports))
        object.__setattr__(self, "remote", tuple(_coerce(RemotePort, r) for r in self.remote))
        object.__setattr__(self, "remote_vteps", tuple(_ip(ip) for ip in self.remote_vteps))
        if self.dhcp is not None:
            object.__setattr__(self, "dhcp", _coerce(DhcpWiring, self.dhcp))


def _interface(value: str) -> str:
    """An address with the prefix of its subnet (``10.0.0.1/24``), as a router interface carries it."""
    _check(isinstance(value, str) and "/" in value, f"not an address with its prefix: {value!r}")
    address, _, prefix = value.partition("/")
    _check(prefix.isascii() and prefix.isdigit() and len(prefix) <= 3, f"not a prefix length: {value!r}")
    network = addresses.canonical_network(value)  # checks the prefix fits the address family
    return f"{_ip(address)}/{network.rpartition('/')[2]}"


_PHYSNET = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class RouterInterface(Codec):
    """A router's port on a tenant network of this host: ``addresses`` are its fixed IPs with their subnets'
    prefixes (the subnets' gateways). The network is in ``HostWiring.networks`` of the same host."""

    port_id: str
    network_id: str
    mac: str
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _id(self.port_id, "port id")
        _id(self.network_id, "network id")
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "addresses", tuple(_interface(a) for a in self.addresses))


@dataclass(frozen=True)
class RouterGateway(Codec):
    """A router's port on its external network: a flat network on the host bridge that ``physical_network`` names
    in the host's settings. ``addresses`` with prefixes; ``gateway_ip`` is the external subnet's gateway (the
    router's default route), None for none."""

    port_id: str
    physical_network: str
    mac: str
    addresses: tuple[str, ...] = ()
    gateway_ip: str | None = None
    mtu: int = 1500

    def __post_init__(self) -> None:
        _id(self.port_id, "port id")
        _check(
            isinstance(self.physical_network, str) and bool(_PHYSNET.fullmatch(self.physical_network)),
            f"not a physical network name: {self.physical_network!r}",
        )
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "addresses", tuple(_interface(a) for a in self.addresses))
        object.__setattr__(self, "gateway_ip", _ip(self.gateway_ip) if self.gateway_ip else None)
        _check(68 <= self.mtu <= 65535, f"mtu out of range: {self.mtu}")


@dataclass(frozen=True)
class FloatingIPWiring(Codec):
    """A floating IP of the router: ``floating_ip`` (on the gateway's external network) is translated 1:1 to and
    from ``fixed_ip`` (a port's address behind one of the router's interfaces)."""

    floating_ip: str
    fixed_ip: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "floating_ip", _ip(self.floating_ip))
        object.__setattr__(self, "fixed_ip", _ip(self.fixed_ip))


@dataclass(frozen=True)
class RouterWiring(Codec):
    """One router that runs on this host: its namespace, interfaces, gateway, SNAT of the interface subnets
    (``snat_cidrs``, only with a gateway and ``enable_snat``), extra ``routes`` (destination CIDR, nexthop) and
    floating IPs."""

    router_id: str
    interfaces: tuple[RouterInterface, ...] = ()
    gateway: RouterGateway | None = None
    enable_snat: bool = True
    snat_cidrs: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()
    floating_ips: tuple[FloatingIPWiring, ...] = ()

    def __post_init__(self) -> None:
        _id(self.router_id, "router id")
        object.__setattr__(self, "interfaces", tuple(_coerce(RouterInterface, i) for i in self.interfaces))
        if self.gateway is not None:
            object.__setattr__(self, "gateway", _coerce(RouterGateway, self.gateway))
        _check(isinstance(self.enable_snat, bool), f"enable_snat must be a boolean: {self.enable_snat!r}")
        object.__setattr__(self, "snat_cidrs", tuple(_cidr(c) for c in self.snat_cidrs))
        object.__setattr__(self, "routes", tuple((_cidr(dst), _ip(hop)) for dst, hop in self.routes))
        object.__setattr__(self, "floating_ips", tuple(_coerce(FloatingIPWiring, f) for f in self.floating_ips))
        floating = [f.floating_ip for f in self.floating_ips]
        _check(len(floating) == len(set(floating)), "a floating IP appears twice")


@dataclass(frozen=True)
class HostWiring(Codec):
    """Everything one host must have. ``generation`` increases with each state the control side computes; a
    driver ignores a state older than the last one it applied (a redelivered, overtaken task). ``routers`` are
    the routers placed on this host; the tenant networks of their interfaces are in ``networks``."""

    host: str
    networks: tuple[NetworkWiring, ...] = ()
    generation: int = 0
    routers: tuple[RouterWiring, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "networks", tuple(_coerce(NetworkWiring, n) for n in self.networks))
        object.__setattr__(self, "routers", tuple(_coerce(RouterWiring, r) for r in self.routers))
        routers = [r.router_id for r in self.routers]
        _check(len(routers) == len(set(routers)), "a router appears twice")
        ids = [n.network_id for n in self.networks]
        _check(len(ids) == len(set(ids)), "a network appears twice")
        vnis = [n.vni for n in self.networks]
        _check(len(vnis) == len(set(vnis)), "two networks share a VNI")
        ports = [p.port_id[:11] for n in self.networks for p in n.ports]
        _check(len(ports) == len(set(ports)), "two ports share the first 11 characters of their ids")


_C = TypeVar("_C", bound=Codec)


def _coerce(cls: type[_C], value: Any) -> _C:
    return value if isinstance(value, cls) else cls.from_dict(value)
