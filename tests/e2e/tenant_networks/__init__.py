"""Tenant networks with real guests on two hosts (issue #5): one private cloud with two simulated hosts, the Linux
dataplane and QEMU guests booted from the tiny image through the ``openstack`` CLI.

Project A (``demo``) has ``a1`` on host 1 and ``a2`` on host 2 on ``a-net``; project B (``other``) has ``b1`` on
host 2 on ``b-net``, the same CIDR, holding a1's very address. Pings are typed into the guests' root shells on
their serial consoles; kernel state and captures are read from outside (``ip``, ``nft``, ``tcpdump``), never
taken from the agents' word. Each test asserts what must pass and what must not, every failing ping right after
one that passed, and leaves the guests as it found them; the last one deletes everything and looks for leftovers.

Everything this module makes carries its run's host name (``e2e<hex>``) or lives under its state directory, and
the fixture removes it whatever happens: domains, DHCP servers, namespaces, devices, the underlay bridge.

The tests share one world (``conftest.world``, package-scoped: one cloud and three guests for them all) and run
in the order of ``conftest.MODULES``: the last module deletes everything and looks for leftovers.
"""
