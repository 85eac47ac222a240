"""Every API answers its version document, so the catalog is real and clients negotiate against it."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.functional


def test_identity_versions(cloud):
    root = cloud.request("GET", "/identity")
    v3 = cloud.request("GET", "/identity/v3")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3.")
    assert v3.json()["version"]["links"][0]["href"] == f"{cloud.url}/identity/v3/"


def test_compute_versions_advertise_the_microversion_range(cloud):
    root = cloud.request("GET", "/compute").json()["versions"]
    version = cloud.request("GET", "/compute/v2.1/").json()["version"]
    assert [v["id"] for v in root] == ["v2.1"]
    assert version["status"] == "CURRENT" and version["min_version"] == "2.1" and version["version"]


def test_network_and_image_versions(cloud):
    network = cloud.request("GET", "/network")
    image = cloud.request("GET", "/image")
    assert network.status_code == 200 and network.json()["versions"][0]["id"] == "v2.0"
    assert image.status_code == 300 and image.json()["versions"][0]["status"] == "CURRENT"


@pytest.mark.parametrize(
    ("path", "fault_key"),
    [
        ("/compute/v2.1/flavors/m1.tiny", "itemNotFound"),
        ("/network/v2.0/networks/demo-net", "NeutronError"),
        ("/image/v2/images/cirros", "message"),
        ("/placement/resource_providers/no-such-provider", "errors"),
        ("/nowhere", "error"),
    ],
)
def test_unknown_resources_are_clean_404s_in_each_apis_fault_format(cloud, path, fault_key):
    response = cloud.request("GET", path, cloud.admin_token())
    assert response.status_code == 404
    assert fault_key in response.json()


def test_openstack_versions_show_discovers_every_service(cloud):
    rows = json.loads(cloud.openstack("stratus", "versions", "show", "-f", "json").stdout)
    assert {r["Service Type"] for r in rows} == {
        "identity", "compute", "network", "image", "block-storage", "placement"
    }  # fmt: skip
    assert all(r["Status"] == "CURRENT" for r in rows)
    [placement] = [r for r in rows if r["Service Type"] == "placement"]
    assert (placement["Min Microversion"], placement["Max Microversion"]) == ("1.0", "1.9")
