"""What the control side asks each host to have: its networks' ports with their rules, every other host's ports
of those networks for L2 population, the other hosts' VTEPs, and the DHCP server on exactly one host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from network import networks, ports, security_group_rules, security_groups, subnets
from network.control import wiring
from network.models import Network, NetworkHost, Port
from network.wire import HostWiring, Rule
from tests.unit.network.records import ALICE, BOB

SETTINGS = Settings()
VTEPS = {"h1": "198.18.0.11", "h2": "198.18.0.12", "h3": "198.18.0.13"}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'wiring.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as session:
        session.add_all(NetworkHost(host=h, underlay_ip=ip, networks=[]) for h, ip in VTEPS.items())
    yield database
    database.dispose()


def network(session, caller=ALICE, cidr="10.0.0.0/24") -> str:
    made = networks.create_network(session, caller, SETTINGS, {"name": "net"})
    subnets.create_subnet(session, caller, {"network_id": made.id, "cidr": cidr})
    return made.id


def server_port(session, network_id: str, host: str | None, caller=ALICE, **attrs) -> Port:
    port = ports.create_port(
        session, caller, {"network_id": network_id, "device_id": f"server-on-{host}", "device_owner": "compute:nova"}
    )
    if host:
        port.binding_host_id = host
    for name, value in attrs.items():
        setattr(port, name, value)
    session.flush()
    return port


def only(state: HostWiring, network_id: str):
    (found,) = [n for n in state.networks if n.network_id == network_id]
    return found


def test_a_host_has_exactly_the_networks_of_the_server_ports_bound_to_it(db):
    with db.session() as session:
        here, elsewhere, unbound = network(session), network(session, cidr="10.1.0.0/24"), network(session)
        server_port(session, here, "h1")
        server_port(session, elsewhere, "h2")
        server_port(session, unbound, None)
        state = wiring.host_wiring(session, "h1")
        assert [n.network_id for n in state.networks] == [here]
        assert wiring.host_wiring(session, "h3").networks == ()


def test_remote_ports_and_vteps_are_the_other_hosts_ports_of_the_network(db):
    with db.session() as session:
        net = network(session)
        a = server_port(session, net, "h1")
        b = server_port(session, net, "h2")
        c = server_port(session, net, "h3")
        state = only(wiring.host_wiring(session, "h1"), net)
        assert [p.port_id for p in state.ports] == [a.id]
        ips = {p.id: p.fixed_ips[0].ip_address for p in (b, c)}
        remote = {(r.mac, r.ip, r.underlay_ip) for r in state.remote if r.ip}
        assert remote == {(b.mac_address, ips[b.id], "198.18.0.12"), (c.mac_address, ips[c.id], "198.18.0.13")}
        assert state.remote_vteps == ("198.18.0.12", "198.18.0.13")
        assert state.vni == session.get_one(Network, net).segmentation_id and state.mtu == 1450


def test_dhcp_is_served_by_the_first_host_by_name_and_known_to_the_others(db):
    with db.session() as session:
        net = network(session)
        first = server_port(session, net, "h1")
        second = server_port(session, net, "h2")
        on_h1 = only(wiring.host_wiring(session, "h1"), net)
        on_h2 = only(wiring.host_wiring(session, "h2"), net)
        assert on_h1.dhcp is not None and on_h2.dhcp is None
        assert on_h1.dhcp.ip == "10.0.0.2" and on_h1.dhcp.subnets[0].cidr == "10.0.0.0/24"
        leases = {(mac, ip) for mac, ip, _ in on_h1.dhcp.hosts}
        assert leases == {(p.mac_address, p.fixed_ips[0].ip_address) for p in (first, second)}
        dhcp_mac = on_h1.dhcp.mac
        assert [(r.ip, r.underlay_ip) for r in on_h2.remote if r.mac == dhcp_mac] == [("10.0.0.2", "198.18.0.11")]
        dhcp_port = session.get(Port, on_h1.dhcp.port_id)
        assert dhcp_port.binding_host_id == "h1"  # shown bound where it is served


def test_rules_are_the_union_of_the_ports_groups_with_remote_groups_resolved_to_member_addresses(db):
    with db.session() as session:
        net = network(session)
        web = security_groups.create_group(session, ALICE, {"name": "web"})
        security_group_rules.create_rule(
            session,
            ALICE,
            {"security_group_id": web.id, "direction": "ingress", "protocol": "tcp",
             "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "192.0.2.0/24"},
        )  # fmt: skip
        default = security_groups.ensure_default(session, "alice")
        a = server_port(session, net, "h1")
        ports.update_port(session, ALICE, a.id, {"security_groups": [default, web.id]})
        b = server_port(session, net, "h2")  # in the default group: its address is a member of the remote group
        state = only(wiring.host_wiring(session, "h1"), net)
        (port,) = state.ports
        members = tuple(sorted([a.fixed_ips[0].ip_address, b.fixed_ips[0].ip_address]))
        assert Rule("ingress", "IPv4", "tcp", 80, 80, ("192.0.2.0/24",)) in port.rules
        assert Rule("ingress", "IPv4", None, None, None, members) in port.rules
        assert Rule("egress", "IPv4") in port.rules and Rule("egress", "IPv6") in port.rules


def test_projects_on_the_same_cidr_get_separate_segments(db):
    with db.session() as session:
        alice = network(session, ALICE)
        bob = network(session, BOB)
        server_port(session, alice, "h1")
        server_port(session, bob, "h1", caller=BOB)
        state = wiring.host_wiring(session, "h1")
        assert {n.network_id for n in state.networks} == {alice, bob}
        assert len({n.vni for n in state.networks}) == 2


def test_a_later_computation_carries_a_later_generation(db):
    with db.session() as session:
        first = wiring.host_wiring(session, "h1")
        second = wiring.host_wiring(session, "h1")
        assert second.generation > first.generation
        assert HostWiring.from_dict(second.to_dict()) == second  # it travels as plain data


def test_dhcp_stays_where_it_runs_when_a_host_earlier_by_name_joins_and_moves_when_its_host_leaves(db):
    with db.session() as session:
        net = network(session)
        on_h2 = server_port(session, net, "h2")
        assert only(wiring.host_wiring(session, "h2"), net).dhcp is not None  # the only host: it serves
        server_port(session, net, "h1")
        assert only(wiring.host_wiring(session, "h1"), net).dhcp is None  # h1 joins: no move
        assert only(wiring.host_wiring(session, "h2"), net).dhcp is not None
        session.delete(on_h2)
        session.flush()
        assert only(wiring.host_wiring(session, "h1"), net).dhcp is not None  # h2 left: h1 takes over
