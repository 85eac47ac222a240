"""No user string reaches the host as syntax, two lines deep.

1. The desired-state types (what a task carries to a host agent) refuse a hostile address, MAC, id or host name
   when they are built, so a forged or stale task fails before any renderer runs.
2. Each renderer (the nftables script, dnsmasq's configuration and hosts file, ``bridge fdb`` arguments, every
   command line) checks each value again as it writes it: a value forced into an already-built object (bypassing
   the first line) raises ``UnsafeValue`` and nothing is written or run.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.host.dataplane import tokens
from network.host.dataplane.base import HostUnderlay
from network.host.dataplane.linux import dnsmasq, fdb, firewall, sgrules
from network.host.dataplane.linux.nftables import Firewall
from network.host.dataplane.linux.runner import Command, Runner
from network.wire import DhcpSubnet, DhcpWiring, NetworkWiring, PortWiring, RemotePort, Rule
from tests.hostile import INJECTIONS, ISSUE_VALUE, SETTINGS, hostile_addresses, hostile_names
from tests.unit.network.host.dataplane.test_dnsmasq import DHCP, FILES
from tests.unit.network.host.dataplane.test_firewall import FILTERED, NETWORKS, on_one_network

NET = "3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10"
PORT = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"
MAC = "fa:16:3e:00:00:01"


def _forged(value: Any, **fields: Any) -> Any:
    """A copy of a built (checked) value with ``fields`` set behind its back, as a bug or a forged task would."""
    copy = dataclasses.replace(value)
    for name, field_value in fields.items():
        object.__setattr__(copy, name, field_value)
    return copy


def _builders(hostile: str) -> list[Any]:
    """Every place of the desired state that holds an address, a MAC, an id or a host name, given ``hostile``."""
    return [
        lambda: Rule("ingress", "IPv6", remote_ips=(hostile,)),
        lambda: Rule("ingress", "IPv4", protocol=hostile),
        lambda: PortWiring(PORT, hostile),
        lambda: PortWiring(PORT, MAC, ips=(hostile,)),
        lambda: PortWiring(PORT, MAC, allowed_pairs=((MAC, hostile),)),
        lambda: PortWiring(PORT, MAC, allowed_pairs=((hostile, "10.0.0.9"),)),
        lambda: PortWiring(PORT[:11] + hostile, MAC),
        lambda: RemotePort(MAC, hostile, "192.0.2.1"),
        lambda: RemotePort(MAC, "10.0.0.5", hostile),
        lambda: DhcpSubnet(hostile),
        lambda: DhcpSubnet("10.0.0.0/24", gateway_ip=hostile),
        lambda: DhcpSubnet("10.0.0.0/24", dns_nameservers=(hostile,)),
        lambda: DhcpSubnet("10.0.0.0/24", host_routes=((hostile, "10.0.0.1"),)),
        lambda: DhcpSubnet("10.0.0.0/24", host_routes=(("10.1.0.0/16", hostile),)),
        lambda: DhcpWiring(PORT, MAC, hostile),
        lambda: DhcpWiring(PORT, MAC, "10.0.0.2", extra_ips=(hostile,)),
        lambda: DhcpWiring(PORT, MAC, "10.0.0.2", hosts=((MAC, hostile, ""),)),
        lambda: DhcpWiring(PORT, MAC, "10.0.0.2", hosts=((MAC, "10.0.0.5", "a" + hostile),)),
        lambda: NetworkWiring(NET[:11] + hostile, 1001),
        lambda: NetworkWiring(NET, 1001, remote_vteps=(hostile,)),
        lambda: HostUnderlay(hostile),
    ]


@pytest.mark.parametrize("index", range(len(_builders(""))))
def test_the_desired_state_refuses_every_injection(index: int) -> None:
    for value in INJECTIONS:
        with pytest.raises(ValueError):
            _builders(value)[index]()


@SETTINGS
@given(st.one_of(hostile_addresses(), hostile_names()))
def test_the_desired_state_keeps_nothing_but_plain_text(value: str) -> None:
    for build in _builders(value):
        try:
            built = build()
        except (ValueError, TypeError):
            continue
        for text in _strings(built.to_dict()):
            assert tokens.argument(text) == text and "%" not in text and " " not in text, (value, built)


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for item in data.values() for s in _strings(item)]
    if isinstance(data, list | tuple):
        return [s for item in data for s in _strings(item)]
    return []


# --- the renderers, behind the types' back ----------------------------------------------------------------


def test_the_issues_prefix_forced_into_a_rule_never_reaches_the_nftables_script() -> None:
    with pytest.raises(ValueError):
        Rule("ingress", "IPv6", remote_ips=(ISSUE_VALUE,))
    for value in INJECTIONS:
        rule = _forged(Rule("ingress", "IPv6", "tcp", 22), remote_ips=(value,))
        with pytest.raises((tokens.UnsafeValue, ValueError)):
            sgrules.render(rule, "accept")
        port = _forged(FILTERED, rules=(rule,))
        with pytest.raises((tokens.UnsafeValue, ValueError)):
            firewall.render(on_one_network(port))


def _firewall_forgeries(hostile: str) -> list[Any]:
    return [
        lambda: _forged(FILTERED, ips=(hostile,)),
        lambda: _forged(FILTERED, mac=hostile),
        lambda: _forged(FILTERED, allowed_pairs=((MAC, hostile),)),
        lambda: _forged(FILTERED, allowed_pairs=((hostile, "10.0.0.9"),)),
        lambda: _forged(FILTERED, port_id=PORT[:8] + hostile),
        lambda: _forged(FILTERED, rules=(_forged(Rule("egress", "IPv4", "tcp", 22), protocol=hostile),)),
        lambda: _forged(FILTERED, rules=(_forged(Rule("egress", "IPv4", "icmp", 3), port_min=hostile),)),
        lambda: _forged(FILTERED, rules=(_forged(Rule("egress", "IPv4", "udp", 53), port_max=hostile),)),
    ]


@SETTINGS
@given(st.one_of(hostile_addresses(), hostile_names(), st.sampled_from(INJECTIONS)))
def test_a_hostile_value_in_any_place_of_a_port_is_refused_or_rendered_plain(value: str) -> None:
    for forge in _firewall_forgeries(value):
        try:
            script = firewall.render(on_one_network(forge()))
        except (tokens.UnsafeValue, ValueError, KeyError, TypeError):
            continue
        assert script is not None and firewall.check_script(script) == script  # only what we write, nothing of theirs


def test_the_whole_script_is_checked_once_more() -> None:
    script = firewall.render(NETWORKS)
    assert script is not None and firewall.check_script(script) == script
    for line in ('include "/etc/shadow"', "flush ruleset # x", "define x = 1", "add rule $x", "ip saddr fd00::1%x"):
        with pytest.raises(tokens.UnsafeValue, match="firewall script"):
            firewall.check_script(script + line + "\n")


def _dhcp_forgeries(hostile: str) -> list[Any]:
    subnet = DHCP.subnets[0]
    return [
        lambda: _forged(DHCP, subnets=(_forged(subnet, cidr=hostile),)),
        lambda: _forged(DHCP, subnets=(_forged(subnet, gateway_ip=hostile),)),
        lambda: _forged(DHCP, subnets=(_forged(subnet, dns_nameservers=(hostile,)),)),
        lambda: _forged(DHCP, subnets=(_forged(subnet, host_routes=((hostile, "10.0.0.1"),)),)),
        lambda: _forged(DHCP, subnets=(_forged(subnet, host_routes=(("10.1.0.0/16", hostile),)),)),
        lambda: _forged(DHCP, hosts=((MAC, hostile, ""),)),
        lambda: _forged(DHCP, hosts=((hostile, "10.0.0.5", ""),)),
        lambda: _forged(DHCP, mtu=hostile),
        lambda: _forged(DHCP, lease_time=hostile),
    ]


@SETTINGS
@given(st.one_of(hostile_addresses(), hostile_names(), st.sampled_from(INJECTIONS)))
def test_a_hostile_value_never_adds_a_line_to_dnsmasqs_files(value: str) -> None:
    expected_config = dnsmasq.render_config(DHCP, FILES, "ns-9d2e1a7c-5b").count("\n")
    expected_hosts = dnsmasq.render_hosts(DHCP).count("\n")
    for forge in _dhcp_forgeries(value):
        wiring = forge()
        try:
            config, hosts = dnsmasq.render_config(wiring, FILES, "ns-9d2e1a7c-5b"), dnsmasq.render_hosts(wiring)
        except (tokens.UnsafeValue, ValueError, TypeError):
            continue
        assert config.count("\n") == expected_config and hosts.count("\n") <= expected_hosts
        assert all(tokens.argument(line) == line for line in (config + hosts).splitlines())


def test_hostile_host_names_are_left_out_of_the_hosts_file_and_interfaces_refused() -> None:
    for name in ("vm\ndhcp-script=/bin/sh", "vm,ignore", "vm 1", "-vm"):
        wiring = _forged(DHCP, hosts=(("fa:16:3e:00:00:05", "10.0.0.5", name),))
        assert dnsmasq.render_hosts(wiring) == "fa:16:3e:00:00:05,10.0.0.5\n"
    for interface in ("ns-x\nconf-file=/etc/shadow", "eth0 ", "-i"):
        with pytest.raises(tokens.UnsafeValue):
            dnsmasq.render_config(DHCP, FILES, interface)
    with pytest.raises(tokens.UnsafeValue):
        dnsmasq.render_config(DHCP, dnsmasq.Files(Path("/srv/x\ndhcp-script=/bin/sh")), "ns-9d2e1a7c-5b")


class _NoRun(Runner):
    """A runner that journals what it is asked to do but neither checks nor runs it: the refusal must come from
    the code that builds the command."""

    def run(self, argv, netns=None, *, write, input=None, check=True):  # type: ignore[no-untyped-def]
        self._record(Command(tuple(argv), netns, write))
        return subprocess.CompletedProcess(list(argv), 0, "", "")


@SETTINGS
@given(st.one_of(hostile_addresses(), hostile_names(), st.sampled_from(INJECTIONS)))
def test_forwarding_entries_take_only_a_mac_an_address_and_a_device(value: str) -> None:
    runner = _NoRun()
    for entry in ((value, "192.0.2.7"), ("fa:16:3e:00:00:05", value)):
        try:
            fdb.converge(runner, None, "vxlan-1001", set(), {entry})
        except tokens.UnsafeValue:
            continue
        (written,) = runner.writes()[-1:]
        assert written.argv[3:] == (entry[0], "dev", "vxlan-1001", "dst", entry[1], "permanent")
    with pytest.raises(tokens.UnsafeValue):
        fdb.converge(runner, None, "vxlan-1001\n", set(), {("fa:16:3e:00:00:05", "192.0.2.7")})


def test_the_runner_refuses_a_control_character_before_running_anything() -> None:
    runner = Runner()
    for argv, netns in ((["ip", "link", "show", "dev", "x\ny"], None), (["ip", "link", "show"], "ns\x00"),
                        (["nft", "list", "tables", "\ud800"], None)):  # fmt: skip
        with pytest.raises(tokens.UnsafeValue):
            runner.run(argv, netns, write=False)
    assert runner.commands() == []


def test_a_port_with_a_hostile_value_is_left_out_and_the_others_keep_their_rules() -> None:
    forged = _forged(FILTERED, rules=(_forged(Rule("ingress", "IPv6"), remote_ips=(ISSUE_VALUE,)),))
    other = NETWORKS[1].ports[0]
    networks = (*on_one_network(forged), NETWORKS[1])
    refused = firewall.refused_ports(networks)
    assert list(refused) == [FILTERED.port_id] and "refusing to render" in refused[FILTERED.port_id]
    script = firewall.render(networks, skip=refused)
    assert script is not None and f"qvo{other.port_id[:11]}" in script and FILTERED.port_id[:11] not in script
    assert script == firewall.render((NETWORKS[1], *on_one_network()))


def test_the_loader_refuses_a_script_with_a_directive_before_running_nft(tmp_path: Path) -> None:
    runner = _NoRun()
    loader = Firewall(runner, "ns-x", tmp_path)
    script = firewall.render(NETWORKS)
    assert script is not None
    with pytest.raises(tokens.UnsafeValue):
        loader.converge(script + 'include "/etc/shadow"\n')
    assert not [c for c in runner.commands() if c.argv[0] == "nft" and c.write]
