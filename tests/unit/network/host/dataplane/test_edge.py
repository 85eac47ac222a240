"""The edge guard of a bridge holding the machine's address: what it lets in, and that it renders only plain names."""

from __future__ import annotations

import pytest

from network.host.dataplane.linux import edge
from network.host.dataplane.tokens import UnsafeValue


def test_the_guard_lets_in_replies_and_icmp_and_drops_new_connections_and_routing_out_of_the_bridge() -> None:
    script = edge.render("stratus-ex")
    input_chain = script.split("chain input {\n")[1].split("\n\t}\n")[0]
    lines = [line.strip() for line in input_chain.splitlines()]
    assert lines[1:] == [
        'iifname "stratus-ex" ct state established,related accept',
        'iifname "stratus-ex" meta l4proto { icmp, ipv6-icmp } accept',
        'iifname "stratus-ex" drop',
    ]
    assert 'iifname "stratus-ex" oifname != "stratus-ex" drop' in script
    assert script.startswith("table inet stratus-edge-stratus-ex { }\ndelete table inet stratus-edge-stratus-ex\n")


@pytest.mark.parametrize("bridge", ['ex"; flush ruleset', "a b", "-ex", "x" * 16, "", 7])
def test_a_bridge_name_that_is_not_a_plain_interface_name_is_refused(bridge: object) -> None:
    with pytest.raises(UnsafeValue):
        edge.render(bridge)  # type: ignore[arg-type]
