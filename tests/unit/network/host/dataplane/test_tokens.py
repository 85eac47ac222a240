"""Render-time checks: each kind of value a renderer writes as syntax is refused outside its character set, whatever
a hostile tenant (or a forged task) puts in it, and plain values come back as plain canonical text."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.host.dataplane import tokens
from tests.hostile import INJECTIONS, SETTINGS, hostile_addresses, hostile_names

PLAIN = {
    "address": re.compile(r"[0-9a-f.:]+"),
    "network": re.compile(r"[0-9a-f.:]+/[0-9]+"),
    "mac": re.compile(r"[0-9a-f:]{17}"),
    "ifname": re.compile(r"[A-Za-z0-9_.-]{1,15}"),
    "identifier": re.compile(r"[A-Za-z0-9_-]+"),
    "hostname": re.compile(r"[A-Za-z0-9.-]+"),
}


@pytest.mark.parametrize("value", INJECTIONS)
def test_injections_are_no_address_no_network_no_name(value: str) -> None:
    for check in (tokens.address, tokens.network, tokens.mac, tokens.ifname, tokens.identifier, tokens.hostname):
        with pytest.raises(tokens.UnsafeValue):
            check(value)


def test_scoped_ipaddress_objects_are_refused_too() -> None:
    with pytest.raises(tokens.UnsafeValue):
        tokens.address(ipaddress.IPv6Address("fd00::1%x y"))
    with pytest.raises(tokens.UnsafeValue):
        tokens.network(ipaddress.IPv6Network("fd00::%x/64"))
    assert tokens.address(ipaddress.IPv6Address("FD00::0:1")) == "fd00::1"


def test_options_and_line_breaks_never_become_arguments_or_paths() -> None:
    for name in ("-n", "--help", "a b", "toolongname12345", "", "x\n"):
        with pytest.raises(tokens.UnsafeValue):
            tokens.ifname(name)
    for path in (Path("/srv/x\ndhcp-script=/bin/sh"), "/srv/\x00", "/srv/\ud800", ""):
        with pytest.raises(tokens.UnsafeValue):
            tokens.path(path)
    for word in ("a\nb", "\x00", "\ud800", 5):
        with pytest.raises(tokens.UnsafeValue):
            tokens.argument(word)
    for number in (True, -1, 70000, "5"):
        with pytest.raises(tokens.UnsafeValue):
            tokens.number(number, 0, 65535)


@SETTINGS
@given(st.one_of(hostile_addresses(), hostile_names()))
def test_whatever_passes_a_check_is_plain(value: str) -> None:
    for kind in PLAIN:
        try:
            text = getattr(tokens, kind)(value)
        except tokens.UnsafeValue:
            continue
        assert PLAIN[kind].fullmatch(text), (kind, value, text)
    try:
        tokens.argument(value)
    except tokens.UnsafeValue:
        return
    assert not re.search(r"[\x00-\x1f\x7f]", value)


@SETTINGS
@given(st.ip_addresses())
def test_real_addresses_pass_in_canonical_form(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert tokens.address(address) == tokens.address(str(address).upper()) == str(address)
    network = ipaddress.ip_network(address)
    assert tokens.network(network) == tokens.network(str(network)) == str(network)
