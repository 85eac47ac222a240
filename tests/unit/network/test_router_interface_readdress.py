"""A router interface port's fixed IPs change through the ports API, as Neutron allows: the router's host is then
told to answer on the new address (its wiring carries it), under an attachment's rules."""

from __future__ import annotations

import pytest

from network import router_interfaces, subnets
from network.control import wiring
from network.exceptions import BadRouterRequest, RouterInterfaceInUseByFloatingIP, ServicePortInUse
from tests.unit.network.control.test_router_wiring import (  # noqa: F401 - the fixture
    control,
    external_network,
    floating_ip,
    interface,
    only_router,
    router,
    server,
    tenant_network,
)
from tests.unit.network.records import ADMIN, ALICE


def test_a_new_address_on_the_same_subnet_moves_the_routers_interface_and_a_subnet_only_entry_keeps_it(control):  # noqa: F811
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        made = router(session, "h1")
        port = interface(session, made, net, subnet, "10.0.0.1")
        kept = router_interfaces.update_port(session, ADMIN, port.id, {"fixed_ips": [{"subnet_id": subnet}]})
        assert [a.ip_address for a in kept.fixed_ips] == ["10.0.0.1"]
        moved = {"fixed_ips": [{"subnet_id": subnet, "ip_address": "10.0.0.5"}]}
        router_interfaces.update_port(session, ADMIN, port.id, moved)
        wired = only_router(wiring.host_wiring(session, "h1"))
        assert [i.addresses for i in wired.interfaces] == [("10.0.0.5/24",)]
        assert wired.snat_cidrs == ("10.0.0.0/24",)


@pytest.mark.parametrize(
    ("attrs", "refused"),
    [
        ({"fixed_ips": []}, BadRouterRequest),
        ({"fixed_ips": [{"ip_address": "10.0.0.7"}, {"ip_address": "10.0.0.8"}]}, BadRouterRequest),
        ({"mac_address": "fa:16:3e:00:00:01"}, ServicePortInUse),
        ({"device_id": ""}, ServicePortInUse),
    ],
)
def test_an_interface_keeps_one_ipv4_address_and_its_owner_device_and_mac(control, attrs, refused):  # noqa: F811
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        port = interface(session, router(session, "h1"), net, subnet, "10.0.0.1")
        with pytest.raises(refused):
            router_interfaces.update_port(session, ADMIN, port.id, attrs)


def test_an_interface_cannot_leave_a_subnet_a_floating_ip_is_reached_through(control):  # noqa: F811
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        other = subnets.create_subnet(session, ALICE, {"network_id": net, "cidr": "10.0.1.0/24", "enable_dhcp": False})
        public = external_network(session)
        vm = server(session, net, "h1")
        made = router(session, "h2", public)
        port = interface(session, made, net, subnet, "10.0.0.1")
        floating_ip(session, public, vm, made)
        with pytest.raises(RouterInterfaceInUseByFloatingIP):
            router_interfaces.update_port(session, ADMIN, port.id, {"fixed_ips": [{"subnet_id": other.id}]})
