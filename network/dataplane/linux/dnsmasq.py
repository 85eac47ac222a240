"""dnsmasq's configuration and static-lease file for one network, rendered from ``DhcpWiring`` by pure functions.

The choices, each for a reason:
* ``static`` ranges only: addresses come from the control side's IPAM, never from dnsmasq's pool, so a MAC the
  hosts file does not list gets no lease (no address conflicts with ports dnsmasq does not know).
* ``port=0``: no DNS service. Without upstream resolvers (``no-resolv``) it could answer nothing useful, and it
  stops dnsmasq from advertising itself as the DNS server; subnets' ``dns_nameservers`` are sent instead.
* The router, DNS and route options are always written, empty when unset, because dnsmasq otherwise offers its
  own address as router and DNS server.
* Host routes go out as classless static routes (option 121, and 249 for Windows) *with* the default route:
  RFC 3442 clients ignore the router option once option 121 is present.
* The MTU (option 26) is forced: many clients (busybox udhcpc among them) do not ask for it.
* ``user=root``: dnsmasq re-reads the hosts file on SIGHUP and writes its lease file after dropping privileges;
  the state directory is root's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from network.dataplane.base import DhcpSubnet, DhcpWiring

_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(\.(?!-)[A-Za-z0-9-]{1,63})*\.?$")


@dataclass(frozen=True)
class Files:
    """Where one network's dnsmasq keeps its files."""

    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "dnsmasq.conf"

    @property
    def hosts(self) -> Path:
        return self.directory / "hosts"

    @property
    def leases(self) -> Path:
        return self.directory / "leases"

    @property
    def pid(self) -> Path:
        return self.directory / "pid"


def _tag(index: int) -> str:
    return f"subnet-{index}"


def _routes(subnet: DhcpSubnet) -> list[str]:
    routes = [f"{dst},{hop}" for dst, hop in subnet.host_routes]
    if subnet.gateway_ip and not any(dst == "0.0.0.0/0" for dst, _ in subnet.host_routes):
        routes.append(f"0.0.0.0/0,{subnet.gateway_ip}")
    return routes


def _subnet_lines(index: int, subnet: DhcpSubnet, lease_time: int) -> list[str]:
    tag = _tag(index)
    net = ipaddress.ip_network(subnet.cidr)
    if net.version == 6:
        dns = ",".join(f"[{ip}]" for ip in subnet.dns_nameservers if ipaddress.ip_address(ip).version == 6)
        return [
            f"dhcp-range=set:{tag},{net.network_address},static,{net.prefixlen},{lease_time}s",
            f"dhcp-option=tag:{tag},option6:dns-server{',' + dns if dns else ''}",
        ]
    dns = ",".join(ip for ip in subnet.dns_nameservers if ipaddress.ip_address(ip).version == 4)
    lines = [
        f"dhcp-range=set:{tag},{net.network_address},static,{net.netmask},{lease_time}s",
        f"dhcp-option=tag:{tag},option:router{',' + subnet.gateway_ip if subnet.gateway_ip else ''}",
        f"dhcp-option=tag:{tag},option:dns-server{',' + dns if dns else ''}",
    ]
    if subnet.host_routes:
        routes = ",".join(_routes(subnet))
        lines += [
            f"dhcp-option=tag:{tag},option:classless-static-route,{routes}",
            f"dhcp-option=tag:{tag},249,{routes}",
        ]
    return lines


def render_config(dhcp: DhcpWiring, files: Files, interface: str) -> str:
    lines = [
        "# Written by the Stratus network agent; rewritten on every change.",
        "no-hosts",
        "no-resolv",
        "port=0",
        "bind-interfaces",
        f"interface={interface}",
        "except-interface=lo",
        "user=root",
        f"pid-file={files.pid}",
        f"dhcp-leasefile={files.leases}",
        f"dhcp-hostsfile={files.hosts}",
    ]
    for index, subnet in enumerate(dhcp.subnets):
        lines += _subnet_lines(index, subnet, dhcp.lease_time)
    lines.append(f"dhcp-option-force=option:mtu,{dhcp.mtu}")
    return "\n".join(lines) + "\n"


def render_hosts(dhcp: DhcpWiring) -> str:
    """One static lease per line: ``mac,ip[,hostname]`` (IPv6 addresses in brackets). A hostname dnsmasq would
    refuse is left out rather than failing the whole file."""
    lines = []
    for mac, ip, hostname in sorted(dhcp.hosts):
        address = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
        name = f",{hostname}" if hostname and _HOSTNAME.match(hostname) else ""
        lines.append(f"{mac},{address}{name}")
    return "\n".join(lines) + ("\n" if lines else "")


def interface_addresses(dhcp: DhcpWiring) -> set[str]:
    """The DHCP port's addresses with the prefix of the subnet each is on (a /32 or /128 when on none)."""
    nets = [ipaddress.ip_network(subnet.cidr) for subnet in dhcp.subnets]
    found = set()
    for ip in (dhcp.ip, *dhcp.extra_ips):
        address = ipaddress.ip_address(ip)
        prefix = next((n.prefixlen for n in nets if address in n), address.max_prefixlen)
        found.add(f"{address}/{prefix}")
    return found
