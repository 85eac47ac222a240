"""Kernel object names, derived from Neutron's conventions so an operator who knows Neutron can read a host.

Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL), so ids are cut to their first 11
characters: a three-letter prefix plus 11 characters fits, and 11 hex digits of a UUID are unique enough within
one host (``HostWiring`` refuses two ports that collide). Three parties depend on these names: the host's
dataplane drivers create the devices, the control side tells compute which tap and bridge a port has
(``network.control.sync.nics_of``), and compute puts the guest's tap into ``qbr<id11>``. So they are part of the
contract between them and live here, at the top of ``network``, apart from any driver and from either side.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

IFNAMSIZ = 15
ID_LEN = 11
HOST_UNDERLAY = "ul0"
"""The underlay veth's name inside a simulated host's namespace (every host has exactly one)."""
_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class VifNames:
    """The devices of one VM port ("hybrid plug", as Nova's qbr). ``tap`` is created by libvirt and added to
    ``bridge`` each time the guest starts; ``qvb`` (in ``bridge``) and ``qvo`` (in the network bridge, in the
    host's namespace) are the veth pair the dataplane creates between them."""

    tap: str
    bridge: str
    qvb: str
    qvo: str


def vif_names(port_id: str) -> VifNames:
    short = port_id[:ID_LEN]
    return VifNames(tap=f"tap{short}", bridge=f"qbr{short}", qvb=f"qvb{short}", qvo=f"qvo{short}")


def network_bridge(network_id: str) -> str:
    return f"brq{network_id[:ID_LEN]}"


def vxlan_device(vni: int) -> str:
    return f"vxlan-{vni}"


def dhcp_namespace(network_id: str) -> str:
    return f"qdhcp-{network_id}"


def dhcp_inner(port_id: str) -> str:
    """The DHCP port's end inside its ``qdhcp-`` namespace; it carries the port's MAC and address."""
    return f"ns-{port_id[:ID_LEN]}"


def dhcp_outer(port_id: str) -> str:
    """The DHCP port's end in the host namespace, in the network bridge (Neutron names it like a VM tap)."""
    return f"tap{port_id[:ID_LEN]}"


def underlay_veth(namespace: str) -> str:
    """The root-namespace end of a simulated host's underlay veth: ``ul-`` and the namespace name when it fits,
    else a digest of it (names must stay distinct across the hosts sharing one underlay bridge)."""
    if len(namespace) <= IFNAMSIZ - 3 and _PLAIN.match(namespace):
        return f"ul-{namespace}"
    return "ul-" + hashlib.sha256(namespace.encode()).hexdigest()[: IFNAMSIZ - 3]


def router_namespace(router_id: str) -> str:
    """Neutron's name. Simulated hosts of one machine share it: a router runs on one host at a time, and when it
    moves the new host takes the namespace over (``network.host.dataplane.linux.router``)."""
    return f"qrouter-{router_id}"


def router_interface(port_id: str) -> str:
    """A router's end of its interface on a tenant network, inside ``qrouter-``; its peer is ``vif_names(port).tap``
    in the network bridge, as the DHCP port's is."""
    return f"qr-{port_id[:ID_LEN]}"


def router_gateway(port_id: str) -> str:
    """A router's end of its gateway, inside ``qrouter-``; its peer ``tap<id11>`` is in the physical network's
    bridge in the root namespace."""
    return f"qg-{port_id[:ID_LEN]}"
