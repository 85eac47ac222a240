"""The network dataplane contract: what a network host agent asks of the kernel of the host it runs on.

The control side computes, for each host, the complete desired state (``network.wire.HostWiring``) and sends it
in a task; the agent hands it to a driver that makes the host's kernel networking match it. This module holds the
driver's side of that: the ABC, its error, the underlay it is initialised with and the result of an ``apply``.
The desired-state types themselves live in ``network.wire``, which both sides import.

Device names come from ``network.devicenames`` (Neutron's conventions) and are part of the contract: compute
puts a guest's tap into the per-port bridge named by ``port_device_names(port_id).bridge``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from common.exceptions import StratusError
from network import addresses
from network.devicenames import VifNames, vif_names
from network.wire import Codec, HostWiring

EXTERNAL_PHYSNET = "public"
"""The physical network whose bridge gets ``HostUnderlay.external_host_address`` (the machine's own side)."""
_PHYSNET = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_BRIDGE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")


def checked_bridges(pairs: Iterable[Iterable[str]]) -> tuple[tuple[str, str], ...]:
    """(physical network, bridge) pairs with plain names, each physical network once; else ValueError."""
    bridges = tuple((str(physnet), str(bridge)) for physnet, bridge in pairs)
    for physnet, bridge in bridges:
        if not _PHYSNET.fullmatch(physnet) or not _BRIDGE.fullmatch(bridge):
            raise ValueError(f"not a physical network and bridge name: {physnet!r}:{bridge!r}")
    if len({physnet for physnet, _ in bridges}) != len(bridges):
        raise ValueError("a physical network is mapped twice")
    return bridges


class DataplaneError(StratusError):
    """The kernel refused or failed a change; the message names the command and what it said."""

    msg_fmt = "{reason}"
    code = 500
    title = "Network Dataplane Error"


@dataclass(frozen=True)
class HostUnderlay(Codec):
    """Where this host's VXLAN traffic goes in and out.

    ``namespace`` empty: a real host, the root namespace; ``underlay_device`` is the interface VXLAN binds to
    ("" lets the kernel route by ``underlay_ip``), which must already carry ``underlay_ip``. ``namespace`` set: a
    simulated host on a shared machine: the driver creates the namespace and a veth into ``underlay_bridge`` (a
    root-namespace bridge all simulated hosts share as their wire) and puts ``underlay_ip``/``underlay_prefix``
    on it.

    ``physical_bridges`` maps each flat (external) physical network to a root-namespace bridge of the machine,
    which ``init_host`` makes exist and up; routers' gateways plug into it. Simulated hosts of one machine share
    these bridges, as they share the underlay bridge. ``external_host_address`` (``address/prefix``, or "") goes
    on the bridge of ``EXTERNAL_PHYSNET``: the machine's own address on the external network.
    """

    underlay_ip: str
    namespace: str | None = None
    underlay_prefix: int = 24
    underlay_bridge: str = "stratus-ul"
    underlay_device: str = ""
    underlay_mtu: int = 1500
    physical_bridges: tuple[tuple[str, str], ...] = ()
    external_host_address: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "physical_bridges", checked_bridges(self.physical_bridges))
        if self.external_host_address:
            address, slash, prefix = self.external_host_address.partition("/")
            network = addresses.canonical_network(self.external_host_address) if slash else ""
            if not slash or not prefix.isdigit():
                raise ValueError(f"external_host_address needs a prefix: {self.external_host_address!r}")
            canonical = f"{addresses.canonical_address(address)}/{network.rpartition('/')[2]}"
            object.__setattr__(self, "external_host_address", canonical)
        object.__setattr__(self, "underlay_ip", addresses.canonical_address(self.underlay_ip))
        object.__setattr__(self, "namespace", self.namespace or None)
        if not 0 < self.underlay_prefix <= 128:
            raise ValueError(f"underlay_prefix out of range: {self.underlay_prefix}")
        if len(self.underlay_bridge) > 15:
            raise ValueError(f"underlay_bridge name too long: {self.underlay_bridge!r}")


@dataclass(frozen=True)
class ApplyResult(Codec):
    """What an ``apply`` achieved. ``wired`` are the ports whose wiring and filtering are in place (ready for the
    guest: Neutron's "port up"); ``errors`` maps a network id to what went wrong there (its ports are not in
    ``wired``), or the id of a leftover network or port that could not be removed. ``stale`` is True when the
    state was older than the one in effect and was ignored; ``generation`` is the generation now in effect.
    ``routers`` are the routers converged without error (their interface and gateway ports are in ``wired``; a
    failing router's error is under its id in ``errors``)."""

    generation: int
    wired: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    stale: bool = False
    routers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "wired", tuple(self.wired))
        object.__setattr__(self, "routers", tuple(self.routers))
        object.__setattr__(self, "errors", dict(self.errors))


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
        underlay address must already be configured. Either way the ``physical_bridges`` exist and are up, the
        external one with ``external_host_address``. Idempotent. Raises DataplaneError.
        """

    @abstractmethod
    def apply(self, wiring: HostWiring) -> ApplyResult:
        """Converge the whole host to ``wiring``: create what is missing, fix what differs, and remove what is not
        in it (network bridges, VXLAN devices and their forwarding entries, port bridges and veths, DHCP
        namespaces and their dnsmasq, firewall rules, router namespaces with their devices, routes and NAT rules).
        Applying the state in effect again only reads.

        Firewall rules are loaded before a port is plugged and a port unknown to the rules carries no traffic, so a
        port is never reachable unfiltered. A failure in one network is reported in ``ApplyResult.errors`` and
        does not stop the others. A state older than the one in effect is ignored (``stale``). A simulated
        host whose namespace was deleted is made again. Raises DataplaneError only when nothing could be done
        (``init_host`` not called, or the host itself cannot be made).
        """

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything this driver created on the host: every network, port, DHCP server and router, the
        firewall tables, the physical networks' bridges it made once unused, and for a namespaced host its underlay
        veth and the namespace itself (the shared underlay bridge too, once no host uses it). Tearing down a host
        that has nothing succeeds; DataplaneError when something could not be removed (after trying everything
        else)."""

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
