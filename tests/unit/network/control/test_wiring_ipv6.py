"""The DHCP server's IPv6 subnets as the control side sends them: every DHCP-enabled subnet with its Neutron
modes, and static leases only where DHCPv6 hands the addresses out (not where hosts make them by SLAAC)."""

from __future__ import annotations

from network import subnets
from network.control import wiring
from tests.unit.network.control.test_wiring import db, network, only, server_port  # noqa: F401 - the fixture
from tests.unit.network.records import ALICE


def test_v6_subnets_are_served_with_their_modes_and_leases_only_on_stateful_ones(db):  # noqa: F811
    with db.session() as session:
        net = network(session)
        stateful = {"network_id": net, "ip_version": 6, "cidr": "2001:db8:1::/64"}
        subnets.create_subnet(session, ALICE, stateful)
        slaac = {"network_id": net, "ip_version": 6, "cidr": "2001:db8:2::/64", "ipv6_ra_mode": "slaac",
                 "ipv6_address_mode": "slaac"}  # fmt: skip
        subnets.create_subnet(session, ALICE, slaac)
        port = server_port(session, net, "h1")
        v4, v6, eui64 = sorted(a.ip_address for a in port.fixed_ips)
        assert v6.startswith("2001:db8:1::") and eui64 == f"2001:db8:2:0:{_interface_id(port.mac_address)}"
        dhcp = only(wiring.host_wiring(session, "h1"), net).dhcp
        assert dhcp is not None
        modes = [(s.cidr, s.ipv6_ra_mode, s.ipv6_address_mode) for s in dhcp.subnets]
        assert modes == [("10.0.0.0/24", None, None), ("2001:db8:1::/64", None, None),
                         ("2001:db8:2::/64", "slaac", "slaac")]  # fmt: skip
        mine = {(ip, name) for mac, ip, name in dhcp.hosts if mac == port.mac_address}
        assert mine == {(v4, "host-" + v4.replace(".", "-")), (v6, "host-" + v6.replace(":", "-"))}


def _interface_id(mac: str) -> str:
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 2
    groups = [octets[0] << 8 | octets[1], octets[2] << 8 | 0xFF, 0xFE << 8 | octets[3], octets[4] << 8 | octets[5]]
    return ":".join(f"{g:x}" for g in groups)
