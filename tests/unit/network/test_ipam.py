from __future__ import annotations

import threading

import pytest

from network import ipam, subnets
from network.exceptions import (
    InvalidAttribute,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
)
from network.models import IPAllocation, Port, Subnet
from tests.unit.network.records import network_row


def test_first_free_skips_blocked_addresses_across_pools_cheaply():
    pools = [(10, 12), (20, 1 << 64)]
    assert ipam.first_free(pools, {10, 12, 21}, 4) == [11, 20, 22, 23]
    assert ipam.first_free([(1, 3)], {1, 2, 3}, 5) == []


def _setup(session, cidr="10.0.0.0/29", **subnet_fields):
    network = network_row()
    session.add(network)
    session.flush()
    subnet = Subnet(network_id=network.id, project_id="alice", **subnets.plan({"cidr": cidr, **subnet_fields}))
    session.add(subnet)
    session.flush()
    return network, subnet


def _port(session, network, number=0):
    port = Port(network_id=network.id, project_id="alice", mac_address=f"fa:16:3e:00:00:{number:02x}")
    session.add(port)
    session.flush()
    return port


def test_addresses_come_from_the_pool_never_twice_never_gateway_network_or_broadcast(db):
    with db.session() as session:
        network, subnet = _setup(session)
        given = [ipam.allocate(session, subnet, _port(session, network, n).id) for n in range(5)]
        assert sorted(given) == [f"10.0.0.{i}" for i in range(2, 7)]
        with pytest.raises(IpAddressGenerationFailure, match=network.id) as raised:
            ipam.allocate(session, subnet, _port(session, network, 9).id)
        assert raised.value.code == 409


def test_lowest_takes_the_first_free_address(db):
    with db.session() as session:
        network, subnet = _setup(session, cidr="10.9.0.0/24")
        port = _port(session, network)
        assert ipam.allocate(session, subnet, port.id, lowest=True) == "10.9.0.2"
        assert ipam.allocate(session, subnet, _port(session, network, 1).id, lowest=True) == "10.9.0.3"
        ipam.release(session, port.id)
        assert ipam.allocate(session, subnet, _port(session, network, 2).id, lowest=True) == "10.9.0.2"


def test_requested_addresses(db):
    with db.session() as session:
        network, subnet = _setup(
            session, cidr="10.0.0.0/24", allocation_pools=[{"start": "10.0.0.50", "end": "10.0.0.60"}]
        )
        first = _port(session, network)
        assert ipam.allocate(session, subnet, first.id, "10.0.0.200") == "10.0.0.200"  # outside the pool is fine
        with pytest.raises(IpAddressAlreadyAllocated, match=r"10\.0\.0\.200"):
            ipam.allocate(session, subnet, _port(session, network, 1).id, "10.0.0.200")
        with pytest.raises(IpAddressAlreadyAllocated):
            ipam.allocate(session, subnet, first.id, "10.0.0.1")  # the gateway is not for ordinary ports
        assert ipam.allocate(session, subnet, first.id, "10.0.0.1", device_owner="network:router_interface")
        for bad in ("10.0.1.5", "10.0.0.0", "10.0.0.255"):
            with pytest.raises(InvalidIpForSubnet) as raised:
                ipam.allocate(session, subnet, first.id, bad)
            assert raised.value.code == 400
        for bad in ("banana", "fd00::1%x", " 10.0.0.7"):  # no address at all: 400 naming the field, as Neutron
            with pytest.raises(InvalidAttribute, match="fixed_ips") as raised:
                ipam.allocate(session, subnet, first.id, bad)
            assert raised.value.code == 400
        # the earlier failures left nothing behind, and the transaction goes on
        assert session.query(IPAllocation).count() == 2


def test_subnet_for_address(db):
    with db.session() as session:
        _network, subnet = _setup(session, cidr="10.0.0.0/24")
        assert ipam.subnet_for_address([subnet], "10.0.0.9") is subnet
        with pytest.raises(InvalidIpForNetwork):
            ipam.subnet_for_address([subnet], "10.1.0.9")


def test_concurrent_allocations_are_duplicate_free_and_exhaust_cleanly(db):
    with db.session() as session:
        network, subnet = _setup(session, cidr="10.0.0.0/26")  # 61 pool addresses
        ports = [_port(session, network, n).id for n in range(70)]
        subnet_id = subnet.id
    given: list[str] = []
    failures: list[BaseException] = []

    def allocate(port_id: str) -> None:
        try:
            with db.session() as session:
                given.append(ipam.allocate(session, session.get_one(Subnet, subnet_id), port_id))
        except IpAddressGenerationFailure as exc:
            failures.append(exc)

    threads = [threading.Thread(target=allocate, args=(port_id,)) for port_id in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(given) == 61 and len(set(given)) == 61 and len(failures) == 9
