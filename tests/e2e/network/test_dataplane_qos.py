"""QoS on a real kernel: the Linux dataplane shapes a port's veth ends with tc token buckets (what the VM sends on
``qvb`` in the root namespace, what it receives on ``qvo`` in the host's), reads them back as ``tc -j`` shows them,
changes them in place, removes them with their rule, and puts back one deleted by hand; every second apply writes
nothing (``Cloud.apply`` checks it). No guest: only the devices the dataplane makes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from network.devicenames import vif_names
from network.wire import BandwidthLimit
from tests.e2e.network.conftest import Cloud, Net, port, sh

pytestmark = pytest.mark.e2e


def buckets(device: str, netns: str | None) -> list[dict]:
    """The device's root qdisc as ``tc -j qdisc show`` reports it, when it is a token bucket."""
    prefix = ["-n", netns] if netns else []
    shown = json.loads(sh("tc", *prefix, "-j", "qdisc", "show", "dev", device).stdout or "[]")
    return [q for q in shown if q.get("kind") == "tbf" and q.get("root")]


def test_a_ports_bandwidth_limits_become_token_buckets_on_its_veth_ends(cloud: Cloud) -> None:
    limits = (BandwidthLimit("egress", 1000, 800), BandwidthLimit("ingress", 2000))
    vm = port("10.0.0.11", bandwidth=limits)
    names, host_ns = vif_names(vm.port_id), cloud.ns("h1")
    net = Net(vni=next(cloud.vnis)).place("h1", vm)
    cloud.apply([net])
    (sent,) = buckets(names.qvb, None)
    (received,) = buckets(names.qvo, host_ns)
    assert (sent["options"]["rate"], sent["options"]["burst"]) == (125_000, 100_000)  # bytes: 1000 kbit/s, 800 kbit
    assert received["options"]["rate"] == 250_000
    assert abs(received["options"]["burst"] - 200_000) <= 2  # 80% of a second; tc keeps it as time

    changed = dataclasses.replace(vm, bandwidth=(BandwidthLimit("egress", 3000, 0),))
    net.placed = [("h1", changed)]
    cloud.apply([net])
    assert buckets(names.qvb, None)[0]["options"]["rate"] == 375_000
    assert buckets(names.qvo, host_ns) == []  # its ingress rule went: the kernel's default qdisc again

    sh("tc", "qdisc", "del", "dev", names.qvb, "root")  # by hand, or a restarted agent finding less than it wants
    cloud.apply([net], generation=cloud.current("h1") + 1)
    assert buckets(names.qvb, None)[0]["options"]["rate"] == 375_000

    net.placed = [("h1", dataclasses.replace(vm, bandwidth=()))]
    cloud.apply([net])
    assert buckets(names.qvb, None) == [] and buckets(names.qvo, host_ns) == []
    cloud.apply([])
