"""The L3 service layer on a database: flat external networks, a router's gateway and interfaces, extra routes,
and what deleting a server's ports does to their floating IPs (the compute delete path, which has no API
request around it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from common.settings import Settings
from network import floating_ips, networks, ports, router_interfaces, routers, subnets
from network.access import Caller
from network.exceptions import FlatNetworkInUse, InvalidInput, InvalidRoutes, RouterInUse
from network.models import FloatingIP, Port
from tests.unit.network.records import ALICE

SETTINGS = Settings()
ADMIN = Caller(project_id="admin", is_admin=True)


@pytest.mark.parametrize(
    ("mapping", "names"),
    [
        ("public:stratus-ex", ["public"]),
        ("public:br-ex, lab:br-lab", ["public", "lab"]),
        ("", []),
        ("public:stratus-ex,", ["public"]),
    ],
)
def test_physical_networks_are_the_names_of_the_bridge_mapping(mapping, names):
    assert networks.physical_networks(Settings(network_physical_bridges=mapping)) == names


def _external(session):
    attrs = {"name": "public", "router:external": True, "provider:network_type": "flat",
             "provider:physical_network": "public"}  # fmt: skip
    network = networks.create_network(session, ADMIN, SETTINGS, attrs)
    subnets.create_subnet(session, ADMIN, {"network_id": network.id, "cidr": "172.24.4.0/24", "enable_dhcp": False})
    session.expire(network, ["subnets"])
    return network


def test_a_physical_network_carries_one_flat_network_without_a_vni(db):
    with db.session() as session:
        network = _external(session)
        assert (network.network_type, network.segmentation_id, network.physical_network) == ("flat", None, "public")
        assert network.mtu == SETTINGS.network_underlay_mtu
        attrs = {"provider:network_type": "flat", "provider:physical_network": "public"}
        with pytest.raises(FlatNetworkInUse):
            networks.create_network(session, ADMIN, SETTINGS, attrs)
        with pytest.raises(InvalidInput):
            networks.create_network(session, ADMIN, SETTINGS, {**attrs, "provider:physical_network": "elsewhere"})


def test_a_routed_port_keeps_its_floating_ip_until_its_server_is_deleted(db):
    with db.session() as session:
        external = _external(session)
        lan = networks.create_network(session, ALICE, SETTINGS, {"name": "lan"})
        lan_subnet = subnets.create_subnet(session, ALICE, {"network_id": lan.id, "cidr": "10.0.0.0/24"})
        router = routers.create_router(
            session, ALICE, {"name": "r", "external_gateway_info": {"network_id": external.id}}
        )
        router_interfaces.add_interface(session, ALICE, router.id, subnet_id=lan_subnet.id)
        vm = ports.create_port(
            session, ALICE, {"network_id": lan.id, "device_id": "server-1", "device_owner": "compute:nova"}
        )
        fip = floating_ips.create_floating_ip(session, ALICE, {"floating_network_id": external.id, "port_id": vm.id})
        assert (fip.router_id, fip.fixed_ip_address) == (router.id, vm.fixed_ips[0].ip_address)
        with pytest.raises(RouterInUse):
            routers.delete_router(session, ALICE, router.id)

        assert ports.floating_ip_routers(session, [vm.id]) == [router.id]
        assert ports.delete_device_ports(session, "server-1", "alice") == [lan.id]
        session.expire_all()
        fip = session.get_one(FloatingIP, fip.id)
        assert (fip.port_id, fip.fixed_ip_address, fip.router_id, fip.status) == (None, None, None, "DOWN")

        router_interfaces.remove_interface(session, ALICE, router.id, subnet_id=lan_subnet.id)
        assert routers.delete_router(session, ALICE, router.id) == external.id
        left = session.scalars(select(Port.device_owner).where(Port.device_id == router.id)).all()
        assert left == []


def test_extra_routes_need_a_nexthop_on_the_routers_subnets(db):
    with db.session() as session:
        lan = networks.create_network(session, ALICE, SETTINGS, {"name": "lan"})
        lan_subnet = subnets.create_subnet(session, ALICE, {"network_id": lan.id, "cidr": "10.0.0.0/24"})
        router = routers.create_router(session, ALICE, {"name": "r"})
        with pytest.raises(InvalidRoutes):  # no subnet yet: nothing is connected
            routers.check_routes(session, router, [{"destination": "192.168.0.0/24", "nexthop": "10.0.0.5"}])
        router_interfaces.add_interface(session, ALICE, router.id, subnet_id=lan_subnet.id)
        given = [
            {"destination": "192.168.0.0/24", "nexthop": "10.0.0.5"},
            {"destination": "192.168.0.0/24", "nexthop": "10.0.0.5"},
            {"destination": "0.0.0.0/0", "nexthop": "10.0.0.6"},
        ]
        assert routers.check_routes(session, router, given) == [given[0], given[2]]  # duplicates dropped
        for bad in ({"destination": "192.168.0.1/24", "nexthop": "10.0.0.5"},
                    {"destination": "192.168.0.0/24", "nexthop": "10.0.0.1"},
                    {"destination": "192.168.0.0/24", "nexthop": "fe80::1"}):  # fmt: skip
            with pytest.raises(InvalidRoutes):
                routers.check_routes(session, router, [bad])
