"""QoS bandwidth limits of VM ports, as tc token-bucket (``tbf``) qdiscs on the port's veth ends.

Where. A VM port's traffic crosses the veth ``qvb<id11>`` (root namespace, in the port bridge with the guest's tap)
↔ ``qvo<id11>`` (host namespace, in the network bridge). What the VM sends leaves through ``qvb``'s transmit side,
what it receives through ``qvo``'s; so Neutron's ``egress`` rule (from the VM) is a root ``tbf`` on ``qvb`` and its
``ingress`` rule (to the VM) a root ``tbf`` on ``qvo``. Both devices are the dataplane's own: they exist as long as
the port is wired and outlive the guest's tap, which libvirt deletes and makes again on every stop and start, so
the shaping survives them without the agent reacting to guests. Shaping on the transmit side also needs only
``sch_tbf``: Neutron's linuxbridge agent polices the tap's ingress instead, with ``act_police``, which kernels
built without it (this project's machines) cannot do; and a shaper queues where a policer drops, which TCP
takes better.

How much. ``max_kbps`` is kilobits (1000 bits) per second; the burst is ``max_burst_kbps`` kilobits, or 80% of one
second at the rate when 0 (Neutron's default, "works for typical TCP traffic"), at least one full frame of the
network's MTU (a frame larger than the bucket would never pass) and at most what tc can hold: 30 seconds at the rate
and 2^32-1 bytes. ``max_kbps`` 0 means no limit.

Idempotent. Each apply reads every root qdisc of a namespace with one ``tc -j qdisc show``; a device whose ``tbf``
already has the wanted rate and burst (tc stores the burst as time, so it reads back within about a microsecond
at the rate) is left alone, one that should have none loses it, and only the differences are written. Arguments
are rendered from typed integers and checked device names only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from network.devicenames import vif_names
from network.host.dataplane import tokens
from network.host.dataplane.linux.runner import Runner
from network.wire import MAX_KBPS, BandwidthLimit, PortWiring

LATENCY_US = 50_000
"""How long a packet may wait in the bucket's queue (Neutron's tbf latency, 50 ms)."""
DEFAULT_BURST_PERCENT = 80
MAX_BURST_SECONDS = 30
MAX_BURST_BYTES = (1 << 32) - 1
ETHERNET_HEADER = 14
MAX_RATE_BYTES = MAX_KBPS * 125


@dataclass(frozen=True)
class Shape:
    """A token bucket: ``rate`` bytes per second, ``burst`` bytes."""

    rate: int
    burst: int

    def __post_init__(self) -> None:
        tokens.number(self.rate, 1, MAX_RATE_BYTES)
        tokens.number(self.burst, 1, MAX_BURST_BYTES)

    def matches(self, rate: int, burst: int) -> bool:
        """Whether a qdisc read back (``rate``, ``burst``) is this one: the burst within 2 µs at the rate."""
        return rate == self.rate and abs(burst - self.burst) <= self.rate // 500_000 + 2


def shape(limit: BandwidthLimit, mtu: int) -> Shape | None:
    """The bucket of one rule on a network of ``mtu`` (None: ``max_kbps`` 0, no limit)."""
    if limit.max_kbps == 0:
        return None
    rate = limit.max_kbps * 125
    burst_kbit = limit.max_burst_kbps or limit.max_kbps * DEFAULT_BURST_PERCENT // 100
    burst = max(burst_kbit * 125, mtu + ETHERNET_HEADER)
    return Shape(rate=rate, burst=min(burst, rate * MAX_BURST_SECONDS, MAX_BURST_BYTES))


def port_shapes(port: PortWiring, mtu: int) -> tuple[tuple[str, Shape | None], tuple[str, Shape | None]]:
    """(qvb, its bucket) for what the VM sends and (qvo, its bucket) for what it receives; None: unshaped."""
    names = vif_names(port.port_id)
    wanted: dict[str, Shape | None] = {"egress": None, "ingress": None}
    for limit in port.bandwidth:
        wanted[limit.direction] = shape(limit, mtu)
    return (names.qvb, wanted["egress"]), (names.qvo, wanted["ingress"])


def replace_args(device: str, bucket: Shape) -> list[str]:
    """``tc qdisc replace``: the device's root qdisc becomes this bucket (made or changed in one command)."""
    return [
        "tc",
        "qdisc",
        "replace",
        "dev",
        tokens.ifname(device),
        "root",
        "tbf",
        "rate",
        f"{tokens.number(bucket.rate * 8, 8, MAX_RATE_BYTES * 8)}bit",
        "burst",
        tokens.number(bucket.burst, 1, MAX_BURST_BYTES),
        "latency",
        f"{tokens.number(LATENCY_US, 1, 10_000_000)}us",
    ]


def delete_args(device: str) -> list[str]:
    """``tc qdisc del``: the device's root qdisc goes back to the kernel's default."""
    return ["tc", "qdisc", "del", "dev", tokens.ifname(device), "root"]


def read(runner: Runner, netns: str | None) -> dict[str, tuple[int, int]]:
    """The root ``tbf`` qdiscs of a namespace: device -> (rate bytes/s, burst bytes), one command."""
    found: dict[str, tuple[int, int]] = {}
    for qdisc in runner.read_json(["tc", "-j", "qdisc", "show"], netns):
        if _is_root_tbf(qdisc):
            options = qdisc.get("options") or {}
            found[str(qdisc.get("dev"))] = (int(options.get("rate", 0)), int(options.get("burst", 0)))
    return found


def _is_root_tbf(qdisc: Mapping[str, Any]) -> bool:
    return qdisc.get("kind") == "tbf" and bool(qdisc.get("root"))


def converge(
    runner: Runner, netns: str | None, wanted: Iterable[tuple[str, Shape | None]], actual: Mapping[str, tuple[int, int]]
) -> list[str]:
    """Give each device its bucket (or none), writing only what differs from ``actual`` (``read``'s answer, from
    before devices made since lost theirs). Returns the devices written to."""
    written = []
    for device, bucket in wanted:
        current = actual.get(device)
        if bucket is not None and (current is None or not bucket.matches(*current)):
            runner.write(replace_args(device, bucket), netns)
            written.append(device)
        elif bucket is None and current is not None:
            runner.write(delete_args(device), netns)
            written.append(device)
    return written


def converge_port(
    runner: Runner,
    port: PortWiring,
    mtu: int,
    namespaces: Sequence[str | None],
    actual: Sequence[Mapping[str, tuple[int, int]]],
) -> None:
    """Shape one VM port: ``namespaces`` are (root, host) and ``actual`` what ``read`` found in each."""
    (qvb, egress), (qvo, ingress) = port_shapes(port, mtu)
    converge(runner, namespaces[0], [(qvb, egress)], actual[0])
    converge(runner, namespaces[1], [(qvo, ingress)], actual[1])
