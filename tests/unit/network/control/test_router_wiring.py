"""Routers on hosts, as the control side computes them: where a router runs, what its host must build
(interfaces, gateway, SNAT, routes, floating IPs), what the other hosts of its networks learn about it, and the
sync task that places a router and pushes every host concerned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from network import client, networks, ports, subnets
from network.control import placement, relocation, sync, wiring
from network.control.context import NetworkControl
from network.models import (
    ROUTER_GATEWAY_OWNER,
    ROUTER_INTERFACE_OWNER,
    FloatingIP,
    Network,
    NetworkHost,
    Port,
    Router,
)
from network.states import PortStatus
from network.wire import HostWiring
from tests.unit.network.control.test_sync import RecordingQueue, pushed_hosts
from tests.unit.network.records import ADMIN, ALICE

SETTINGS = Settings(compute_host_down_after=15.0)
VTEPS = {"h1": "198.18.0.11", "h2": "198.18.0.12", "h3": "198.18.0.13"}


@pytest.fixture
def control(tmp_path: Path) -> Iterator[NetworkControl]:
    database = Database(f"sqlite:///{tmp_path / 'routers.db'}")
    Base.metadata.create_all(database.engine)
    now = datetime.now(UTC)
    with database.session() as session:
        session.add_all(NetworkHost(host=h, underlay_ip=ip, networks=[], last_seen=now) for h, ip in VTEPS.items())
    yield NetworkControl(database, RecordingQueue(), SETTINGS)  # type: ignore[arg-type]
    database.dispose()


def tenant_network(session, cidr: str = "10.0.0.0/24") -> tuple[str, str]:
    """(network id, subnet id)."""
    made = networks.create_network(session, ALICE, SETTINGS, {"name": "net"})
    subnet = subnets.create_subnet(session, ALICE, {"network_id": made.id, "cidr": cidr, "enable_dhcp": False})
    return made.id, subnet.id


def external_network(session) -> Network:
    public = Network(
        project_id=ADMIN.project_id,
        name="public",
        mtu=1500,
        network_type="flat",
        physical_network="public",
        router_external=True,
        shared=False,
    )
    session.add(public)
    session.flush()
    subnets.create_subnet(
        session,
        ADMIN,
        {"network_id": public.id, "cidr": "172.24.4.0/24", "gateway_ip": "172.24.4.1", "enable_dhcp": False},
    )
    return public


def server(session, network_id: str, host: str, name: str = "vm") -> Port:
    port = ports.create_port(
        session, ALICE, {"network_id": network_id, "device_id": f"{name}-on-{host}", "device_owner": "compute:nova"}
    )
    port.binding_host_id = host
    session.flush()
    return port


def router(session, host: str = "", public: Network | None = None, **attrs) -> Router:
    made = Router(project_id=ALICE.project_id, name="r", host=host, **{"routes": [], **attrs})
    session.add(made)
    session.flush()
    if public is not None:
        gateway = ports.create_port(
            session, ADMIN, {"network_id": public.id, "device_id": made.id, "device_owner": ROUTER_GATEWAY_OWNER}
        )
        made.gateway_network_id, made.gateway_port_id = public.id, gateway.id
        session.flush()
    return made


def interface(session, made: Router, network_id: str, subnet_id: str, ip: str) -> Port:
    return ports.create_port(
        session,
        ADMIN,
        {
            "network_id": network_id,
            "device_id": made.id,
            "device_owner": ROUTER_INTERFACE_OWNER,
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip}],
        },
    )


def floating_ip(session, public: Network, vm: Port, made: Router, address: str = "172.24.4.50") -> FloatingIP:
    """A floating IP of alice's on ``public``, associated with the server port ``vm`` through ``made``."""
    fip = FloatingIP(
        project_id="alice",
        floating_network_id=public.id,
        floating_ip_address=address,
        port_id=vm.id,
        fixed_ip_address=vm.fixed_ips[0].ip_address,
        router_id=made.id,
    )
    session.add(fip)
    session.flush()
    return fip


def only_router(state: HostWiring):
    (found,) = state.routers
    return found


def test_the_routers_host_gets_its_namespace_and_the_interface_networks_with_the_servers_elsewhere(control):
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        public = external_network(session)
        vm = server(session, net, "h1")
        made = router(session, "h2", public, routes=[{"destination": "192.168.9.0/24", "nexthop": "10.0.0.254"}])
        port = interface(session, made, net, subnet, "10.0.0.1")
        floating_ip(session, public, vm, made)
        state = wiring.host_wiring(session, "h2")
        wired = only_router(state)
        gateway_port = session.get_one(Port, made.gateway_port_id)
        assert [n.network_id for n in state.networks] == [net]
        (network,) = state.networks
        assert network.ports == () and network.remote_vteps == ("198.18.0.11",)
        assert {(r.mac, r.underlay_ip) for r in network.remote} == {(vm.mac_address, "198.18.0.11")}
        assert [(i.port_id, i.network_id, i.mac, i.addresses) for i in wired.interfaces] == [
            (port.id, net, port.mac_address, ("10.0.0.1/24",))
        ]
        assert wired.gateway is not None
        assert (wired.gateway.port_id, wired.gateway.physical_network, wired.gateway.mac) == (
            gateway_port.id,
            "public",
            gateway_port.mac_address,
        )
        assert wired.gateway.addresses == (gateway_port.fixed_ips[0].ip_address + "/24",)
        assert (wired.gateway.gateway_ip, wired.gateway.mtu) == ("172.24.4.1", 1500)
        assert wired.enable_snat and wired.snat_cidrs == ("10.0.0.0/24",)
        assert wired.routes == (("192.168.9.0/24", "10.0.0.254"),)
        assert [(f.floating_ip, f.fixed_ip) for f in wired.floating_ips] == [
            ("172.24.4.50", vm.fixed_ips[0].ip_address)
        ]
        assert {session.get_one(Port, p).binding_host_id for p in (port.id, gateway_port.id)} == {"h2"}


def test_a_server_host_learns_the_router_port_as_a_remote_port_on_the_routers_vtep(control):
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        server(session, net, "h1")
        port = interface(session, router(session, "h3"), net, subnet, "10.0.0.1")
        state = wiring.host_wiring(session, "h1")
        (network,) = state.networks
        assert state.routers == ()
        assert (port.mac_address, "10.0.0.1", "198.18.0.13") in {(r.mac, r.ip, r.underlay_ip) for r in network.remote}
        assert network.remote_vteps == ("198.18.0.13",)
        assert wiring.hosts_of_network(session, net) == {"h1", "h3"}


def test_the_dhcp_server_stays_on_a_server_host_not_on_the_routers_host(control):
    with control.db.session() as session:
        made = networks.create_network(session, ALICE, SETTINGS, {"name": "net"})
        subnet = subnets.create_subnet(session, ALICE, {"network_id": made.id, "cidr": "10.0.0.0/24"})
        server(session, made.id, "h2")
        interface(session, router(session, "h1"), made.id, subnet.id, "10.0.0.1")
        assert only_router_network(wiring.host_wiring(session, "h1")).dhcp is None
        assert only_router_network(wiring.host_wiring(session, "h2")).dhcp is not None


def only_router_network(state: HostWiring):
    (network,) = state.networks
    return network


def test_floating_ips_need_a_gateway_and_an_associated_port(control):
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        public = external_network(session)
        vm = server(session, net, "h1")
        without_gateway = router(session, "h1")
        interface(session, without_gateway, net, subnet, "10.0.0.1")
        for address, port_id, router_id in (("172.24.4.60", vm.id, without_gateway.id), ("172.24.4.61", None, None)):
            session.add(
                FloatingIP(
                    project_id="alice",
                    floating_network_id=public.id,
                    floating_ip_address=address,
                    port_id=port_id,
                    fixed_ip_address=vm.fixed_ips[0].ip_address if port_id else None,
                    router_id=router_id,
                )
            )
        session.flush()
        wired = only_router(wiring.host_wiring(session, "h1"))
        assert wired.gateway is None and wired.floating_ips == ()


def test_a_router_with_a_value_the_dataplane_refuses_is_left_out_and_the_host_is_still_wired(control):
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        server(session, net, "h1")
        bad = router(session, "h1", routes=[{"destination": "10.9.0.0/16; flush ruleset", "nexthop": "10.0.0.9"}])
        interface(session, bad, net, subnet, "10.0.0.1")
        state = wiring.host_wiring(session, "h1")
        assert state.routers == () and [n.network_id for n in state.networks] == [net]


def test_an_administratively_down_router_runs_nowhere(control):
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        interface(session, router(session, "h2", admin_state_up=False), net, subnet, "10.0.0.1")
        state = wiring.host_wiring(session, "h2")
        assert (state.routers, state.networks) == ((), ())


def test_placement_keeps_a_live_host_and_otherwise_takes_the_least_loaded_live_host_by_name(control):
    with control.db.session() as session:
        router(session, "h1")
        router(session, "h1")
        router(session, "h3")
        live = {"h1", "h2", "h3"}
        assert placement.choose_host(session, "h1", live) == "h1"
        assert placement.choose_host(session, "", live) == "h2"
        router(session, "h2")
        assert placement.choose_host(session, "", live) == "h2"  # h2 and h3 run one each: the first by name
        assert placement.choose_host(session, "h1", {"h3"}) == "h3"
        assert placement.choose_host(session, "h1", set()) == ""


def test_sync_router_places_it_binds_its_ports_and_pushes_its_host_and_its_networks_hosts(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    with control.db.session() as session:
        router(session, "h1")  # h1 already runs one
        net, subnet = tenant_network(session)
        public = external_network(session)
        server(session, net, "h3")
        made = router(session, "", public)
        port_id = interface(session, made, net, subnet, "10.0.0.1").id
        router_id, gateway_id = made.id, made.gateway_port_id
    assert sync.sync_router(control, router_id) == ["h2", "h3"]
    assert pushed_hosts(queue) == ["h2", "h3"]
    with control.db.session() as session:
        assert session.get_one(Router, router_id).host == "h2"
        for port in (session.get_one(Port, port_id), session.get_one(Port, gateway_id)):
            assert (port.binding_host_id, port.status) == ("h2", PortStatus.DOWN)
        assert session.get_one(NetworkHost, "h2").routers == [router_id]


def test_a_deleted_router_is_pushed_to_the_host_that_last_had_it(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    with control.db.session() as session:
        router_id = router(session, "h3").id
    sync.sync_router(control, router_id)
    queue.sent.clear()
    with control.db.session() as session:
        session.delete(session.get_one(Router, router_id))
    assert sync.sync_router(control, router_id) == ["h3"]
    (pushed,) = queue.named(client.AGENT_APPLY)
    assert pushed[0] == "h3" and HostWiring.from_dict(pushed[1]).routers == ()
    with control.db.session() as session:
        assert session.get_one(NetworkHost, "h3").routers == []


def test_routers_on_a_down_host_move_to_a_live_one_and_both_hosts_are_pushed(control):
    queue: RecordingQueue = control.app  # type: ignore[assignment]
    with control.db.session() as session:
        router_id = router(session, "h1").id
    sync.sync_router(control, router_id)
    queue.sent.clear()
    with control.db.session() as session:
        session.get_one(NetworkHost, "h1").last_seen = datetime.now(UTC) - timedelta(minutes=5)
    assert relocation.move_routers_from_down_hosts(control) == [router_id]
    assert pushed_hosts(queue) == ["h1", "h2"]
    with control.db.session() as session:
        assert session.get_one(Router, router_id).host == "h2"
    assert relocation.move_routers_from_down_hosts(control) == []


def test_floating_ips_are_active_once_their_routers_host_applied_the_router_and_down_otherwise(control):
    with control.db.session() as session:
        net, subnet = tenant_network(session)
        public = external_network(session)
        vm = server(session, net, "h1")
        made = router(session, "h2", public)
        port_id = interface(session, made, net, subnet, "10.0.0.1").id
        fip = floating_ip(session, public, vm, made, "172.24.4.70")
        router_id, fip_id, gateway_id = made.id, fip.id, made.gateway_port_id
    sync.push_host(control, "h2")  # binds the router's ports to its host
    sync.ports_wired(control, "h2", 1, [port_id, gateway_id], {}, routers=[router_id])
    with control.db.session() as session:
        assert session.get_one(FloatingIP, fip_id).status == "ACTIVE"
        assert {p.status for p in session.scalars(select(Port).where(Port.id.in_([port_id, gateway_id])))} == {
            PortStatus.ACTIVE
        }
    sync.ports_wired(control, "h2", 2, [], {router_id: "nft: refused"}, routers=[])
    with control.db.session() as session:
        assert session.get_one(FloatingIP, fip_id).status == "DOWN"
    sync.ports_wired(control, "h2", 3, [], {})  # an agent that reports no routers leaves the status alone
    with control.db.session() as session:
        assert session.get_one(FloatingIP, fip_id).status == "DOWN"
