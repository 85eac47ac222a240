"""The tc renderer of QoS bandwidth limits: which device each direction shapes, the bucket's numbers (Neutron's 80%
default burst, a frame at least, what tc can hold at most), arguments made of checked names and integers only,
and a converge that writes only differences (a fake runner records what would run)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from network.host.dataplane.linux import shaping
from network.host.dataplane.linux.runner import Command, Runner
from network.host.dataplane.tokens import UnsafeValue
from network.wire import BandwidthLimit, PortWiring

PORT_ID = "5f126d84-551a-4dcf-bb01-0e9c0df0c793"


class RecordingRunner(Runner):
    """Runs nothing: journals the commands (the real runner's journal) and answers reads with ``qdiscs``."""

    def __init__(self, qdiscs: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.qdiscs = qdiscs or []

    def run(self, argv, netns=None, *, write, input=None, check=True):  # type: ignore[no-untyped-def]
        self._record(Command(tuple(argv), netns, write))
        return subprocess.CompletedProcess(list(argv), 0, "" if write else json.dumps(self.qdiscs), "")


def runner(qdiscs: list[dict[str, Any]] | None = None) -> RecordingRunner:
    return RecordingRunner(qdiscs)


def port(*limits: BandwidthLimit) -> PortWiring:
    return PortWiring(port_id=PORT_ID, mac="fa:16:3e:00:00:01", bandwidth=limits)


def test_egress_shapes_the_vm_side_veth_and_ingress_the_network_side_one():
    (qvb, egress), (qvo, ingress) = shaping.port_shapes(
        port(BandwidthLimit("egress", 1000, 800), BandwidthLimit("ingress", 2000)), 1450
    )
    assert (qvb, qvo) == ("qvb5f126d84-55", "qvo5f126d84-55")
    assert egress == shaping.Shape(rate=125_000, burst=100_000)  # 1000 kbit/s, 800 kbit
    assert ingress == shaping.Shape(rate=250_000, burst=200_000)  # burst 0: 80% of a second at the rate


def test_no_rule_and_a_zero_rate_leave_a_direction_unshaped():
    assert shaping.port_shapes(port(), 1450) == (("qvb5f126d84-55", None), ("qvo5f126d84-55", None))
    assert shaping.shape(BandwidthLimit("egress", 0, 500), 1450) is None


def test_the_burst_holds_a_frame_and_never_more_than_tc_can_store():
    assert shaping.shape(BandwidthLimit("egress", 8), 1450) == shaping.Shape(rate=1000, burst=1464)
    assert shaping.shape(BandwidthLimit("egress", 1, 2_147_483_647), 1450) == shaping.Shape(rate=125, burst=3750)
    huge = shaping.shape(BandwidthLimit("egress", 2_147_483_647, 2_147_483_647), 1450)
    assert huge is not None and huge.burst == (1 << 32) - 1


def test_the_tc_arguments_are_names_and_integers_with_fixed_units():
    argv = shaping.replace_args("qvb5f126d84-55", shaping.Shape(rate=125_000, burst=100_000))
    assert argv == [
        "tc", "qdisc", "replace", "dev", "qvb5f126d84-55", "root", "tbf",
        "rate", "1000000bit", "burst", "100000", "latency", "50000us",
    ]  # fmt: skip
    assert shaping.delete_args("qvo5f126d84-55") == ["tc", "qdisc", "del", "dev", "qvo5f126d84-55", "root"]


@pytest.mark.parametrize("device", ["qvb x", "-qvb", "qvb;reboot", "a-device-name-too-long", 7])
def test_a_device_that_is_no_plain_interface_name_is_refused(device: Any):
    with pytest.raises(UnsafeValue):
        shaping.replace_args(device, shaping.Shape(rate=125, burst=1600))
    with pytest.raises(UnsafeValue):
        shaping.delete_args(device)


@pytest.mark.parametrize("value", [True, -1, 0, 1 << 40, "1000", 1.5])
def test_a_bucket_takes_positive_integers_only(value: Any):
    with pytest.raises(UnsafeValue):
        shaping.Shape(rate=value, burst=1600)
    with pytest.raises(UnsafeValue):
        shaping.Shape(rate=125, burst=value)


@pytest.mark.parametrize("value", [True, -1, 2_147_483_648, "1000", 1.0])
def test_the_desired_state_refuses_a_rate_that_is_no_integer_in_neutrons_range(value: Any):
    with pytest.raises(ValueError):
        BandwidthLimit("egress", value)
    with pytest.raises(ValueError):
        BandwidthLimit("egress", 1000, value)


def test_the_desired_state_refuses_an_unknown_direction_and_two_limits_of_one():
    with pytest.raises(ValueError):
        BandwidthLimit("sideways", 1000)
    with pytest.raises(ValueError):
        port(BandwidthLimit("egress", 1000), BandwidthLimit("egress", 2000))


def test_reading_keeps_root_token_buckets_only():
    found = runner(
        [
            {"kind": "tbf", "handle": "8001:", "dev": "qvbA", "root": True, "options": {"rate": 125, "burst": 1599}},
            {"kind": "noqueue", "handle": "0:", "dev": "qvoA", "root": True, "options": {}},
            {"kind": "tbf", "handle": "10:", "dev": "qvoB", "parent": "1:1", "options": {"rate": 9, "burst": 9}},
            {"kind": "ingress", "handle": "ffff:", "dev": "qvbA", "parent": "ffff:fff1", "options": {}},
        ]
    )
    assert shaping.read(found, "host-ns") == {"qvbA": (125, 1599)}
    assert [str(command) for command in found.commands()] == ["[host-ns] tc -j qdisc show"]


def test_a_bucket_in_place_is_left_alone_a_different_one_replaced_and_an_unwanted_one_removed():
    bucket = shaping.Shape(rate=125_000, burst=100_000)
    tc = runner()
    actual = {"same": (125_000, 99_999), "stale": (125_000, 50_000), "gone": (1000, 1600)}
    wanted = [("same", bucket), ("stale", bucket), ("gone", None), ("bare", None), ("new", bucket)]
    assert shaping.converge(tc, None, wanted, actual) == ["stale", "gone", "new"]
    assert [command.argv[2] for command in tc.writes()] == ["replace", "del", "replace"]
    assert shaping.converge(runner(), None, [("same", bucket)], {"same": (125_000, 100_000)}) == []
