"""The service layer as the compute server-create path uses it: ports with addresses, security groups and the
network's DHCP port, inside the caller's transaction."""

from __future__ import annotations

import pytest

from common.settings import Settings
from network import dhcp, networks, ports, security_groups, subnets
from network.exceptions import (
    AddressPairAndPortSecurityRequired,
    MacAddressInUse,
    NetworkInUse,
    NetworkNotFound,
    PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup,
    SubnetInUse,
)
from network.models import Port, SecurityGroup
from tests.unit.network.records import ALICE, BOB

SETTINGS = Settings()


def _network_with_subnet(session, caller=ALICE, cidr="10.0.0.0/24", **subnet):
    network = networks.create_network(session, caller, SETTINGS, {"name": "net"})
    created = subnets.create_subnet(session, caller, {"network_id": network.id, "cidr": cidr, **subnet})
    return network, created


def test_networks_get_the_vxlan_mtu_and_the_project_a_default_group(db):
    with db.session() as session:
        network = networks.create_network(session, ALICE, SETTINGS, {"name": "n"})
        assert network.mtu == 1450 and network.network_type == "vxlan" and network.segmentation_id >= 1001
        group = session.get_one(SecurityGroup, security_groups.ensure_default(session, "alice"))
        rules = {(r.direction, r.ethertype, r.remote_group_id) for r in group.rules}
        assert group.name == "default" and rules == {
            ("egress", "IPv4", None),
            ("egress", "IPv6", None),
            ("ingress", "IPv4", group.id),
            ("ingress", "IPv6", group.id),
        }


def test_dhcp_port_takes_the_first_pool_address_and_ports_the_default_group(db):
    with db.session() as session:
        network, subnet = _network_with_subnet(session)
        dhcp_port = dhcp.find_port(session, network.id)
        assert dhcp_port is not None and dhcp_port.device_id == f"dhcp-{network.id}"
        assert [a.ip_address for a in dhcp_port.fixed_ips] == ["10.0.0.2"] and dhcp_port.security_group_ids == []
        port = ports.create_port(session, ALICE, {"network_id": network.id, "device_id": "server-1"})
        assert len(port.fixed_ips) == 1 and port.fixed_ips[0].subnet_id == subnet.id
        assert port.fixed_ips[0].ip_address not in ("10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.255")
        assert port.security_group_ids == [security_groups.ensure_default(session, "alice")]
        assert port.mac_address.startswith("fa:16:3e:") and port.status == "DOWN"


def test_port_security_rules(db):
    with db.session() as session:
        network, _subnet = _network_with_subnet(session)
        group = security_groups.create_group(session, ALICE, {"name": "web"})
        with pytest.raises(PortSecurityAndIPRequiredForSecurityGroups):
            ports.create_port(
                session,
                ALICE,
                {"network_id": network.id, "port_security_enabled": False, "security_groups": [group.id]},
            )
        with pytest.raises(AddressPairAndPortSecurityRequired):
            ports.create_port(
                session,
                ALICE,
                {
                    "network_id": network.id,
                    "port_security_enabled": False,
                    "allowed_address_pairs": [{"ip_address": "10.0.0.9"}],
                },
            )
        open_port = ports.create_port(session, ALICE, {"network_id": network.id, "port_security_enabled": False})
        assert open_port.security_group_ids == []
        guarded = ports.create_port(session, ALICE, {"network_id": network.id, "security_groups": [group.id]})
        with pytest.raises(PortSecurityPortHasSecurityGroup):
            ports.update_port(session, ALICE, guarded.id, {"port_security_enabled": False})
        updated = ports.update_port(session, ALICE, guarded.id, {"port_security_enabled": False, "security_groups": []})
        assert updated.security_group_ids == [] and not updated.port_security_enabled


def test_fixed_ip_updates_keep_matching_addresses_and_reallocate_the_rest(db):
    with db.session() as session:
        network, subnet = _network_with_subnet(session)
        port = ports.create_port(session, ALICE, {"network_id": network.id, "fixed_ips": [{"ip_address": "10.0.0.10"}]})
        port = ports.update_port(
            session, ALICE, port.id, {"fixed_ips": [{"subnet_id": subnet.id}, {"ip_address": "10.0.0.20"}]}
        )
        assert [a.ip_address for a in port.fixed_ips] == ["10.0.0.10", "10.0.0.20"]
        port = ports.update_port(session, ALICE, port.id, {"fixed_ips": [{"ip_address": "10.0.0.30"}]})
        assert [a.ip_address for a in port.fixed_ips] == ["10.0.0.30"]
        other = ports.create_port(
            session, ALICE, {"network_id": network.id, "fixed_ips": [{"ip_address": "10.0.0.10"}]}
        )
        assert other.fixed_ips[0].ip_address == "10.0.0.10"  # freed by the update


def test_duplicate_mac_and_other_projects_networks(db):
    with db.session() as session:
        network, _subnet = _network_with_subnet(session)
        first = ports.create_port(session, ALICE, {"network_id": network.id})
        with pytest.raises(MacAddressInUse):
            ports.create_port(session, ALICE, {"network_id": network.id, "mac_address": first.mac_address.upper()})
        with pytest.raises(NetworkNotFound):
            ports.create_port(session, BOB, {"network_id": network.id})
        networks.update_network(session, ALICE, SETTINGS, network.id, {"shared": True})
        assert ports.create_port(session, BOB, {"network_id": network.id}).project_id == "bob"


def test_in_use_subnets_and_networks_cannot_go_but_the_dhcp_port_does_not_count(db):
    with db.session() as session:
        network, subnet = _network_with_subnet(session)
        port = ports.create_port(session, ALICE, {"network_id": network.id, "device_id": "vm"})
        with pytest.raises(SubnetInUse):
            subnets.delete_subnet(session, ALICE, subnet.id)
        with pytest.raises(NetworkInUse):
            networks.delete_network(session, ALICE, network.id)
        assert ports.delete_device_ports(session, "vm", "alice") == [network.id]
        assert session.get(Port, port.id) is None
        second = subnets.create_subnet(session, ALICE, {"network_id": network.id, "cidr": "10.1.0.0/24"})
        assert sorted(a.ip_address for a in dhcp.find_port(session, network.id).fixed_ips) == ["10.0.0.2", "10.1.0.2"]
        subnets.delete_subnet(session, ALICE, subnet.id)
        assert [a.ip_address for a in dhcp.find_port(session, network.id).fixed_ips] == ["10.1.0.2"]
        subnets.update_subnet(session, ALICE, second.id, {"enable_dhcp": False})
        assert dhcp.find_port(session, network.id) is None
        networks.delete_network(session, ALICE, network.id)
        assert session.query(Port).count() == 0
