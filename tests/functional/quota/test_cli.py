"""Every ``stratus`` quota command and its error paths, run as a subprocess against the running cloud: ``quota
show|set|reset|defaults|resources``, ``usage``, ``project list``, in each ``--format``, with the exit codes
scripts rely on (0 done, 2 bad command line, 3 no such project, 4 below usage, 5 not allowed, 6
``--fail-at``), the usage it reports agreeing with the ``openstack`` CLI, ``/limits`` and what exists, and
the resources it knows being exactly the server's ``quota.registry``, read over HTTP."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from quota import registry
from tests.functional.compute.conftest import create_server
from tests.functional.quota.conftest import COMPUTE, NETWORK, run, run_json, set_compute

pytestmark = pytest.mark.functional


def stratus(cloud, *args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
    result = run(cloud, "stratus", *args, env=env)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def stratus_json(cloud, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(stratus(cloud, *args, "--format", "json", env=env))


def _by_resource(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["resource"]: row for row in rows}


def test_quota_show_by_name_or_id_in_every_format(cloud, tenant):
    by_name = _by_resource(stratus_json(cloud, "quota", "show", tenant.name))
    assert by_name["instances"] == {
        "resource": "instances", "service": "compute", "per": "project", "limit": 10, "in_use": 0, "unit": "",
    }  # fmt: skip
    assert by_name["port"]["limit"] == 500 and by_name["image_size_total"]["limit"] == -1
    assert by_name["metadata_items"]["per"] == "server" and by_name["metadata_items"]["in_use"] is None
    assert _by_resource(stratus_json(cloud, "quota", "show", tenant.project_id)) == by_name
    table = stratus(cloud, "quota", "show", tenant.name)
    assert table.splitlines()[0].split() == ["RESOURCE", "SERVICE", "PER", "LIMIT", "IN_USE", "UNIT"]
    assert any(line.split()[:4] == ["instances", "compute", "project", "10"] for line in table.splitlines())
    rows = list(csv.DictReader(io.StringIO(stratus(cloud, "quota", "show", tenant.name, "--format", "csv"))))
    assert {row["resource"]: row["limit"] for row in rows}["ram"] == "51200"


def test_quota_set_writes_each_service_and_the_apis_agree(cloud, tenant):
    shown = stratus_json(
        cloud, "quota", "set", tenant.name, "--instances", "5", "--ram", "-1", "--port", "20",
        "--image-count-total", "3", "--image-size-total=1000", "--key-pairs", "4", "--metadata-items", "16",
    )  # fmt: skip
    limits = {row["resource"]: row["limit"] for row in shown}
    assert (limits["instances"], limits["ram"], limits["port"], limits["image_count_total"]) == (5, -1, 20, 3)
    admin = cloud.admin_token()
    nova = cloud.request("GET", f"{COMPUTE}/os-quota-sets/{tenant.project_id}", admin).json()["quota_set"]
    assert (nova["instances"], nova["ram"], nova["key_pairs"], nova["metadata_items"]) == (5, -1, 4, 16)
    assert cloud.request("GET", f"{NETWORK}/quotas/{tenant.project_id}", admin).json()["quota"]["port"] == 20
    glance = cloud.request("GET", "/image/v2/info/usage", tenant.member).json()["usage"]
    assert (glance["image_count_total"]["limit"], glance["image_size_total"]["limit"]) == (3, 1000)
    # An existing image limit changes; the project may come after the limits.
    again = stratus_json(cloud, "quota", "set", "--image-count-total", "4", tenant.name)
    assert {row["resource"]: row["limit"] for row in again}["image_count_total"] == 4


def test_the_cli_knows_exactly_the_registrys_resources(cloud, tenant):
    """Listed, shown and settable: every resource of ``quota.registry`` in its order and words, and no other."""
    expected = [(r.name, r.service, r.per, r.unit) for r in registry.RESOURCES]
    listed = stratus_json(cloud, "quota", "resources")
    assert [(r["resource"], r["service"], r["per"], r["unit"]) for r in listed] == expected
    assert [(r["label"], r["description"]) for r in listed] == [(r.label, r.description) for r in registry.RESOURCES]
    every = [arg for r in registry.RESOURCES for arg in (f"--{r.name.replace('_', '-')}", "7")]
    shown = stratus_json(cloud, "quota", "set", tenant.name, *every, "--force")
    assert [(r["resource"], r["service"], r["per"], r["unit"]) for r in shown] == expected
    assert {r["limit"] for r in shown} == {7}
    assert [r["resource"] for r in stratus_json(cloud, "quota", "defaults")] == [n for n, *_ in expected]


def test_a_limit_below_usage_is_refused_unless_forced(cloud, tenant, server_image, unique):
    create_server(cloud, tenant.member, server_image, f"{unique}-1")
    create_server(cloud, tenant.member, server_image, f"{unique}-2")
    cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}})
    message = stratus(cloud, "quota", "set", tenant.name, "--instances", "1", "--network", "0", code=4)
    assert "instances to 1 (in use: 2)" in message and "network to 0 (in use: 1)" in message
    assert "--force" in message
    assert {r["resource"]: r["limit"] for r in stratus_json(cloud, "quota", "show", tenant.name)}["instances"] == 10
    forced = stratus_json(cloud, "quota", "set", tenant.name, "--instances", "1", "--network", "0", "--force")
    assert {r["resource"]: r["limit"] for r in forced}["instances"] == 1


def test_key_pairs_belong_to_users_so_the_callers_own_do_not_block_a_limit(cloud, tenant, unique):
    admin = cloud.admin_token()
    made = cloud.request("POST", f"{COMPUTE}/os-keypairs", admin, json={"keypair": {"name": unique}})
    assert made.status_code == 200, made.text
    try:
        rows = stratus_json(cloud, "quota", "set", tenant.name, "--key-pairs", "0")  # no --force needed
        assert {r["resource"]: (r["limit"], r["in_use"]) for r in rows}["key_pairs"] == (0, None)
    finally:
        cloud.request("DELETE", f"{COMPUTE}/os-keypairs/{unique}", admin)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--instances", "-5"], "-5 is not a limit: use a number of 0 or more, or -1 for unlimited"),
        (["--port", "many"], "'many' is not an integer"),
        ([], "give at least one limit"),
        (["--gpus", "1"], "No such option '--gpus'"),
        (["--ports", "1"], "No such option '--ports'. (Did you mean one of: '--cores', '--port', '--snapshots'?)"),
        (["--port", "1", "another-project"], "give one PROJECT"),
    ],
)
def test_bad_limits_are_usage_errors(cloud, tenant, args, expected):
    assert expected in stratus(cloud, "quota", "set", tenant.name, *args, code=2)


def test_an_unknown_project_is_exit_three(cloud):
    for command in (["quota", "show"], ["quota", "reset"], ["usage"]):
        assert "no project named or with id 'no-such-project'" in stratus(cloud, *command, "no-such-project", code=3)


def test_quota_reset_puts_every_limit_back_to_the_defaults(cloud, tenant):
    stratus(cloud, "quota", "set", tenant.name, "--cores", "3", "--subnet", "2", "--image-size-total", "10")
    assert f"project {tenant.name} ({tenant.project_id}) is back on the default limits" in stratus(
        cloud, "quota", "reset", tenant.name
    )
    limits = {r["resource"]: r["limit"] for r in stratus_json(cloud, "quota", "show", tenant.name)}
    assert (limits["cores"], limits["subnet"], limits["image_size_total"]) == (20, 100, -1)


def test_quota_defaults_show_and_change_what_new_projects_get(cloud, new_tenant):
    defaults = {r["resource"]: r["limit"] for r in stratus_json(cloud, "quota", "defaults")}
    assert (defaults["instances"], defaults["port"], defaults["image_count_total"]) == (10, 500, -1)
    try:
        changed = stratus_json(cloud, "quota", "defaults", "--set", "instances=11", "--set", "port=600")
        assert {r["resource"]: r["limit"] for r in changed}["port"] == 600
        fresh = new_tenant()
        limits = {r["resource"]: r["limit"] for r in stratus_json(cloud, "quota", "show", fresh.name)}
        assert (limits["instances"], limits["port"]) == (11, 600)
    finally:
        stratus(cloud, "quota", "defaults", "--set", "instances=10", "--set", "port=500")
    assert "unknown resource 'gpus'" in stratus(cloud, "quota", "defaults", "--set", "gpus=1", code=2)
    assert "is not RESOURCE=LIMIT" in stratus(cloud, "quota", "defaults", "--set", "port", code=2)
    assert "is not a limit" in stratus(cloud, "quota", "defaults", "--set", "port=-3", code=2)


def test_usage_sorts_by_how_full_marks_the_near_ones_and_agrees_with_the_other_clis(
    cloud, tenant, server_image, unique
):
    set_compute(cloud, tenant.project_id, instances=2, cores=10)
    for index in range(2):
        create_server(cloud, tenant.member, server_image, f"{unique}-{index}")
    views = stratus_json(cloud, "usage", tenant.name)
    assert views[0] == {
        "resource": "instances", "in_use": 2, "limit": 2, "percent": 100.0, "unit": "", "near_limit": True,
    }  # fmt: skip
    assert views[1]["resource"] == "cores" and views[1]["percent"] == 20.0 and not views[1]["near_limit"]
    assert [v["percent"] for v in views if v["percent"] is not None] == sorted(
        (v["percent"] for v in views if v["percent"] is not None), reverse=True
    )
    table = stratus(cloud, "usage", env=tenant.env()).splitlines()  # a member's own project, by default
    assert table[1].startswith("! instances") and not table[2].startswith("!")

    shown = run_json(cloud, "openstack", "quota", "show", "--usage", tenant.name)
    openstack = {row["Resource"]: row["In Use"] for row in shown}
    absolute = cloud.request("GET", f"{COMPUTE}/limits", tenant.member).json()["limits"]["absolute"]
    servers = cloud.request("GET", f"{COMPUTE}/servers", tenant.member).json()["servers"]
    used = {v["resource"]: v["in_use"] for v in views}
    assert used["instances"] == openstack["instances"] == absolute["totalInstancesUsed"] == len(servers) == 2
    assert used["cores"] == openstack["cores"] == absolute["totalCoresUsed"] == 2
    assert used["ram"] == openstack["ram"] == absolute["totalRAMUsed"] == 256

    assert "at or above 90% of its limit" in stratus(cloud, "usage", tenant.name, "--fail-at", "90", code=6)
    stratus(cloud, "usage", tenant.name, "--fail-at", "100.0", code=6)
    set_compute(cloud, tenant.project_id, instances=4)
    stratus(cloud, "usage", tenant.name, "--fail-at", "90")


def test_project_list_summarises_each_projects_usage(cloud, new_tenant, server_image, unique):
    busy, idle = new_tenant("busy"), new_tenant("idle")
    set_compute(cloud, busy.project_id, instances=1)
    create_server(cloud, busy.member, server_image, unique)
    listed = {p["name"]: p for p in stratus_json(cloud, "project", "list")}
    assert listed[busy.name]["instances"] == "1/1" and listed[busy.name]["fullest"] == "instances 100%"
    assert listed[busy.name]["near_limit"] and not listed[idle.name]["near_limit"]
    assert listed[idle.name]["ram"] == "0/51200" and listed[idle.name]["usage"]["port"] == {"in_use": 0, "limit": 500}
    table = stratus(cloud, "project", "list")
    assert any(line.startswith(f"! {busy.name}") for line in table.splitlines())
    rows = list(csv.DictReader(io.StringIO(stratus(cloud, "project", "list", "--format", "csv"))))
    assert {r["name"]: r["near_limit"] for r in rows}[busy.name] == "True"


def test_members_and_readers_read_only_their_own_projects_quotas(cloud, new_tenant):
    mine, theirs = new_tenant("a"), new_tenant("b")
    own = _by_resource(stratus_json(cloud, "quota", "show", mine.project_id, env=mine.env()))
    assert own["instances"]["limit"] == 10
    reader = mine.env(f"{mine.name}-r")
    assert stratus_json(cloud, "usage", env=reader)[0]["resource"]
    assert "403" in stratus(cloud, "quota", "set", mine.project_id, "--instances", "50", env=mine.env(), code=5)
    assert "403" in stratus(cloud, "quota", "show", theirs.project_id, env=mine.env(), code=5)
    assert "403" in stratus(cloud, "project", "list", env=reader, code=5)


def test_refused_credentials_are_exit_five(cloud, tenant):
    wrong = tenant.env() | {"OS_PASSWORD": "wrong"}
    assert "authentication failed" in stratus(cloud, "usage", env=wrong, code=5)
