"""User-given addresses are plain: no scope id, no whitespace, no character outside hex digits, ``.``, ``:`` (and
``/`` with a decimal prefix), canonical; and every API field that holds one refuses anything else with a 400
naming the field, before it is stored (security group rules, subnets, fixed IPs, allowed address pairs)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.exceptions import StratusError
from network import addresses, ipam, ports, subnets
from network.exceptions import InvalidAllocationPool, InvalidAttribute
from network.models import Subnet
from network.security_group_rules import PROTOCOLS, check_rule
from tests.hostile import INJECTIONS, ISSUE_VALUE, SETTINGS, hostile_addresses, hostile_names

PLAIN = set("0123456789abcdefABCDEF.:/")


def _is_plain(text: str) -> bool:
    return set(text) <= PLAIN and text == text.lower()


def _refused(call, field: str) -> None:
    with pytest.raises(StratusError) as raised:
        call()
    assert raised.value.code == 400
    assert field in str(raised.value) or isinstance(raised.value, InvalidAllocationPool)


@pytest.mark.parametrize("value", INJECTIONS)
def test_scope_ids_whitespace_and_foreign_digits_are_no_addresses(value: str) -> None:
    for parse in (addresses.parse_address, addresses.parse_network):
        with pytest.raises(ValueError):
            parse(value)


def test_spellings_of_one_address_are_one_address() -> None:
    assert addresses.canonical_address("FD00:0:0::0001") == addresses.canonical_address("fd00::1") == "fd00::1"
    assert addresses.canonical_network("FD00::/64") == "fd00::/64"
    assert addresses.canonical_network("10.0.0.5") == "10.0.0.5/32"
    with pytest.raises(ValueError):  # the two would be different addresses to Python's ipaddress
        addresses.parse_address("fe80::1%a")
    with pytest.raises(ValueError, match="host bits"):
        addresses.parse_network("10.0.0.5/24", strict=True)
    for netmask in ("10.0.0.0/255.255.255.0", "10.0.0.0/+24", "10.0.0.0/ 24", "10.0.0.0/24 "):
        with pytest.raises(ValueError):
            addresses.parse_network(netmask)


@SETTINGS
@given(st.one_of(st.ip_addresses(), hostile_addresses(), st.text(max_size=50)))
def test_whatever_is_accepted_is_plain_canonical_text(value: object) -> None:
    text = str(value)
    try:
        parsed = addresses.parse_address(text)
    except ValueError:
        assert not isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address)
    else:
        assert _is_plain(text.lower()) and _is_plain(str(parsed)) and str(parsed) == str(ipaddress.ip_address(text))
    try:
        network = addresses.parse_network(text)
    except ValueError:
        return
    assert _is_plain(text.lower()) and _is_plain(str(network))


# --- the API fields that reach a renderer ------------------------------------------------------------------


def test_the_issues_remote_ip_prefix_is_refused_naming_the_field() -> None:
    for value in INJECTIONS:
        _refused(lambda v=value: check_rule({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": v}),
                 "remote_ip_prefix")  # fmt: skip
    assert ISSUE_VALUE in INJECTIONS


@SETTINGS
@given(hostile_addresses())
def test_hostile_remote_ip_prefixes_never_become_rules(value: str) -> None:
    for ethertype in ("IPv4", "IPv6"):
        try:
            rule = check_rule({"direction": "ingress", "ethertype": ethertype, "remote_ip_prefix": value})
        except StratusError as exc:
            assert exc.code == 400
            continue
        assert rule.remote_ip_prefix is not None and _is_plain(rule.remote_ip_prefix)
        assert _is_plain(value.lower())


@SETTINGS
@given(hostile_addresses(), st.sampled_from(["cidr", "gateway_ip", "pool", "dns_nameservers", "route", "nexthop"]))
def test_hostile_subnet_addresses_are_refused_naming_the_field(value: str, field: str) -> None:
    attrs: dict[str, object] = {"cidr": "fd00::/64", "ip_version": 6}
    if field == "cidr":
        attrs["cidr"] = value
    elif field == "gateway_ip":
        attrs["gateway_ip"] = value
    elif field == "pool":
        attrs["allocation_pools"] = [{"start": value, "end": "fd00::ff"}]
    elif field == "dns_nameservers":
        attrs["dns_nameservers"] = [value]
    else:
        route = {"destination": value, "nexthop": "fd00::1"} if field == "route" else {
            "destination": "fd01::/64", "nexthop": value}  # fmt: skip
        attrs["host_routes"] = [route]
    try:
        planned = subnets.plan(attrs)
    except StratusError as exc:
        assert exc.code == 400 and ({"pool": "allocation", "route": "host_routes", "nexthop": "host_routes"}.get(
            field, field) in str(exc) or "Gateway" in str(exc) or "Cidr" in str(exc))  # fmt: skip
        return
    assert _is_plain(value.lower())
    texts = [planned["cidr"], planned["gateway_ip"] or "", *planned["dns_nameservers"]]
    texts += [v for pool in planned["allocation_pools"] for v in pool.values()]
    texts += [v for route in planned["host_routes"] for v in route.values()]
    assert all(_is_plain(text) for text in texts)


def test_nameservers_differing_only_by_scope_are_not_two_nameservers() -> None:
    _refused(lambda: subnets.check_nameservers(["fd00::53", "fd00::53%a"]), "dns_nameservers")
    _refused(lambda: subnets.check_nameservers(["FD00::53", "fd00::53"]), "dns_nameservers")  # a duplicate


@SETTINGS
@given(hostile_addresses())
def test_hostile_fixed_ips_and_address_pairs_are_refused_naming_the_field(value: str) -> None:
    subnet = Subnet(id="s", cidr="fd00::/64", ip_version=6, gateway_ip="fd00::1", network_id="n")
    try:
        accepted = ipam.check_address(subnet, value)
    except StratusError as exc:
        assert exc.code == 400
        assert "fixed_ips" in str(exc) or exc.fault_type == "InvalidIpForSubnet"  # type: ignore[attr-defined]
        if not _is_plain(value.lower()) or "/" in value:
            assert isinstance(exc, InvalidAttribute)
    else:
        assert _is_plain(value.lower()) and _is_plain(accepted)
    try:
        (pair,) = ports._address_pairs([{"ip_address": value}], True, "fa:16:3e:00:00:01")
    except StratusError as exc:
        assert exc.code == 400 and "allowed_address_pairs" in str(exc)
    else:
        assert _is_plain(value.lower()) and _is_plain(pair["ip_address"])


@SETTINGS
@given(st.one_of(hostile_names(), st.sampled_from(["\u0661\u0667", "\uff16", "tcp\n", " 17", "tcp;", "1e1"])))
def test_a_rule_protocol_is_a_known_name_or_ascii_digits(value: str) -> None:
    try:
        rule = check_rule({"direction": "ingress", "protocol": value})
    except StratusError as exc:
        assert exc.code == 400
        return
    assert rule.protocol is None or rule.protocol in PROTOCOLS or (rule.protocol.isascii() and rule.protocol.isdigit())
    assert rule.protocol is None or rule.protocol.isascii()
