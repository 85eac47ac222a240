"""IPv6 subnets' address modes as Neutron has them: which combinations are valid, and the EUI-64 addresses of
SLAAC and DHCPv6-stateless subnets.

``ipv6_ra_mode`` says who sends router advertisements (set: this cloud; None: nobody, or a router outside it) and
``ipv6_address_mode`` how hosts get addresses. A subnet whose either mode is ``slaac`` or ``dhcpv6-stateless`` is
an *auto-address* subnet: hosts make their address from the advertised /64 prefix and their MAC (modified EUI-64,
RFC 4291 appendix A), so IPAM does not choose one. It computes the same address (Neutron does, so that the port's
``fixed_ips``, security groups' remote groups and anti-spoofing all know it), and refuses a chosen one on such a
subnet (400 ``AllocationOnAutoAddressSubnet``) except for a router's interface, which holds the gateway.

Pure functions of their arguments, unit-tested without a database.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from network import macs
from network.exceptions import InvalidInput

MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")
EUI64_PREFIXLEN = 64


class AllocationOnAutoAddressSubnet(InvalidInput):
    msg_fmt = (
        "IPv6 address {ip} cannot be directly assigned to a port on subnet {subnet_id} as the subnet is configured "
        "for automatic addresses"
    )
    fault_type = "AllocationOnAutoAddressSubnet"


def is_auto_address(ra_mode: str | None, address_mode: str | None) -> bool:
    """Neutron's ``is_auto_address_subnet``: either mode makes hosts build their own address."""
    return address_mode in AUTO_ADDRESS_MODES or ra_mode in AUTO_ADDRESS_MODES


def eui64(cidr: str, mac: str) -> ipaddress.IPv6Address:
    """The address a host with ``mac`` makes by SLAAC on the /64 ``cidr``: the prefix, then the MAC with
    ``ff:fe`` in its middle and the universal/local bit flipped."""
    network = ipaddress.IPv6Network(cidr)
    octets = bytes(int(part, 16) for part in macs.normalise(mac).split(":"))
    interface_id = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    return network[int.from_bytes(interface_id, "big")]


def check_modes(attrs: Mapping[str, Any], ip_version: int, cidr: str, enable_dhcp: bool) -> None:
    """Neutron's rules for a new subnet's modes, each a 400 ``InvalidInput`` worded as Neutron's."""
    ra_mode, address_mode = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
    if ip_version == 4:
        for field, value in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
            if value is not None:
                raise InvalidInput(error_message=f"{field} is not valid when ip_version is 4")
        return
    for field, value in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
        if value is not None and value not in MODES:
            raise InvalidInput(error_message=f"{field} '{value}' is not one of {', '.join(MODES)}")
    if (ra_mode is not None or address_mode is not None) and not enable_dhcp:
        raise InvalidInput(
            error_message="ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False"
        )
    if ra_mode is not None and address_mode is not None and ra_mode != address_mode:
        raise InvalidInput(
            error_message=f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to '{address_mode}' is not "
            "valid. If both attributes are set, they must be the same value"
        )
    if is_auto_address(ra_mode, address_mode) and ipaddress.ip_network(cidr).prefixlen != EUI64_PREFIXLEN:
        raise InvalidInput(
            error_message=f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, "
            "which requires the prefix to be /64"
        )


def check_dhcp_update(current_ra_mode: str | None, current_address_mode: str | None, attrs: Mapping[str, Any]) -> None:
    """DHCP cannot be turned off on a subnet with IPv6 modes (Neutron's ``_validate_ipv6_update_dhcp``)."""
    if "enable_dhcp" in attrs and not attrs["enable_dhcp"] and (current_ra_mode or current_address_mode):
        raise InvalidInput(error_message="Cannot disable enable_dhcp with ipv6 attributes set")
