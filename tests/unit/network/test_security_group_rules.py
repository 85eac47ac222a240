from __future__ import annotations

import pytest

from network import security_group_rules as rules
from network import security_groups
from network.exceptions import InvalidAttribute, SecurityGroupRuleExists, SecurityGroupRuleInvalid
from tests.unit.network.records import ALICE


def test_rules_are_normalised():
    checked = rules.check_rule(
        {"direction": "ingress", "ethertype": "ipv4", "protocol": "TCP", "port_range_min": 22, "port_range_max": 22,
         "remote_ip_prefix": "10.0.0.7"}
    )  # fmt: skip
    assert (checked.ethertype, checked.protocol, checked.remote_ip_prefix) == ("IPv4", "tcp", "10.0.0.7/32")
    assert rules.check_rule({"direction": "egress", "protocol": 17}).protocol == "17"
    assert rules.check_rule({"direction": "egress", "protocol": "any"}).protocol is None
    icmp = rules.check_rule({"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0})
    assert (icmp.port_range_min, icmp.port_range_max) == (8, 0)


@pytest.mark.parametrize(
    ("attrs", "fault_type"),
    [
        ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": "256"}, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, "SecurityGroupInvalidPortValue"),
        ({"protocol": "tcp", "port_range_min": 10, "port_range_max": 70000}, "SecurityGroupInvalidPortValue"),
        ({"protocol": "tcp", "port_range_min": 100, "port_range_max": 10}, "SecurityGroupInvalidPortRange"),
        ({"protocol": "icmp", "port_range_min": 256}, "SecurityGroupInvalidIcmpValue"),
        ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 300}, "SecurityGroupInvalidIcmpValue"),
        ({"protocol": "icmp", "port_range_max": 0}, "SecurityGroupMissingIcmpType"),
        ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, "SecurityGroupInvalidProtocolForPort"),
        ({"port_range_min": 1, "port_range_max": 2}, "SecurityGroupProtocolRequiredWithPorts"),
        ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "g"}, "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
        ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, "SecurityGroupRuleParameterConflict"),
        ({"ethertype": "IPv4", "protocol": "ipv6-icmp"}, "SecurityGroupEthertypeConflictWithProtocol"),
    ],
)
def test_invalid_rules_have_neutrons_fault_types(attrs, fault_type):
    with pytest.raises(SecurityGroupRuleInvalid) as raised:
        rules.check_rule({"direction": "ingress", **attrs})
    assert raised.value.fault_type == fault_type and raised.value.code == 400


def test_bad_prefix_and_ethertype_name_the_field():
    with pytest.raises(InvalidAttribute, match="remote_ip_prefix"):
        rules.check_rule({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/40"})
    with pytest.raises(InvalidAttribute, match="ethertype"):
        rules.check_rule({"direction": "ingress", "ethertype": "IPX"})


def test_duplicates_compare_protocol_numbers_and_any_prefixes(db):
    with db.session() as session:
        group = security_groups.create_group(session, ALICE, {"name": "web"})
        base = {"security_group_id": group.id, "direction": "ingress"}
        rule = rules.create_rule(
            session, ALICE, {**base, "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}
        )
        with pytest.raises(SecurityGroupRuleExists, match=rule.id):
            rules.create_rule(session, ALICE, {**base, "protocol": "6", "port_range_min": 80, "port_range_max": 80})
        with pytest.raises(SecurityGroupRuleExists):  # new groups allow all egress already
            rules.create_rule(session, ALICE, {**base, "direction": "egress", "remote_ip_prefix": "0.0.0.0/0"})
        assert len(group.rules) == 3
        rules.delete_rule(session, ALICE, rule.id)
        assert len(group.rules) == 2
