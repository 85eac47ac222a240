"""The network dataplane contract: what a network host agent asks of the kernel of the host it runs on.

The control side computes, for each host, the complete desired state (``HostWiring``) and sends it in a task; the
agent hands it to a driver that makes the host's kernel networking match it. The state is *level-triggered*: every
``apply`` carries everything the host must have, so a lost or repeated message, a restarted agent or a device
deleted by hand are all healed by the next apply, and there is no "add port"/"remove port" delta to get out of
order. The dataclasses are plain, frozen data that validate themselves on construction and travel as JSON dicts
(``to_dict``/``from_dict``), because host agents never read the database.

Device names come from ``network.host.dataplane.names`` (Neutron's conventions) and are part of the contract: compute
puts a guest's tap into the per-port bridge named by ``port_device_names(port_id).bridge``.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from common.exceptions import StratusError
from network import addresses
from network.host.dataplane.names import VifNames, vif_names

DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")
PROTOCOL_NAMES = ("tcp", "udp", "icmp", "icmpv6", "sctp", "udplite", "dccp", "gre", "esp", "ah", "igmp")
PORT_KINDS = ("vm", "dhcp")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_ID = re.compile(r"[A-Za-z0-9_-]{11,64}")
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]{0,253}")


class DataplaneError(StratusError):
    """The kernel refused or failed a change; the message names the command and what it said."""

    msg_fmt = "{reason}"
    code = 500
    title = "Network Dataplane Error"


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


class _Codec:
    """``to_dict`` gives JSON-ready plain data (tuples travel as lists); ``from_dict`` accepts lists or tuples."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**dict(data))


@dataclass(frozen=True)
class Rule(_Codec):
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


@dataclass(frozen=True)
class PortWiring(_Codec):
    """One port bound to this host. ``kind`` "vm" gets the hybrid plug (``qbr``/``qvb``/``qvo``); "dhcp" is the
    network's DHCP port, wired by ``DhcpWiring`` and never filtered. ``allowed_pairs`` are Neutron's allowed
    address pairs: (mac, ip-or-cidr) the port may also send from. ``port_security`` False: no filtering and no
    anti-spoofing at all (``rules`` are then ignored)."""

    port_id: str
    mac: str
    ips: tuple[str, ...] = ()
    allowed_pairs: tuple[tuple[str, str], ...] = ()
    port_security: bool = True
    rules: tuple[Rule, ...] = ()
    kind: str = "vm"

    def __post_init__(self) -> None:
        _id(self.port_id, "port id")
        _check(self.kind in PORT_KINDS, f"kind must be one of {PORT_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "ips", tuple(_ip(ip) for ip in self.ips))
        pairs = tuple((_mac(mac), _net(ip)) for mac, ip in self.allowed_pairs)
        object.__setattr__(self, "allowed_pairs", pairs)
        rules = tuple(rule if isinstance(rule, Rule) else Rule.from_dict(rule) for rule in self.rules)
        object.__setattr__(self, "rules", rules)


@dataclass(frozen=True)
class RemotePort(_Codec):
    """A port of the network on another host, for L2 population: frames to ``mac`` go to ``underlay_ip``."""

    mac: str
    ip: str
    underlay_ip: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "ip", _ip(self.ip) if self.ip else "")
        object.__setattr__(self, "underlay_ip", _ip(self.underlay_ip))


@dataclass(frozen=True)
class DhcpSubnet(_Codec):
    """A subnet served by the network's dnsmasq. ``host_routes`` are (destination CIDR, nexthop), sent as
    classless static routes (option 121) together with the default route when there is a gateway."""

    cidr: str
    gateway_ip: str | None = None
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "cidr", _cidr(self.cidr))
        object.__setattr__(self, "gateway_ip", _ip(self.gateway_ip) if self.gateway_ip else None)
        object.__setattr__(self, "dns_nameservers", tuple(_ip(ip) for ip in self.dns_nameservers))
        routes = tuple((_cidr(dst), _ip(hop)) for dst, hop in self.host_routes)
        object.__setattr__(self, "host_routes", routes)


@dataclass(frozen=True)
class DhcpWiring(_Codec):
    """The DHCP server of one network, set only on the host that serves it. ``ip`` is the DHCP port's address
    (on the first subnet that contains it); ``extra_ips`` its addresses on further subnets (an addition to the
    first draft of this contract: dnsmasq only serves an IPv4 subnet it has an address on). ``hosts`` are the
    static leases (mac, ip, hostname); hostname may be "". ``mtu`` is advertised as option 26."""

    port_id: str
    mac: str
    ip: str
    subnets: tuple[DhcpSubnet, ...] = ()
    hosts: tuple[tuple[str, str, str], ...] = ()
    mtu: int = 1450
    lease_time: int = 86400
    extra_ips: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _id(self.port_id, "port id")
        object.__setattr__(self, "mac", _mac(self.mac))
        object.__setattr__(self, "ip", _ip(self.ip))
        object.__setattr__(self, "extra_ips", tuple(_ip(ip) for ip in self.extra_ips))
        subnets = tuple(s if isinstance(s, DhcpSubnet) else DhcpSubnet.from_dict(s) for s in self.subnets)
        object.__setattr__(self, "subnets", subnets)
        object.__setattr__(self, "hosts", tuple((_mac(mac), _ip(ip), _hostname(name)) for mac, ip, name in self.hosts))
        _check(68 <= self.mtu <= 65535, f"mtu out of range: {self.mtu}")
        _check(self.lease_time >= 120, f"lease_time below dnsmasq's minimum of 120 s: {self.lease_time}")


@dataclass(frozen=True)
class NetworkWiring(_Codec):
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


@dataclass(frozen=True)
class HostWiring(_Codec):
    """Everything one host must have. ``generation`` increases with each state the control side computes; a
    driver ignores a state older than the last one it applied (a redelivered, overtaken task)."""

    host: str
    networks: tuple[NetworkWiring, ...] = ()
    generation: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "networks", tuple(_coerce(NetworkWiring, n) for n in self.networks))
        ids = [n.network_id for n in self.networks]
        _check(len(ids) == len(set(ids)), "a network appears twice")
        vnis = [n.vni for n in self.networks]
        _check(len(vnis) == len(set(vnis)), "two networks share a VNI")
        ports = [p.port_id[:11] for n in self.networks for p in n.ports]
        _check(len(ports) == len(set(ports)), "two ports share the first 11 characters of their ids")


@dataclass(frozen=True)
class HostUnderlay(_Codec):
    """Where this host's VXLAN traffic goes in and out.

    ``namespace`` empty: a real host, the root namespace; ``underlay_device`` is the interface VXLAN binds to
    ("" lets the kernel route by ``underlay_ip``), which must already carry ``underlay_ip``. ``namespace`` set: a
    simulated host on a shared machine: the driver creates the namespace and a veth into ``underlay_bridge`` (a
    root-namespace bridge all simulated hosts share as their wire) and puts ``underlay_ip``/``underlay_prefix``
    on it.
    """

    underlay_ip: str
    namespace: str | None = None
    underlay_prefix: int = 24
    underlay_bridge: str = "stratus-ul"
    underlay_device: str = ""
    underlay_mtu: int = 1500

    def __post_init__(self) -> None:
        object.__setattr__(self, "underlay_ip", _ip(self.underlay_ip))
        object.__setattr__(self, "namespace", self.namespace or None)
        _check(0 < self.underlay_prefix <= 128, f"underlay_prefix out of range: {self.underlay_prefix}")
        _check(len(self.underlay_bridge) <= 15, f"underlay_bridge name too long: {self.underlay_bridge!r}")


@dataclass(frozen=True)
class ApplyResult(_Codec):
    """What an ``apply`` achieved. ``wired`` are the ports whose wiring and filtering are in place (ready for the
    guest: Neutron's "port up"); ``errors`` maps a network id to what went wrong there (its ports are not in
    ``wired``), or the id of a leftover network or port that could not be removed. ``stale`` is True when the
    state was older than the one in effect and was ignored; ``generation`` is the generation now in effect."""

    generation: int
    wired: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    stale: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "wired", tuple(self.wired))
        object.__setattr__(self, "errors", dict(self.errors))


_C = TypeVar("_C", bound=_Codec)


def _coerce(cls: type[_C], value: Any) -> _C:
    return value if isinstance(value, cls) else cls.from_dict(value)


class DataplaneDriver(ABC):
    """Makes one host's kernel networking match a desired ``HostWiring``.

    A driver serves exactly one host (named in the constructor); every method may be called again after a
    crash or a redelivered task and converges instead of failing on what already exists.
    """

    @abstractmethod
    def init_host(self, underlay: HostUnderlay) -> None:
        """Make the host exist and remember its underlay; called once when the agent starts, before ``apply``.

        For a namespaced host: create the namespace, the shared underlay bridge if missing (up, MTU
        ``underlay_mtu``), a veth pair ``ul-…`` (root namespace, in the underlay bridge) ↔ ``ul0`` (in the
        namespace, with ``underlay_ip/underlay_prefix``), bring ``lo`` up, and set the sysctls filtering needs
        (``net.bridge.bridge-nf-call-iptables=1`` and ``…-ip6tables=1``). For a real host only the sysctls; the
        underlay address must already be configured. Idempotent. Raises DataplaneError.
        """

    @abstractmethod
    def apply(self, wiring: HostWiring) -> ApplyResult:
        """Converge the whole host to ``wiring``: create what is missing, fix what differs, and remove what is not
        in it (network bridges, VXLAN devices and their forwarding entries, port bridges and veths, DHCP
        namespaces and their dnsmasq, firewall rules). Applying the state in effect again only reads.

        Firewall rules are loaded before a port is plugged and a port unknown to the rules carries no traffic, so a
        port is never reachable unfiltered. A failure in one network is reported in ``ApplyResult.errors`` and
        does not stop the others. A state older than the one in effect is ignored (``stale``). A simulated
        host whose namespace was deleted is made again. Raises DataplaneError only when nothing could be done
        (``init_host`` not called, or the host itself cannot be made).
        """

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything this driver created on the host: every network, port and DHCP server, the firewall
        tables, and for a namespaced host its underlay veth and the namespace itself (the shared underlay bridge
        too, once no host uses it). Tearing down a host that has nothing succeeds; DataplaneError when something
        could not be removed (after trying everything else)."""

    @abstractmethod
    def retire(self) -> None:
        """Tear down what this host left on the machine when its agent is gone for good (``make up HOSTS=N`` with
        fewer hosts): what ``teardown`` does, from what the host recorded when it was initialised here, without
        ``init_host`` (which would make the host again). A host that never ran on this machine succeeds with
        nothing done. DataplaneError as for ``teardown``."""

    def port_device_names(self, port_id: str) -> VifNames:
        """The device names of a port (the same on every driver): compute puts the guest's tap named ``tap``
        into the bridge named ``bridge``."""
        return vif_names(port_id)
