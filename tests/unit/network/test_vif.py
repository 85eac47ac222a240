"""network.vif, compute's in-process interface to ports: a server's ports are made, claimed and freed inside
compute's transaction, cross the boundary as values, and only the server's own project's ports are its."""

from __future__ import annotations

from common.settings import Settings
from network import networks, subnets, vif
from network.models import Port
from tests.unit.network.records import ALICE, BOB

SETTINGS = Settings()


def _network(session, caller=ALICE, cidr="10.0.0.0/24") -> str:
    network = networks.create_network(session, caller, SETTINGS, {"name": "net"})
    subnets.create_subnet(session, caller, {"network_id": network.id, "cidr": cidr})
    return network.id


def test_release_deletes_the_ports_the_server_made_and_only_detaches_the_one_the_user_brought(db):
    with db.session() as session:
        network_id = _network(session)
        groups = vif.security_group_ids(session, "alice", ["default"])
        made = vif.create_port(session, ALICE, network_id, "vm", "compute:nova", groups, fixed_ip="10.0.0.9")
        own = Port(network_id=network_id, project_id="alice", mac_address="fa:16:3e:00:00:01", device_owner="")
        session.add(own)
        session.flush()
        brought = vif.claim_port(session, ALICE, own.id, "vm", "compute:nova")
        assert isinstance(made, vif.VifPort) and brought.device_id == "vm"

        assert vif.release_ports(session, "vm", "alice", preserved=[brought.id]) == [network_id]
        assert session.get(Port, made.id) is None
        kept = session.get_one(Port, brought.id)
        assert (kept.device_id, kept.device_owner, kept.status) == ("", "", "DOWN")
        assert vif.release_ports(session, "vm", "alice", preserved=[]) == []  # a second release finds nothing


def test_a_server_shows_only_addresses_of_ports_of_its_own_project(db):
    with db.session() as session:
        alice_net = _network(session, ALICE)
        bob_net = _network(session, BOB, cidr="10.1.0.0/24")
        vif.create_port(session, ALICE, alice_net, "vm", "compute:nova", [], fixed_ip="10.0.0.9")
        vif.create_port(session, BOB, bob_net, "vm", "", [])  # Bob names Alice's server on his own port
        found = vif.fixed_addresses(session, {"vm": "alice"})
    assert [(a.device_id, a.network_id, a.ip_address) for a in found] == [("vm", alice_net, "10.0.0.9")]


def test_auto_networks_are_the_projects_own_and_shared_ones(db):
    with db.session() as session:
        own = _network(session, ALICE)
        _network(session, BOB, cidr="10.1.0.0/24")
        assert vif.auto_network_ids(session, "alice") == [own]
