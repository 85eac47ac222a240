"""Hypothesis strategies for hostile strings: what a tenant would type into an address, a name or a MAC to turn a
value into syntax (a scope id that carries a newline and a directive, quotes, comment characters, Unicode digits,
NUL, lone surrogates), mixed with real addresses so the parsers are attacked where they are lenient.

``SETTINGS`` keeps example counts modest (the whole suite must stay fast) and writes no example database into the
working tree.
"""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ISSUE_VALUE = 'fd00::1%x\ninclude "/etc/shadow" #'
"""The value of issue 11, item 2."""
INJECTIONS = (
    ISSUE_VALUE,
    'fd00::1%x\ninclude "etc-shadow" #',  # no "/", so Python's ipaddress parses it
    "fd00::1%x\nflush ruleset #",
    "fe80::1%eth0",
    "fd00::1%x;",
    "10.0.0.5\n",
    " 10.0.0.5",
    "10.0.0.0/24\nadd rule",
    "10.0.0.5,dhcp-script=/bin/sh",
    "\u0661\u0660.0.0.5",
    "10.0.0.5\x00",
    "fd00::1%\ud800",
    "fd00::/64%x y",
    "fd00::1%x}",
)
NASTY = "\n\r\t\x00\x0b\x1b\x7f \"'#;{}$,=%\\/`|&<>@*\u0660\u00a0\u2028\ud800\ufeff"


def _address_text() -> st.SearchStrategy[str]:
    return st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))


def hostile_addresses() -> st.SearchStrategy[str]:
    """Strings that must never be accepted as an address or a CIDR: a real address with something nasty added
    (a scope id of anything, a character before, inside or after it), or nasty text alone."""
    nasty = st.text(alphabet=NASTY, min_size=1, max_size=6)
    scoped = st.builds(lambda a, s: f"{ipaddress.ip_address(a).exploded if ':' in a else a}%{s}",
                       st.ip_addresses(v=6).map(str), st.text(max_size=20))  # fmt: skip
    around = st.builds(lambda a, n, where: a[:where] + n + a[where:], _address_text(), nasty, st.integers(0, 40))
    with_prefix = st.builds(lambda a, n, p: f"{a}/{p}{n}", _address_text(), nasty, st.integers(0, 32))
    return st.one_of(st.sampled_from(INJECTIONS), scoped, around, with_prefix, st.text(alphabet=NASTY, min_size=1))


def hostile_names() -> st.SearchStrategy[str]:
    """Anything at all, weighted towards line breaks, quotes and separators (names, hostnames, MACs, ids)."""
    return st.one_of(st.text(alphabet=NASTY, min_size=1, max_size=12), st.text(min_size=1, max_size=40))
