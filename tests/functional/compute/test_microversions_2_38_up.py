"""Compute microversions 2.38 and up over real HTTP: for each boundary, the answer just below and at it, with the
keys Nova's api-ref (and Tempest's schemas) give; and the real CLI negotiating the latest version."""

from __future__ import annotations

import base64

import pytest

from api.compute.microversions import MAX_VERSION, as_text
from tests.functional.compute import BASE, cli_json, fault, version
from tests.functional.compute.conftest import create_server, wait_for_status

pytestmark = [pytest.mark.functional]

LATEST = as_text(MAX_VERSION)
SHOW_KEYS_2_46 = {
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created", "updated",
    "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "OS-EXT-AZ:availability_zone",
    "config_drive", "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at", "security_groups",
    "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached",
    "locked", "description", "tags",
}  # fmt: skip
EMBEDDED_FLAVOR_KEYS = {"vcpus", "ram", "disk", "ephemeral", "swap", "original_name", "extra_specs"}


def reached(microversion: str) -> bool:
    major, minor = microversion.split(".")
    return (int(major), int(minor)) <= MAX_VERSION


def needs(microversion: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not reached(microversion), reason=f"compute API below {microversion}")


def get(cloud, token: str, path: str, microversion: str):
    return cloud.request("GET", f"{BASE}{path}", token, headers=version(microversion))


@pytest.fixture(scope="module")
def member(cloud) -> str:
    return cloud.demo().get_token()


@pytest.fixture(scope="module")
def running(cloud, server_image, member) -> dict:
    """One ACTIVE server of the demo project, with metadata and an image property to show."""
    made = create_server(cloud, member, server_image, "mv-running", metadata={"role": "mv"})
    return wait_for_status(cloud, member, made["id"], "ACTIVE")


# --- 2.38 / 2.39 / 2.57: listing status and limits ---------------------------------------------------------


def test_an_unknown_status_filter_is_400(cloud, member):
    assert get(cloud, member, "/servers?status=NOPE", "2.38").status_code == 400


@needs("2.57")
def test_limits_drop_image_meta_at_2_39_and_personality_at_2_57(cloud, member):
    def absolute(microversion: str) -> set[str]:
        return set(get(cloud, member, "/limits", microversion).json()["limits"]["absolute"])

    assert {"maxImageMeta", "maxPersonality", "maxPersonalitySize"} <= absolute("2.38")
    assert "maxImageMeta" not in absolute("2.39") and "maxPersonality" in absolute("2.56")
    assert not {"maxImageMeta", "maxPersonality", "maxPersonalitySize"} & absolute("2.57")
    assert {"maxTotalInstances", "maxServerMeta", "totalInstancesUsed"} <= absolute("2.57")


# --- the server's representation ---------------------------------------------------------------------------


def test_show_below_2_47_links_the_flavor(cloud, member, running):
    server = get(cloud, member, f"/servers/{running['id']}", "2.46").json()["server"]
    assert set(server) == SHOW_KEYS_2_46
    assert set(server["flavor"]) == {"id", "links"}


@needs("2.47")
def test_show_embeds_the_flavor_from_2_47(cloud, member, running):
    server = get(cloud, member, f"/servers/{running['id']}", "2.47").json()["server"]
    assert set(server) == SHOW_KEYS_2_46
    assert set(server["flavor"]) == EMBEDDED_FLAVOR_KEYS
    assert server["flavor"]["original_name"] and isinstance(server["flavor"]["swap"], int)
    detail = get(cloud, member, "/servers/detail", "2.47").json()["servers"]
    assert all(set(s["flavor"]) == EMBEDDED_FLAVOR_KEYS for s in detail)


@needs("2.72")
def test_trusted_certificates_at_2_63_and_server_groups_in_show_only_at_2_71(cloud, member, running):
    at_2_62 = get(cloud, member, f"/servers/{running['id']}", "2.62").json()["server"]
    at_2_71 = get(cloud, member, f"/servers/{running['id']}", "2.71").json()["server"]
    assert "trusted_image_certificates" not in at_2_62
    assert at_2_71["trusted_image_certificates"] is None and at_2_71["server_groups"] == []
    assert set(at_2_71) == SHOW_KEYS_2_46 | {"trusted_image_certificates", "server_groups"}
    listed = get(cloud, member, "/servers/detail", "2.71").json()["servers"]
    assert listed and all("server_groups" not in s and "trusted_image_certificates" in s for s in listed)


@needs("2.98")
def test_later_fields_hostname_pinned_zone_and_image_properties(cloud, member, running):
    at_2_89 = get(cloud, member, f"/servers/{running['id']}", "2.89").json()["server"]
    assert "OS-EXT-SRV-ATTR:hostname" not in at_2_89  # admin-only before 2.90
    latest = get(cloud, member, f"/servers/{running['id']}", "2.98").json()["server"]
    assert latest["OS-EXT-SRV-ATTR:hostname"] == "mv-running"
    assert "pinned_availability_zone" in latest and latest["pinned_availability_zone"] is None
    assert isinstance(latest["image"]["properties"], dict)
    assert "properties" not in get(cloud, member, f"/servers/{running['id']}", "2.97").json()["server"]["image"]


# --- 2.42 / 2.57 / 2.63 / 2.90: what server create accepts -------------------------------------------------


def _boot(cloud, token, image, name, microversion, **extra):
    body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "none", **extra}}
    return cloud.request("POST", f"{BASE}/servers", token, json=body, headers=version(microversion))


def test_block_device_tags_are_refused_between_2_33_and_2_41(cloud, member, server_image, unique):
    mapping = [{"source_type": "image", "destination_type": "local", "boot_index": 0, "uuid": server_image}]
    tagged = [{**mapping[0], "tag": "root"}]
    refused = _boot(cloud, member, server_image, unique, "2.41", block_device_mapping_v2=tagged)
    assert "tag" in fault(refused, "badRequest", 400)
    if reached("2.42"):
        made = _boot(cloud, member, server_image, unique, "2.42", block_device_mapping_v2=tagged)
        assert made.status_code == 202, made.text
        cloud.request("DELETE", f"{BASE}/servers/{made.json()['server']['id']}", member)


@needs("2.94")
def test_create_refuses_personality_at_2_57_certificates_and_bad_hostnames(cloud, member, server_image, unique):
    files = [{"path": "/etc/motd", "contents": base64.b64encode(b"hi").decode()}]
    assert "personality" in fault(
        _boot(cloud, member, server_image, unique, "2.57", personality=files), "badRequest", 400
    )
    certs = _boot(cloud, member, server_image, unique, "2.63", trusted_image_certificates=["cert-1"])
    assert "certificate validation" in fault(certs, "badRequest", 400)
    assert _boot(cloud, member, server_image, unique, "2.62", trusted_image_certificates=["c"]).status_code == 400
    assert _boot(cloud, member, server_image, unique, "2.89", hostname="web").status_code == 400
    assert _boot(cloud, member, server_image, unique, "2.90", hostname="web.example.org").status_code == 400
    many = _boot(cloud, member, server_image, unique, "2.90", hostname="web", max_count=2)
    assert "hostname" in fault(many, "badRequest", 400)
    made = _boot(cloud, member, server_image, unique, "2.94", hostname="web-1.example.org")
    assert made.status_code == 202, made.text
    server_id = made.json()["server"]["id"]
    shown = get(cloud, member, f"/servers/{server_id}", "2.94").json()["server"]
    assert shown["OS-EXT-SRV-ATTR:hostname"] == "web-1.example.org"
    renamed = cloud.request(
        "PUT", f"{BASE}/servers/{server_id}", member, json={"server": {"hostname": "db"}}, headers=version("2.90")
    )
    assert renamed.status_code == 200 and renamed.json()["server"]["OS-EXT-SRV-ATTR:hostname"] == "db"
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", member)


@needs("2.74")
def test_a_requested_host_at_2_74_is_for_admins_and_must_exist(cloud, member, server_image, unique):
    forbidden = _boot(cloud, member, server_image, unique, "2.74", host="anything")
    assert forbidden.status_code == 403
    admin = cloud.admin_token()
    missing = _boot(cloud, admin, server_image, unique, "2.74", host="no-such-host")
    assert "could not be found" in fault(missing, "badRequest", 400)
    assert _boot(cloud, admin, server_image, unique, "2.73", host="no-such-host").status_code == 400


# --- 2.44 / 2.45: server actions ---------------------------------------------------------------------------


def _action(cloud, token, server_id, body, microversion):
    return cloud.request("POST", f"{BASE}/servers/{server_id}/action", token, json=body, headers=version(microversion))


@needs("2.45")
def test_network_proxy_actions_are_gone_at_2_44_and_create_image_answers_the_id_at_2_45(cloud, member, running):
    proxy = {"addFloatingIp": {"address": "10.0.0.1"}}
    assert _action(cloud, member, running["id"], proxy, "2.43").status_code == 400
    assert _action(cloud, member, running["id"], proxy, "2.44").status_code == 404
    old = _action(cloud, member, running["id"], {"createImage": {"name": "mv-snap-old"}}, "2.44")
    assert old.status_code == 202 and old.headers["Location"].rsplit("/", 1)[-1]
    wait_for_status(cloud, member, running["id"], "ACTIVE")
    new = _action(cloud, member, running["id"], {"createImage": {"name": "mv-snap-new"}}, "2.45")
    assert new.status_code == 202 and "Location" not in new.headers
    assert set(new.json()) == {"image_id"}
    wait_for_status(cloud, member, running["id"], "ACTIVE")
    image = cloud.request("GET", f"/image/v2/images/{new.json()['image_id']}", member)
    assert image.status_code == 200 and image.json()["name"] == "mv-snap-new"


@needs("2.75")
def test_rebuild_takes_key_name_at_2_54_and_user_data_at_2_57_and_answers_as_show_at_2_75(
    cloud, member, server_image, unique
):
    made = create_server(cloud, member, server_image, unique)
    wait_for_status(cloud, member, made["id"], "ACTIVE")
    key = {"keypair": {"name": f"{unique}-key"}}
    created_key = cloud.request("POST", f"{BASE}/os-keypairs", member, json=key, headers=version("2.10"))
    assert created_key.status_code == 201
    with_key = {"rebuild": {"imageRef": server_image, "key_name": f"{unique}-key"}}
    assert _action(cloud, member, made["id"], with_key, "2.53").status_code == 400
    rebuilt = _action(cloud, member, made["id"], with_key, "2.54")
    assert rebuilt.status_code == 202, rebuilt.text
    assert rebuilt.json()["server"]["key_name"] == f"{unique}-key" and "user_data" not in rebuilt.json()["server"]
    assert "OS-EXT-STS:vm_state" not in rebuilt.json()["server"]
    server = wait_for_status(cloud, member, made["id"], "ACTIVE")
    assert server["key_name"] == f"{unique}-key"
    user_data = base64.b64encode(b"#!/bin/sh\n").decode()
    assert (
        _action(
            cloud, member, made["id"], {"rebuild": {"imageRef": server_image, "user_data": user_data}}, "2.56"
        ).status_code
        == 400
    )
    unset = {"rebuild": {"imageRef": server_image, "key_name": None, "user_data": user_data}}
    answer = _action(cloud, member, made["id"], unset, "2.75")
    assert answer.status_code == 202, answer.text
    assert {"OS-EXT-STS:vm_state", "key_name", "flavor", "server_groups"} <= set(answer.json()["server"])
    assert "adminPass" in answer.json()["server"] and answer.json()["server"]["user_data"] == user_data
    assert answer.json()["server"]["key_name"] is None
    server = wait_for_status(cloud, member, made["id"], "ACTIVE")
    assert server["key_name"] is None
    bad_key = {"rebuild": {"imageRef": server_image, "key_name": "no-such-key"}}
    assert "key_name" in fault(_action(cloud, member, made["id"], bad_key, "2.54"), "badRequest", 400)
    cloud.request("DELETE", f"{BASE}/servers/{made['id']}", member)


@needs("2.93")
def test_a_volume_backed_rebuild_is_refused_as_nova_refuses_it_without_reimage(cloud, member, server_image, unique):
    root = {"boot_index": 0, "uuid": server_image, "source_type": "image", "destination_type": "volume",
            "volume_size": 1, "delete_on_termination": True}  # fmt: skip
    made = _boot(cloud, member, "", unique, "2.93", block_device_mapping_v2=[root])
    assert made.status_code == 202, made.text
    server_id = made.json()["server"]["id"]
    wait_for_status(cloud, member, server_id, "ACTIVE")
    rebuild = {"rebuild": {"imageRef": server_image}}
    assert _action(cloud, member, server_id, rebuild, "2.92").status_code == 400
    assert _action(cloud, member, server_id, rebuild, "2.93").status_code == 409
    assert get(cloud, member, f"/servers/{server_id}", "2.93").json()["server"]["status"] == "ACTIVE"
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", member)


# --- 2.55 / 2.61 / 2.75: flavors ---------------------------------------------------------------------------


@needs("2.75")
def test_flavor_description_extra_specs_and_swap(cloud, unique):
    admin = cloud.admin_token()
    body = {"flavor": {"name": unique, "ram": 64, "vcpus": 1, "disk": 1, "description": "for tests"}}
    assert cloud.request("POST", f"{BASE}/flavors", admin, json=body, headers=version("2.54")).status_code == 400
    made = cloud.request("POST", f"{BASE}/flavors", admin, json=body, headers=version("2.55"))
    assert made.status_code == 200, made.text
    flavor = made.json()["flavor"]
    assert flavor["description"] == "for tests" and "extra_specs" not in flavor and flavor["swap"] == ""
    path = f"{BASE}/flavors/{flavor['id']}"
    update = {"flavor": {"description": "changed"}}
    assert cloud.request("PUT", path, admin, json=update, headers=version("2.54")).status_code == 404
    assert cloud.request("PUT", path, cloud.demo().get_token(), json=update, headers=version("2.55")).status_code == 403
    assert cloud.request("PUT", path, admin, json={"flavor": {"name": "x"}}, headers=version("2.55")).status_code == 400
    changed = cloud.request("PUT", path, admin, json=update, headers=version("2.55"))
    assert changed.status_code == 200 and changed.json()["flavor"]["description"] == "changed"
    specs = {"extra_specs": {"hw:cpu_policy": "shared"}}
    assert cloud.request("POST", f"{path}/os-extra_specs", admin, json=specs).status_code == 200
    at_2_61 = cloud.request("GET", path, admin, headers=version("2.61")).json()["flavor"]
    assert at_2_61["extra_specs"] == {"hw:cpu_policy": "shared"} and at_2_61["swap"] == ""
    brief = cloud.request("GET", f"{BASE}/flavors", admin, headers=version("2.61")).json()["flavors"]
    mine = next(f for f in brief if f["id"] == flavor["id"])
    assert set(mine) == {"id", "name", "links", "description"}
    assert cloud.request("GET", path, admin, headers=version("2.75")).json()["flavor"]["swap"] == 0
    cloud.request("DELETE", path, admin)


@needs("2.86")
def test_known_extra_spec_namespaces_are_validated_from_2_86(cloud, unique):
    admin = cloud.admin_token()
    body = {"flavor": {"name": unique, "ram": 64, "vcpus": 1, "disk": 1}}
    flavor = cloud.request("POST", f"{BASE}/flavors", admin, json=body).json()["flavor"]
    path = f"{BASE}/flavors/{flavor['id']}/os-extra_specs"

    def put_specs(specs: dict, microversion: str):
        return cloud.request("POST", path, admin, json={"extra_specs": specs}, headers=version(microversion))

    assert put_specs({"hw:no_such_thing": "1"}, "2.85").status_code == 200
    assert "hw:no_such_thing" in fault(put_specs({"hw:no_such_thing": "1"}, "2.86"), "badRequest", 400)
    assert "hw:cpu_policy" in fault(put_specs({"hw:cpu_policy": "fastest"}, "2.86"), "badRequest", 400)
    assert put_specs({"trait:CUSTOM_GPU": "sometimes"}, "2.86").status_code == 400
    good = {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "1", "resources:VGPU": "1", "my:own": "anything"}
    assert put_specs(good, "2.86").status_code == 200
    item = cloud.request("PUT", f"{path}/hw:numa_nodes", admin, json={"hw:numa_nodes": "0"}, headers=version("2.86"))
    assert item.status_code == 400
    cloud.request("DELETE", f"{BASE}/flavors/{flavor['id']}", admin)


# --- 2.50 / 2.57: quota class sets -------------------------------------------------------------------------


@needs("2.57")
def test_quota_class_set_keys_at_2_50_and_2_57(cloud):
    admin = cloud.admin_token()

    def keys(microversion: str) -> set[str]:
        return set(get(cloud, admin, "/os-quota-class-sets/default", microversion).json()["quota_class_set"])

    assert "server_groups" not in keys("2.49")
    assert {"server_groups", "server_group_members", "injected_files"} <= keys("2.50")
    assert not {"fixed_ips", "floating_ips", "security_groups", "networks"} & keys("2.50")
    assert not {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"} & keys("2.57")
    quota_set = set(get(cloud, admin, f"/os-quota-sets/{cloud.demo().get_project_id()}", "2.57").json()["quota_set"])
    assert "injected_files" not in quota_set and "instances" in quota_set
    stale = {"quota_class_set": {"injected_files": 5}}
    path = f"{BASE}/os-quota-class-sets/default"
    assert cloud.request("PUT", path, admin, json=stale, headers=version("2.57")).status_code == 400


# --- 2.64: server groups ------------------------------------------------------------------------------------


@needs("2.64")
def test_server_groups_have_a_policy_and_rules_from_2_64(cloud, member, unique):
    path = f"{BASE}/os-server-groups"
    body = {"server_group": {"name": unique, "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}}
    assert cloud.request("POST", path, member, json=body, headers=version("2.63")).status_code == 400
    made = cloud.request("POST", path, member, json=body, headers=version("2.64"))
    assert made.status_code == 200, made.text
    group = made.json()["server_group"]
    assert set(group) == {"id", "name", "policy", "rules", "members", "project_id", "user_id"}
    assert group["rules"] == {"max_server_per_host": 2}
    old = get(cloud, member, f"/os-server-groups/{group['id']}", "2.63").json()["server_group"]
    assert old["policies"] == ["anti-affinity"] and old["metadata"] == {}
    affinity = {"server_group": {"name": unique, "policy": "affinity", "rules": {"max_server_per_host": 2}}}
    assert "anti-affinity" in fault(
        cloud.request("POST", path, member, json=affinity, headers=version("2.64")), "badRequest", 400
    )
    zero = {"server_group": {"name": unique, "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}}
    assert cloud.request("POST", path, member, json=zero, headers=version("2.64")).status_code == 400
    cloud.request("DELETE", f"{path}/{group['id']}", member)


# --- 2.58 / 2.62 / 2.66 / 2.84: instance actions -----------------------------------------------------------


@needs("2.84")
def test_instance_actions_page_and_show_host_ids_and_details(cloud, member, running):
    path = f"/servers/{running['id']}/os-instance-actions"
    everything = get(cloud, member, path, "2.58").json()["instanceActions"]
    assert everything and all("updated_at" in a for a in everything)
    assert all("updated_at" not in a for a in get(cloud, member, path, "2.57").json()["instanceActions"])
    first = get(cloud, member, f"{path}?limit=1", "2.58").json()
    assert len(first["instanceActions"]) == 1
    if len(everything) > 1:
        assert first["links"][0]["rel"] == "next"
        second = get(cloud, member, f"{path}?limit=1&marker={everything[0]['request_id']}", "2.58").json()
        assert second["instanceActions"][0]["request_id"] == everything[1]["request_id"]
    assert get(cloud, member, f"{path}?marker=req-nope", "2.58").status_code == 400
    assert get(cloud, member, f"{path}?changes-since=2999-01-01T00:00:00Z", "2.58").json()["instanceActions"] == []
    assert get(cloud, member, f"{path}?changes-before=2000-01-01T00:00:00Z", "2.66").json()["instanceActions"] == []
    create = next(a for a in everything if a["action"] == "create")
    event = get(cloud, member, f"{path}/{create['request_id']}", "2.84").json()["instanceAction"]["events"][0]
    assert event["hostId"] and "host" not in event and "details" in event and event["details"] is None
    admin_event = get(cloud, cloud.admin_token(), f"{path}/{create['request_id']}", "2.62").json()
    assert admin_event["instanceAction"]["events"][0]["host"]


# --- 2.66 / 2.75: listing parameters ------------------------------------------------------------------------


@needs("2.75")
def test_listing_is_strict_at_2_75_and_filters_changes_before_at_2_66(cloud, member, running):
    assert get(cloud, member, "/servers?foo=1", "2.74").status_code == 200
    assert "foo" in fault(get(cloud, member, "/servers?foo=1", "2.75"), "badRequest", 400)
    assert get(cloud, member, "/servers?limit=5&sort_key=name", "2.75").status_code == 200
    past = get(cloud, member, "/servers?changes-before=2000-01-01T00:00:00Z", "2.66").json()["servers"]
    future = get(cloud, member, "/servers?changes-before=2999-01-01T00:00:00Z", "2.66").json()["servers"]
    assert past == [] and running["id"] in {s["id"] for s in future}
    crossed = "/servers?changes-since=2999-01-01T00:00:00Z&changes-before=2000-01-01T00:00:00Z"
    assert get(cloud, member, crossed, "2.66").status_code == 400


# --- 2.78 / 2.97: sub-resources of features without backing ----------------------------------------------


@needs("2.97")
def test_topology_at_2_78_and_shares_at_2_97(cloud, member, running):
    assert get(cloud, member, f"/servers/{running['id']}/topology", "2.77").status_code == 404
    topology = get(cloud, member, f"/servers/{running['id']}/topology", "2.78").json()
    assert topology == {"nodes": [], "pagesize_kb": None}
    assert get(cloud, member, f"/servers/{running['id']}/shares", "2.96").status_code == 404
    assert get(cloud, member, f"/servers/{running['id']}/shares", "2.97").json() == {"shares": []}
    share = {"share": {"share_id": "0b4f9a83-3d5e-4b1e-8f4a-3f0c0e0e0e0e"}}
    attach = cloud.request(
        "POST", f"{BASE}/servers/{running['id']}/shares", member, json=share, headers=version("2.97")
    )
    assert attach.status_code == 409  # the server runs: a share is attached to a stopped server


# --- 2.92: key pairs -----------------------------------------------------------------------------------------


@needs("2.92")
def test_key_pairs_are_only_imported_from_2_92(cloud, member, unique):
    path = f"{BASE}/os-keypairs"
    generated = cloud.request("POST", path, member, json={"keypair": {"name": unique}}, headers=version("2.91"))
    assert generated.status_code == 201 and "private_key" in generated.json()["keypair"]
    public_key = generated.json()["keypair"]["public_key"]
    refused = cloud.request("POST", path, member, json={"keypair": {"name": f"{unique}2"}}, headers=version("2.92"))
    assert "public_key" in fault(refused, "badRequest", 400)
    dotted = {"keypair": {"name": f"{unique}@host.example", "public_key": public_key}}
    assert cloud.request("POST", path, member, json=dotted, headers=version("2.91")).status_code == 400
    assert cloud.request("POST", path, member, json=dotted, headers=version("2.92")).status_code == 201
    for name in (unique, f"{unique}@host.example"):
        cloud.request("DELETE", f"{path}/{name}", member)


# --- 2.53 / 2.75 / 2.88: hypervisors and services ------------------------------------------------------------


@needs("2.88")
def test_hypervisors_are_named_by_uuid_from_2_53_and_lose_usage_at_2_88(cloud, running):
    admin = cloud.admin_token()
    old = get(cloud, admin, "/os-hypervisors/detail", "2.52").json()["hypervisors"]
    assert old and all(isinstance(h["id"], int) for h in old)
    listed = get(cloud, admin, "/os-hypervisors/detail", "2.53").json()["hypervisors"]
    assert all(isinstance(h["id"], str) and len(h["id"]) == 36 for h in listed)
    assert all(isinstance(h["service"]["id"], str) for h in listed)
    one = listed[0]
    assert get(cloud, admin, f"/os-hypervisors/{one['id']}", "2.53").json()["hypervisor"]["id"] == one["id"]
    assert get(cloud, admin, f"/os-hypervisors/{old[0]['id']}", "2.53").status_code == 400
    assert get(cloud, admin, f"/os-hypervisors/{one['hypervisor_hostname']}/search", "2.53").status_code == 404
    pattern = get(cloud, admin, f"/os-hypervisors?hypervisor_hostname_pattern={one['hypervisor_hostname']}", "2.53")
    assert [h["id"] for h in pattern.json()["hypervisors"]] == [one["id"]]
    paged = f"/os-hypervisors?hypervisor_hostname_pattern={one['hypervisor_hostname']}&limit=1"
    assert get(cloud, admin, paged, "2.53").status_code == 400
    with_servers = get(cloud, admin, "/os-hypervisors?with_servers=true", "2.75").json()["hypervisors"]
    assert all(isinstance(h["servers"], list) for h in with_servers)
    assert running["id"] in {s["uuid"] for h in with_servers for s in h["servers"]}
    trimmed = get(cloud, admin, f"/os-hypervisors/{one['id']}", "2.88").json()["hypervisor"]
    assert "vcpus" not in trimmed and "running_vms" not in trimmed and "uptime" in trimmed
    assert {"hypervisor_type", "hypervisor_version", "host_ip", "service", "state", "status"} <= set(trimmed)
    assert get(cloud, admin, "/os-hypervisors/statistics", "2.87").status_code == 200
    assert get(cloud, admin, "/os-hypervisors/statistics", "2.88").status_code == 404
    assert get(cloud, admin, f"/os-hypervisors/{one['id']}/uptime", "2.88").status_code == 404


@needs("2.53")
def test_services_are_changed_by_uuid_from_2_53(cloud):
    admin = cloud.admin_token()
    services = get(cloud, admin, "/os-services?binary=nova-compute", "2.53").json()["services"]
    target = services[-1]
    assert isinstance(target["id"], str) and len(target["id"]) == 36
    path = f"{BASE}/os-services/{target['id']}"
    disable = {"status": "disabled", "disabled_reason": "maintenance"}
    changed = cloud.request("PUT", path, admin, json=disable, headers=version("2.53"))
    try:
        assert changed.status_code == 200, changed.text
        service = changed.json()["service"]
        assert service["id"] == target["id"] and service["status"] == "disabled"
        assert service["disabled_reason"] == "maintenance" and service["host"] == target["host"]
    finally:
        enabled = cloud.request("PUT", path, admin, json={"status": "enabled"}, headers=version("2.53"))
    assert enabled.json()["service"]["status"] == "enabled" and enabled.json()["service"]["disabled_reason"] is None
    bad = {"status": "enabled", "disabled_reason": "x"}
    assert cloud.request("PUT", path, admin, json=bad, headers=version("2.53")).status_code == 400
    assert cloud.request("PUT", path, admin, json={}, headers=version("2.53")).status_code == 400
    assert (
        cloud.request("PUT", f"{BASE}/os-services/disable", admin, json=disable, headers=version("2.53")).status_code
        == 400
    )
    scheduler = get(cloud, admin, "/os-services?binary=nova-scheduler", "2.53").json()["services"]
    if scheduler:
        other = cloud.request(
            "PUT",
            f"{BASE}/os-services/{scheduler[0]['id']}",
            admin,
            json={"status": "disabled"},
            headers=version("2.53"),
        )
        assert "nova-compute" in fault(other, "badRequest", 400)
    missing = f"{BASE}/os-services/00000000-0000-0000-0000-000000000000"
    assert cloud.request("DELETE", missing, admin, headers=version("2.53")).status_code == 404


# --- 2.49 / 2.70 / 2.79 / 2.85 / 2.89: volume attachments ----------------------------------------------------


@needs("2.89")
def test_volume_attachment_fields_per_microversion(cloud, member, running, unique):
    from tests.functional.compute.test_volume_attachments import make_volume, wait_volume

    made = make_volume(cloud, member, unique)
    path = f"{BASE}/servers/{running['id']}/os-volume_attachments"
    body = {"volumeAttachment": {"volumeId": made["id"], "tag": "data", "delete_on_termination": True}}
    assert cloud.request("POST", path, member, json=body, headers=version("2.78")).status_code == 400
    tagged_only = {"volumeAttachment": {"volumeId": made["id"], "tag": "data"}}
    assert cloud.request("POST", path, member, json=tagged_only, headers=version("2.48")).status_code == 400
    attached = cloud.request("POST", path, member, json=body, headers=version("2.79"))
    assert attached.status_code == 200, attached.text
    view = attached.json()["volumeAttachment"]
    assert view["tag"] == "data" and view["delete_on_termination"] is True and view["id"] == made["id"]
    wait_volume(cloud, member, made["id"], "in-use")
    shown = get(cloud, member, f"/servers/{running['id']}/os-volume_attachments/{made['id']}", "2.69").json()
    assert set(shown["volumeAttachment"]) == {"id", "volumeId", "serverId", "device"}
    latest = get(cloud, member, f"/servers/{running['id']}/os-volume_attachments/{made['id']}", "2.89").json()
    assert set(latest["volumeAttachment"]) == {
        "volumeId", "serverId", "device", "tag", "delete_on_termination", "attachment_id", "bdm_uuid",
    }  # fmt: skip
    update = {"volumeAttachment": {"volumeId": made["id"], "delete_on_termination": False}}
    one = f"{path}/{made['id']}"
    assert cloud.request("PUT", one, member, json=update, headers=version("2.84")).status_code == 403
    assert cloud.request("PUT", one, member, json=update, headers=version("2.85")).status_code == 202
    assert (
        get(cloud, member, f"/servers/{running['id']}/os-volume_attachments", "2.89").json()["volumeAttachments"][0][
            "delete_on_termination"
        ]
        is False
    )
    moved = {"volumeAttachment": {"volumeId": made["id"], "device": "/dev/vdz"}}
    assert cloud.request("PUT", one, member, json=moved, headers=version("2.85")).status_code == 400
    assert cloud.request("DELETE", one, member).status_code == 202
    wait_volume(cloud, member, made["id"], "available")
    cloud.request("DELETE", f"/volume/v3/volumes/{made['id']}", member)


# --- the CLI, which negotiates the latest microversion --------------------------------------------------------


def test_cli_at_the_latest_microversion_creates_shows_and_lists(cloud, server_image, unique):
    created = cli_json(
        cloud, "stratus", "--os-compute-api-version", "2.latest", "server", "create", "--image", server_image,
        "--flavor", "1", "--no-network", "--wait", unique,
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    shown = cli_json(cloud, "stratus", "--os-compute-api-version", "2.latest", "server", "show", created["id"])
    assert shown["id"] == created["id"] and shown["flavor"]
    listed = cli_json(cloud, "stratus", "--os-compute-api-version", "2.latest", "server", "list", "--long")
    assert created["id"] in {s["ID"] for s in listed}
    cloud.openstack("stratus", "server", "delete", "--wait", created["id"])


def test_cli_server_create_by_default_boots(cloud, server_image, unique):
    created = cli_json(
        cloud, "stratus", "server", "create", "--image", server_image, "--flavor", "1", "--no-network", "--wait",
        unique,
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    versions = cloud.request("GET", "/compute/v2.1/", None).json()["version"]
    assert versions["version"] == LATEST
    cloud.openstack("stratus", "server", "delete", "--wait", created["id"])


# --- 2.91 / 2.96: unshelve to a host, unpin from a zone ---------------------------------------------------------


@needs("2.96")
def test_unshelve_to_a_host_for_admins_and_unpinning_at_2_91(cloud, member, server_image, unique):
    admin = cloud.admin_token()
    made = _boot(cloud, member, server_image, unique, "2.96", availability_zone="nova")
    assert made.status_code == 202, made.text
    server_id = made.json()["server"]["id"]
    assert wait_for_status(cloud, member, server_id, "ACTIVE")
    assert get(cloud, member, f"/servers/{server_id}", "2.96").json()["server"]["pinned_availability_zone"] == "nova"
    assert _action(cloud, member, server_id, {"shelve": None}, "2.91").status_code == 202
    wait_for_status(cloud, member, server_id, "SHELVED_OFFLOADED")
    hosts = [h["hypervisor_hostname"] for h in get(cloud, admin, "/os-hypervisors", "2.53").json()["hypervisors"]]
    to_host = {"unshelve": {"host": hosts[-1]}}
    assert _action(cloud, member, server_id, to_host, "2.90").status_code == 400
    assert _action(cloud, member, server_id, to_host, "2.91").status_code == 403
    missing = _action(cloud, admin, server_id, {"unshelve": {"host": "no-such-host"}}, "2.91")
    assert "could not be found" in fault(missing, "badRequest", 400)
    moved = _action(cloud, admin, server_id, to_host, "2.91")
    assert moved.status_code == 202, moved.text
    wait_for_status(cloud, member, server_id, "ACTIVE")
    assert get(cloud, admin, f"/servers/{server_id}", "2.91").json()["server"]["OS-EXT-SRV-ATTR:host"] == hosts[-1]
    assert _action(cloud, member, server_id, {"unshelve": {"availability_zone": None}}, "2.91").status_code == 409
    assert _action(cloud, member, server_id, {"shelve": None}, "2.91").status_code == 202
    wait_for_status(cloud, member, server_id, "SHELVED_OFFLOADED")
    unpin = _action(cloud, member, server_id, {"unshelve": {"availability_zone": None}}, "2.91")
    assert unpin.status_code == 202, unpin.text
    server = wait_for_status(cloud, member, server_id, "ACTIVE")
    assert get(cloud, member, f"/servers/{server_id}", "2.96").json()["server"]["pinned_availability_zone"] is None
    assert server["OS-EXT-STS:task_state"] is None
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", member)


# --- 2.100: the scheduler hints a server was created with ---------------------------------------------------


@needs("2.100")
def test_scheduler_hints_are_shown_from_2_100_as_given_at_create(cloud, member, server_image, unique):
    body = {
        "server": {"name": unique, "imageRef": server_image, "flavorRef": "1", "networks": "none"},
        "os:scheduler_hints": {"same_host": [], "build_near_host_ip": "10.0.0.1", "cidr": "/24"},
    }
    made = cloud.request("POST", f"{BASE}/servers", member, json=body, headers=version("2.100"))
    assert made.status_code == 202, made.text
    server_id = made.json()["server"]["id"]
    shown = get(cloud, member, f"/servers/{server_id}", "2.100").json()["server"]
    assert shown["scheduler_hints"] == body["os:scheduler_hints"]
    assert "scheduler_hints" not in get(cloud, member, f"/servers/{server_id}", "2.99").json()["server"]
    listed = {s["id"]: s for s in get(cloud, member, "/servers/detail", "2.100").json()["servers"]}
    assert listed[server_id]["scheduler_hints"] == body["os:scheduler_hints"]
    plain = create_server(cloud, member, server_image, f"{unique}-plain")
    assert get(cloud, member, f"/servers/{plain['id']}", "2.100").json()["server"]["scheduler_hints"] == {}


# --- update's answer and access addresses ------------------------------------------------------------------


def _put(cloud, token: str, server_id: str, body: dict, microversion: str):
    return cloud.request(
        "PUT", f"{BASE}/servers/{server_id}", token, json={"server": body}, headers=version(microversion)
    )


@needs("2.75")
def test_an_update_answers_the_basic_server_below_2_75_and_the_shown_one_from_it(cloud, member, running):
    """Regression (Tempest's update_server schema): below 2.75 the answer of PUT carried show's extension keys."""
    below = _put(cloud, member, running["id"], {"name": "mv-running"}, "2.74").json()["server"]
    assert not {k for k in below if k.startswith(("OS-EXT-", "OS-SRV-USG", "os-extended-volumes"))}
    assert not {"key_name", "security_groups", "config_drive"} & set(below)
    assert {"id", "name", "accessIPv4", "locked", "description", "tags"} <= set(below)
    at = _put(cloud, member, running["id"], {"name": "mv-running"}, "2.75").json()["server"]
    assert set(at) == set(get(cloud, member, f"/servers/{running['id']}", "2.75").json()["server"])


@pytest.mark.parametrize(
    "field, value",
    [("accessIPv4", "1.1.1.1.1.1"), ("accessIPv4", "::1"), ("accessIPv4", ""), ("accessIPv6", "2001:db8::1%eth0"),
     ("accessIPv6", "1.2.3.4"), ("accessIPv6", "::babe::1")],
)  # fmt: skip
def test_access_addresses_that_are_not_addresses_are_400_on_create_update_and_rebuild(
    cloud, member, server_image, running, field, value
):
    server = {"name": "bad-ip", "imageRef": server_image, "flavorRef": "1", "networks": "none", field: value}
    made = cloud.request("POST", f"{BASE}/servers", member, headers=version("2.1"), json={"server": server})
    updated = _put(cloud, member, running["id"], {field: value}, "2.1")
    rebuilt = cloud.request(
        "POST", f"{BASE}/servers/{running['id']}/action", member, headers=version("2.1"),
        json={"rebuild": {"imageRef": server_image, field: value}},
    )  # fmt: skip
    assert [r.status_code for r in (made, updated, rebuilt)] == [400, 400, 400], made.text


def test_access_addresses_are_kept_and_shown(cloud, member, running):
    answer = _put(cloud, member, running["id"], {"accessIPv4": "1.1.1.1", "accessIPv6": "::babe:202:202"}, "2.1")
    assert answer.status_code == 200, answer.text
    shown = get(cloud, member, f"/servers/{running['id']}", "2.1").json()["server"]
    assert (shown["accessIPv4"], shown["accessIPv6"]) == ("1.1.1.1", "::babe:202:202")
