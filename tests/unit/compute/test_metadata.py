"""A server's metadata documents (compute.metadata): Nova's OpenStack and EC2 layouts, from the database."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest

from common.db import Database
from compute import metadata
from compute.control.build import instance_spec
from compute.metadata import NotFound, ServerMetadata
from compute.models import Instance
from network.models import DHCP_OWNER, FloatingIP, IPAllocation, Network, Port, Subnet

VNIS = itertools.count(5000)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey alice@laptop"


def _port(session: Any, network: Network, subnet: Subnet, ip: str, mac: str, **fields: Any) -> Port:
    port = Port(network_id=network.id, project_id=network.project_id, mac_address=mac, **fields)
    session.add(port)
    session.flush()
    session.add(IPAllocation(port_id=port.id, subnet_id=subnet.id, ip_address=ip))
    return port


def seed(db: Database, *, user_data: bytes | None = b"#!/bin/sh\necho hi\n", floating: bool = True) -> str:
    with db.session() as session:
        net = Network(project_id="alice", mtu=1450, segmentation_id=next(VNIS), name="private")
        public = Network(project_id="admin", mtu=1500, segmentation_id=None, router_external=True, name="public")
        session.add_all([net, public])
        session.flush()
        subnet = Subnet(
            network_id=net.id, project_id="alice", cidr="10.0.0.0/24", gateway_ip="10.0.0.1",
            dns_nameservers=["192.0.2.53"], host_routes=[{"destination": "192.168.7.0/24", "nexthop": "10.0.0.9"}],
        )  # fmt: skip
        session.add(subnet)
        session.flush()
        _port(session, net, subnet, "10.0.0.2", "fa:16:3e:00:00:02", device_owner=DHCP_OWNER, device_id="dhcp")
        instance = Instance(
            name="web", project_id="alice", user_id="u", hostname="web", reservation_id="r-1", image_ref="1" * 36,
            flavor={"name": "m1.tiny", "vcpus": 1, "ram": 128, "disk": 1}, availability_zone="nova",
            key_name="laptop", key_data=KEY, metadata_items={"role": "web"}, security_groups=["default"],
            user_data=base64.b64encode(user_data).decode() if user_data is not None else None, image_meta={},
            requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        port = _port(session, net, subnet, "10.0.0.5", "fa:16:3e:00:00:05", device_owner="compute:nova")
        port.device_id = instance.id
        instance.requested_networks = [
            {"network_id": net.id, "port_id": port.id, "mac": port.mac_address, "mtu": 1450, "tap": "tap0123",
             "bridge": "qbr0123"}
        ]  # fmt: skip
        if floating:
            session.add(
                FloatingIP(project_id="alice", floating_network_id=public.id, floating_ip_address="172.24.4.10",
                           port_id=port.id, fixed_ip_address="10.0.0.5")
            )  # fmt: skip
        return instance.id


def lookup(db: Database, instance_id: str, path: str) -> metadata.Document:
    with db.session() as session:
        return ServerMetadata.load(session, session.get(Instance, instance_id)).lookup(path)


def text(db: Database, instance_id: str, path: str) -> str:
    return lookup(db, instance_id, path).body.decode()


def test_meta_data_json_names_the_server_its_key_and_metadata(db: Database) -> None:
    server = seed(db)
    document = lookup(db, server, "/openstack/latest/meta_data.json")
    assert document.content_type == "application/json"
    meta = json.loads(document.body)
    assert meta["uuid"] == server and meta["name"] == "web" and meta["hostname"] == "web"
    assert meta["public_keys"] == {"laptop": KEY}
    assert meta["keys"] == [{"name": "laptop", "type": "ssh", "data": KEY}]
    assert meta["meta"] == {"role": "web"} and meta["project_id"] == "alice" and meta["availability_zone"] == "nova"
    assert len(base64.b64decode(meta["random_seed"])) == 512


def test_older_versions_lack_what_came_later(db: Database) -> None:
    server = seed(db)
    folsom = json.loads(lookup(db, server, "/openstack/2012-08-10/meta_data.json").body)
    assert "random_seed" not in folsom and "project_id" not in folsom
    assert text(db, server, "/openstack/2012-08-10") == "meta_data.json\nuser_data"
    with pytest.raises(NotFound):
        lookup(db, server, "/openstack/2012-08-10/network_data.json")
    assert text(db, server, "/openstack/latest/").split("\n") == [
        "meta_data.json", "user_data", "vendor_data.json", "network_data.json", "vendor_data2.json",
    ]  # fmt: skip


def test_version_list_ends_with_latest(db: Database) -> None:
    server = seed(db)
    versions = text(db, server, "/openstack").split("\n")
    assert versions[0] == "2012-08-10" and "2018-08-27" in versions and versions[-1] == "latest"
    assert text(db, server, "/").split("\n")[-2:] == ["2009-04-04", "latest"]


def test_user_data_is_the_users_bytes_and_404_without(db: Database) -> None:
    server = seed(db)
    assert lookup(db, server, "/openstack/latest/user_data").body == b"#!/bin/sh\necho hi\n"
    assert lookup(db, server, "/latest/user-data").body == b"#!/bin/sh\necho hi\n"
    bare = seed(db, user_data=None, floating=False)
    for path in ("/openstack/latest/user_data", "/latest/user-data"):
        with pytest.raises(NotFound):
            lookup(db, bare, path)
    assert "user_data" not in text(db, bare, "/openstack/latest")
    assert text(db, bare, "/latest") == "meta-data/"


def test_vendor_data_is_empty(db: Database) -> None:
    server = seed(db)
    assert json.loads(lookup(db, server, "/openstack/latest/vendor_data.json").body) == {}
    assert json.loads(lookup(db, server, "/openstack/latest/vendor_data2.json").body) == {}


def test_network_data_gives_the_fixed_address_statically_with_its_routes(db: Database) -> None:
    server = seed(db)
    data = json.loads(lookup(db, server, "/openstack/latest/network_data.json").body)
    assert data["links"] == [
        {"id": "tap0123", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:05", "mtu": 1450,
         "vif_id": data["links"][0]["vif_id"]}
    ]  # fmt: skip
    (network,) = data["networks"]
    assert network["type"] == "ipv4" and network["link"] == "tap0123"
    assert (network["ip_address"], network["netmask"]) == ("10.0.0.5", "255.255.255.0")
    assert network["routes"] == [
        {"network": "192.168.7.0", "netmask": "255.255.255.0", "gateway": "10.0.0.9"},
        {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
        {"network": "169.254.169.254", "netmask": "255.255.255.255", "gateway": "10.0.0.2"},
    ]
    assert network["services"] == data["services"] == [{"type": "dns", "address": "192.0.2.53"}]


def test_ec2_meta_data_lists_its_entries_as_ec2_does(db: Database) -> None:
    server = seed(db)
    listing = text(db, server, "/latest/meta-data/").split("\n")
    for entry in ("ami-id", "hostname", "instance-id", "local-hostname", "local-ipv4", "public-ipv4",
                  "placement/", "public-keys/", "reservation-id", "security-groups"):  # fmt: skip
        assert entry in listing
    assert listing == sorted(listing)
    assert text(db, server, "/latest/meta-data/placement/availability-zone") == "nova"
    assert text(db, server, "/latest/meta-data/public-keys/") == "0=laptop"
    assert text(db, server, "/latest/meta-data/public-keys/0/") == "openssh-key"
    assert text(db, server, "/latest/meta-data/public-keys/0/openssh-key") == KEY
    assert text(db, server, "/latest/meta-data/local-ipv4") == "10.0.0.5"
    assert text(db, server, "/2009-04-04/meta-data/instance-id") == f"i-{server.replace('-', '')[:8]}"
    assert text(db, server, "/latest/meta-data/reservation-id") == "r-1"
    assert text(db, server, "/latest/meta-data/security-groups") == "default"


def test_public_ipv4_is_the_associated_floating_ip_else_empty(db: Database) -> None:
    assert text(db, seed(db), "/latest/meta-data/public-ipv4") == "172.24.4.10"
    assert text(db, seed(db, floating=False), "/latest/meta-data/public-ipv4") == ""


@pytest.mark.parametrize(
    "path",
    ["/openstack/2011-01-01/meta_data.json", "/openstack/latest/nothing", "/openstack/latest/meta_data.json/x",
     "/3000-01-01/meta-data", "/latest/meta-data/nothing", "/latest/meta-data/public-keys/0/_name",
     "/latest/meta-data/hostname/x", "/latest/nothing"],
)  # fmt: skip
def test_unknown_paths_are_not_found(db: Database, path: str) -> None:
    server = seed(db)
    with pytest.raises(NotFound):
        lookup(db, server, path)


def test_dot_dot_never_leaves_the_servers_documents(db: Database) -> None:
    server = seed(db)
    assert text(db, server, "/openstack/latest/../../latest/meta-data/hostname") == "web"
    assert json.loads(lookup(db, server, "/../../openstack//latest/./meta_data.json").body)["uuid"] == server


def test_config_drive_carries_the_metadata_services_documents(db: Database) -> None:
    server = seed(db)
    with db.session() as session:
        instance = session.get(Instance, server)
        drive = instance_spec(instance)["config_drive"]
        served = ServerMetadata.load(session, instance)
        assert drive["network_data"] == served.network_data()
        drive_meta, served_meta = drive["meta_data"], served.meta_data()
    assert {k: v for k, v in drive_meta.items() if k != "random_seed"} == {
        k: v for k, v in served_meta.items() if k != "random_seed"
    }
    assert drive["user_data"] == base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
