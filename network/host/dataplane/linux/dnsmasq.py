"""dnsmasq's configuration and static-lease file for one network, rendered from ``DhcpWiring`` by pure functions.

The choices, each for a reason:
* ``static`` ranges only: addresses come from the control side's IPAM, never from dnsmasq's pool, so a MAC the
  hosts file does not list gets no lease (no address conflicts with ports dnsmasq does not know).
* ``port=0``: no DNS service. Without upstream resolvers (``no-resolv``) it could answer nothing useful, and it
  stops dnsmasq from advertising itself as the DNS server; subnets' ``dns_nameservers`` are sent instead.
* The router, DNS and route options are always written, empty when unset, because dnsmasq otherwise offers its
  own address as router and DNS server.
* Classless static routes (option 121, and 249 for Windows) carry the host routes, the metadata address
  169.254.169.254/32 via this DHCP server (its namespace answers it, Neutron's ``force_metadata``) *and* the
  default route: RFC 3442 clients ignore the router option once option 121 is present.
* The MTU (option 26) is forced: many clients (busybox udhcpc among them) do not ask for it.
* ``user=root``: dnsmasq re-reads the hosts file on SIGHUP and writes its lease file after dropping privileges;
  the state directory is root's.
* Ports' extra DHCP options (Neutron's ``extra_dhcp_opt``): the port's static lease sets a tag named after its
  MAC (``set:port-<mac hex>``) and each option is a ``dhcp-option-force`` for that tag, so it reaches that port
  only and is sent even when the client does not ask for it (PXE ROMs often do not). Name and value are re-read
  by ``network.dhcp_options`` as they are written: only its catalogue's names and values of their type.
* IPv6 subnets: DHCPv6 with static leases, SLAAC with stateless DHCPv6, or SLAAC alone, by the subnet's Neutron
  address mode (``V6_RANGE_MODES``); router advertisements (``enable-ra``) when a subnet has an RA mode, with a
  router lifetime of 0, because the DHCP namespace routes nothing (the prefix, its flags and the DNS servers
  reach hosts; a default route does not). Ports' extra DHCP options are sent by DHCPv4 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from network import dhcp_options
from network.host.dataplane import tokens
from network.wire import DhcpSubnet, DhcpWiring

METADATA_ADDRESS = "169.254.169.254"
RA_INTERVAL = 30
"""Seconds between unsolicited router advertisements (hosts that start ask with a solicitation at once)."""
V6_RANGE_MODES = {
    None: "static",
    "dhcpv6-stateful": "static",
    "dhcpv6-stateless": "ra-stateless",
    "slaac": "ra-only",
}
"""dnsmasq's ``dhcp-range`` mode per Neutron address mode (the RA mode when no address mode is set): DHCPv6 with
static leases only; SLAAC plus DHCPv6 for other options; SLAAC alone. The RAs themselves go out only when a
subnet of the network has an ``ipv6_ra_mode`` (``enable-ra``)."""


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
    return f"subnet-{tokens.number(index, 0, 1 << 16)}"


def _routes(subnet: DhcpSubnet, server_ip: str | None) -> list[str]:
    """Option 121's routes: the subnet's host routes, the default via the gateway (RFC 3442 clients ignore the
    router option once 121 is there), and the metadata address via this DHCP server, which answers it."""
    routes = [f"{tokens.network(dst)},{tokens.address(hop)}" for dst, hop in subnet.host_routes]
    destinations = {dst for dst, _ in subnet.host_routes}
    if subnet.gateway_ip and "0.0.0.0/0" not in destinations:
        routes.append(f"0.0.0.0/0,{tokens.address(subnet.gateway_ip)}")
    if server_ip and f"{METADATA_ADDRESS}/32" not in destinations:
        routes.append(f"{METADATA_ADDRESS}/32,{tokens.address(server_ip)}")
    return routes


def _server_ip(dhcp: DhcpWiring, subnet: DhcpSubnet) -> str | None:
    """The DHCP port's address on ``subnet``, if it has one."""
    net = tokens.parse_network(subnet.cidr, strict=True)
    return next((ip for ip in (dhcp.ip, *dhcp.extra_ips) if tokens.parse_address(ip) in net), None)


def _subnet_lines(index: int, subnet: DhcpSubnet, lease_time: int, server_ip: str | None) -> list[str]:
    tag = _tag(index)
    net = tokens.parse_network(subnet.cidr, strict=True)
    nameservers = [tokens.parse_address(ip) for ip in subnet.dns_nameservers]
    lease = tokens.number(lease_time, 120, 1 << 31)
    if net.version == 6:
        dns = ",".join(f"[{tokens.address(ip)}]" for ip in nameservers if ip.version == 6)
        mode = V6_RANGE_MODES[subnet.ipv6_address_mode or subnet.ipv6_ra_mode]
        return [
            f"dhcp-range=set:{tag},{tokens.address(net.network_address)},{mode},{net.prefixlen},{lease}s",
            f"dhcp-option=tag:{tag},option6:dns-server{',' + dns if dns else ''}",
        ]
    dns = ",".join(tokens.address(ip) for ip in nameservers if ip.version == 4)
    router = tokens.address(subnet.gateway_ip) if subnet.gateway_ip else ""
    lines = [
        f"dhcp-range=set:{tag},{tokens.address(net.network_address)},static,{tokens.address(net.netmask)},{lease}s",
        f"dhcp-option=tag:{tag},option:router{',' + router if router else ''}",
        f"dhcp-option=tag:{tag},option:dns-server{',' + dns if dns else ''}",
    ]
    routes = ",".join(_routes(subnet, server_ip))
    if routes:
        lines += [
            f"dhcp-option=tag:{tag},option:classless-static-route,{routes}",
            f"dhcp-option=tag:{tag},249,{routes}",
        ]
    return lines


def render_config(dhcp: DhcpWiring, files: Files, interface: str) -> str:
    """The configuration file. Every value is checked as it is written (``tokens``: ``UnsafeValue`` for one
    outside its character set), so no value can end its line and add a directive of its own."""
    lines = [
        "# Written by the Stratus network agent; rewritten on every change.",
        "no-hosts",
        "no-resolv",
        "port=0",
        "bind-interfaces",
        f"interface={tokens.ifname(interface)}",
        "except-interface=lo",
        "user=root",
        f"pid-file={tokens.path(files.pid)}",
        f"dhcp-leasefile={tokens.path(files.leases)}",
        f"dhcp-hostsfile={tokens.path(files.hosts)}",
    ]
    if any(subnet.ipv6_ra_mode for subnet in dhcp.subnets):
        # Router lifetime 0: this namespace is no router, so hosts take prefixes and flags from it but no route.
        lines += ["enable-ra", f"ra-param={tokens.ifname(interface)},{RA_INTERVAL},0"]
    for index, subnet in enumerate(dhcp.subnets):
        lines += _subnet_lines(index, subnet, dhcp.lease_time, _server_ip(dhcp, subnet))
    lines.append(f"dhcp-option-force=option:mtu,{tokens.number(dhcp.mtu, 68, 65535)}")
    lines += [_option_line(mac, name, value) for mac, name, value in dhcp.options]
    return "\n".join(lines) + "\n"


def _port_tag(mac: str) -> str:
    return "port-" + tokens.mac(mac).replace(":", "")


def _option_line(mac: str, name: str, value: str) -> str:
    try:
        checked_name, checked_value, _version = dhcp_options.check(name, value, 4)
    except ValueError:
        raise tokens.UnsafeValue("a DHCP option", (name, value)) from None
    return f"dhcp-option-force=tag:{_port_tag(mac)},option:{checked_name},{checked_value}"


def render_hosts(dhcp: DhcpWiring) -> str:
    """One static lease per line: ``mac[,set:tag],ip[,hostname]`` (IPv6 addresses in brackets; the tag when the
    port has extra DHCP options). A hostname dnsmasq would
    refuse is left out rather than failing the whole file; a MAC or address outside its character set raises
    ``UnsafeValue``."""
    lines = []
    tagged = {mac for mac, _name, _value in dhcp.options}
    for mac, ip, hostname in sorted(dhcp.hosts):
        parsed = tokens.parse_address(ip)
        address = f"[{tokens.address(parsed)}]" if parsed.version == 6 else tokens.address(parsed)
        name = f",{_hostname(hostname)}" if _hostname(hostname) else ""
        tag = f",set:{_port_tag(mac)}" if mac in tagged else ""
        lines.append(f"{tokens.mac(mac)}{tag},{address}{name}")
    return "\n".join(lines) + ("\n" if lines else "")


def _hostname(name: str) -> str:
    try:
        return tokens.hostname(name) if name else ""
    except tokens.UnsafeValue:
        return ""


def interface_addresses(dhcp: DhcpWiring) -> set[str]:
    """The DHCP port's addresses with the prefix of the subnet each is on (a /32 or /128 when on none)."""
    nets = [tokens.parse_network(subnet.cidr, strict=True) for subnet in dhcp.subnets]
    found = set()
    for ip in (dhcp.ip, *dhcp.extra_ips):
        address = tokens.parse_address(ip)
        prefix = next((n.prefixlen for n in nets if address in n), address.max_prefixlen)
        found.add(f"{tokens.address(address)}/{prefix}")
    return found
