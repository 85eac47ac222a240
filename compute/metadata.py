"""A server's metadata documents, as Nova's metadata service and config drive lay them out.

One builder for both ways a guest reads them: the config drive the scheduler hands a host (``config_drive``) and
the metadata API behind 169.254.169.254 (``api.metadata``, through ``ServerMetadata.lookup``), so a guest finds the
same ``meta_data.json`` and ``network_data.json`` whichever it reads. Two layouts, as Nova serves them:

* OpenStack: ``/openstack`` lists the dated versions and ``latest``; ``/openstack/<version>/`` the files of that
  version (``meta_data.json``, ``user_data`` when there is one, ``vendor_data.json``, ``network_data.json``,
  ``vendor_data2.json``), each present from the release that brought it, like Nova's.
* EC2: ``/`` lists the EC2 versions, ``/<version>/meta-data/...`` is a tree whose directories list their entries
  one per line (a subdirectory with a trailing ``/``), ``/<version>/user-data`` the raw user data.

Runs in the API and the scheduler (it reads the database through ``network.vif``); never on a host.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, object_session

from compute.models import Instance, ports_of
from network import vif

OPENSTACK_VERSIONS = (
    "2012-08-10",  # Folsom
    "2013-04-04",  # Grizzly: random_seed
    "2013-10-17",  # Havana: vendor_data.json
    "2015-10-15",  # Liberty: network_data.json, project_id
    "2016-06-30",
    "2016-10-06",  # Newton: vendor_data2.json
    "2017-02-22",
    "2018-08-27",
)
EC2_VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01",
    "2009-04-04",
)  # fmt: skip
METADATA_ADDRESS = "169.254.169.254"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class NotFound(LookupError):
    """No document at that path (for this server: ``user_data`` of a server without user data)."""


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str


def _user_data(instance: Instance) -> bytes | None:
    """The user's bytes (the API stored them base64-encoded, as Nova takes them)."""
    if instance.user_data is None:
        return None
    try:
        return base64.b64decode(instance.user_data)
    except (binascii.Error, ValueError):
        return None


def _short_id(prefix: str, uuid: str) -> str:
    """EC2's ``i-`` / ``ami-`` ids are 8 hex digits; ours are the first 8 of the UUID."""
    digits = uuid.replace("-", "")[:8]
    return f"{prefix}-{digits if len(digits) == 8 else '00000000'}"


def _route(destination: str, gateway: str) -> dict[str, str]:
    net = ipaddress.ip_network(destination, strict=False)
    return {"network": str(net.network_address), "netmask": str(net.netmask), "gateway": gateway}


def _network_entry(index: int, link: str, address: vif.PortAddress) -> dict[str, Any]:
    """A fixed address given statically, as Nova does for it: the address, its mask, the routes the DHCP server
    would send (host routes, the default via the gateway, and the metadata address via the DHCP server), and DNS."""
    ip = ipaddress.ip_address(address.ip_address)
    net = ipaddress.ip_network(address.cidr, strict=False)
    routes = [_route(dst, hop) for dst, hop in address.host_routes]
    destinations = {r["network"] + "/" + r["netmask"] for r in routes}
    default = "0.0.0.0/0.0.0.0" if ip.version == 4 else "::/::"
    if address.gateway_ip and default not in destinations:
        routes.append(_route("0.0.0.0/0" if ip.version == 4 else "::/0", address.gateway_ip))
    if ip.version == 4 and address.dhcp_ip and f"{METADATA_ADDRESS}/255.255.255.255" not in destinations:
        routes.append(_route(f"{METADATA_ADDRESS}/32", address.dhcp_ip))
    return {
        "id": f"network{index}",
        "type": f"ipv{ip.version}",
        "link": link,
        "network_id": address.network_id,
        "ip_address": str(ip),
        "netmask": str(net.netmask),
        "routes": routes,
        "services": [{"type": "dns", "address": dns} for dns in address.dns_nameservers],
    }


def network_data(ports: list[dict[str, Any]], addresses: list[vif.PortAddress]) -> dict[str, Any]:
    """OpenStack's ``network_data.json``: one link per wired NIC and one network per fixed address on it, given
    statically (a port without a known address: ``ipv4_dhcp``), DNS servers once each under ``services``."""
    wired = [p for p in ports if p.get("mac") and p.get("tap")]
    links = [
        {"id": p["tap"], "type": "phy", "ethernet_mac_address": p["mac"], "mtu": int(p["mtu"]), "vif_id": p["port_id"]}
        for p in wired
    ]
    networks: list[dict[str, Any]] = []
    for port in wired:
        mine = [a for a in addresses if a.port_id == port["port_id"]]
        if not mine:
            networks.append(
                {"id": f"network{len(networks)}", "type": "ipv4_dhcp", "link": port["tap"],
                 "network_id": port["network_id"]}
            )  # fmt: skip
        for address in mine:
            networks.append(_network_entry(len(networks), port["tap"], address))
    dns = dict.fromkeys(d for a in addresses for d in a.dns_nameservers)
    return {"links": links, "networks": networks, "services": [{"type": "dns", "address": d} for d in dns]}


class ServerMetadata:
    """Every document of one server, read from its record and its ports' addresses once per request."""

    def __init__(self, instance: Instance, addresses: list[vif.PortAddress]) -> None:
        self.instance = instance
        self.addresses = addresses
        self.user_data = _user_data(instance)

    @classmethod
    def load(cls, session: Session, instance: Instance) -> ServerMetadata:
        return cls(instance, vif.port_addresses(session, instance.id, instance.project_id))

    # -- OpenStack layout ------------------------------------------------------------------------------------------

    def meta_data(self, version: str = "latest") -> dict[str, Any]:
        instance = self.instance
        keys = {instance.key_name: instance.key_data} if instance.key_name and instance.key_data else {}
        document: dict[str, Any] = {
            "uuid": instance.id,
            "name": instance.name,
            "hostname": instance.hostname,
            "launch_index": instance.launch_index,
            "availability_zone": instance.availability_zone,
            "public_keys": keys,
            "keys": [{"name": k, "type": "ssh", "data": v} for k, v in keys.items()],
            "meta": dict(instance.metadata_items or {}),
            "devices": [],
        }
        if _since(version, "2013-04-04"):
            document["random_seed"] = base64.b64encode(os.urandom(512)).decode()
        if _since(version, "2015-10-15"):
            document["project_id"] = instance.project_id
        return document

    def network_data(self) -> dict[str, Any]:
        return network_data(ports_of(self.instance), self.addresses)

    def _openstack_files(self, version: str) -> dict[str, Any]:
        files: dict[str, Any] = {"meta_data.json": lambda: _json(self.meta_data(version))}
        if self.user_data is not None:
            files["user_data"] = lambda: Document(self.user_data or b"", TEXT)
        if _since(version, "2013-10-17"):
            files["vendor_data.json"] = lambda: _json({})
        if _since(version, "2015-10-15"):
            files["network_data.json"] = lambda: _json(self.network_data())
        if _since(version, "2016-10-06"):
            files["vendor_data2.json"] = lambda: _json({})
        return files

    def _openstack(self, parts: list[str]) -> Document:
        if not parts:
            return _listing([*OPENSTACK_VERSIONS, "latest"])
        version = parts[0]
        if version not in OPENSTACK_VERSIONS and version != "latest":
            raise NotFound(version)
        files = self._openstack_files(version)
        if len(parts) == 1:
            return _listing(list(files))
        if len(parts) != 2 or parts[1] not in files:
            raise NotFound("/".join(parts))
        return files[parts[1]]()

    # -- EC2 layout ------------------------------------------------------------------------------------------------

    def ec2_meta_data(self) -> dict[str, Any]:
        """The tree of ``/latest/meta-data/`` (EC2 2009-04-04, Nova's newest). A dict is a directory; its
        ``_name`` is how its parent lists it (``public-keys/`` lists ``0=<key name>``, as EC2 does)."""
        instance = self.instance
        fixed = [a.ip_address for a in self.addresses if ipaddress.ip_address(a.ip_address).version == 4]
        floating = [a.floating_ip for a in self.addresses if a.floating_ip]
        tree: dict[str, Any] = {
            "ami-id": _short_id("ami", instance.image_ref or ""),
            "ami-launch-index": str(instance.launch_index),
            "ami-manifest-path": "FIXME",
            "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
            "hostname": instance.hostname,
            "instance-action": "none",
            "instance-id": _short_id("i", instance.id),
            "instance-type": str(instance.flavor.get("name", "")),
            "local-hostname": instance.hostname,
            "local-ipv4": fixed[0] if fixed else "",
            "placement": {"availability-zone": instance.availability_zone or ""},
            "public-hostname": instance.hostname,
            "public-ipv4": floating[0] if floating else "",
            "reservation-id": instance.reservation_id,
            "security-groups": "\n".join(str(g) for g in instance.security_groups or []),
        }
        if instance.key_name and instance.key_data:
            tree["public-keys"] = {"0": {"_name": f"0={instance.key_name}", "openssh-key": instance.key_data}}
        return tree

    def _ec2(self, parts: list[str]) -> Document:
        if not parts:
            return _listing([*EC2_VERSIONS, "latest"])
        if parts[0] not in EC2_VERSIONS and parts[0] != "latest":
            raise NotFound(parts[0])
        top: dict[str, Any] = {"meta-data": self.ec2_meta_data()}
        if self.user_data is not None:
            top["user-data"] = self.user_data
        node: Any = top
        for part in parts[1:]:
            if not isinstance(node, dict) or part not in node or part == "_name":
                raise NotFound("/".join(parts))
            node = node[part]
        if isinstance(node, dict):
            return _listing([v["_name"] if isinstance(v, dict) and "_name" in v else k + "/" if isinstance(v, dict)
                             else k for k, v in sorted(node.items()) if k != "_name"])  # fmt: skip
        return Document(node if isinstance(node, bytes) else str(node).encode(), TEXT)

    def lookup(self, path: str) -> Document:
        """The document at ``path`` (as the guest asked for it, below 169.254.169.254); ``NotFound`` if none.
        The path is normalised as Nova does (``//``, ``.``, ``..`` and a trailing ``/`` collapse), and only ever
        walks this server's own documents."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        if parts and parts[0] == "openstack":
            return self._openstack(parts[1:])
        if parts and parts[0] == "ec2":
            parts = parts[1:]
        return self._ec2(parts)


def _since(version: str, first: str) -> bool:
    return version == "latest" or OPENSTACK_VERSIONS.index(version) >= OPENSTACK_VERSIONS.index(first)


def _json(document: Any) -> Document:
    return Document(json.dumps(document, ensure_ascii=True, allow_nan=False).encode(), JSON)


def _listing(names: list[str]) -> Document:
    return Document("\n".join(names).encode(), TEXT)


def config_drive(instance: Instance) -> dict[str, Any]:
    """The config drive's documents for the host (plain data for the queue): the same ``meta_data.json`` and
    ``network_data.json`` the metadata API serves, and the user data still base64-encoded. ``instance`` must be
    attached to a session (its ports' addresses are read through it)."""
    session = object_session(instance)
    documents = ServerMetadata.load(session, instance) if session is not None else ServerMetadata(instance, [])
    return {
        "meta_data": documents.meta_data(),
        "network_data": documents.network_data(),
        "user_data": instance.user_data,
    }
