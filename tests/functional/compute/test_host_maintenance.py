"""``stratus host drain|enable`` and ``stratus rebalance`` against a cloud of three fake hosts that hand guests to
each other (the fake driver's simulated live migration): a drain empties its host (running servers live, a stopped
one cold and confirmed) and leaves it disabled with the drain's reason, enable switches it back, a move that fails
is reported with the cloud's reason and exit 7 with the server where it was, ``rebalance --dry-run`` proposes
moves and changes nothing, and ``rebalance --max-moves N`` moves at most N servers, each to its planned host.

The module runs its own cloud: a drain disables a host and moves servers, which no test on the shared cloud may
see. The ``stratus`` CLI runs as a subprocess with the admin's ``OS_*`` credentials, as an operator runs it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.compute import BASE, version, wait_for_hosts
from tests.functional.compute.conftest import create_server, public_raw_image, show, wait_for_status
from tests.functional.conftest import CloudClient
from tests.harness import VENV_BIN, running_cloud, wait_until

pytestmark = pytest.mark.functional

HOST = f"hm{secrets.token_hex(2)}"
H1, H2, H3 = f"{HOST}-1", f"{HOST}-2", f"{HOST}-3"
PASSWORDS = {"admin": "hm-admin-secret", "demo": "hm-demo-secret"}
MOVES = version("2.59")
WITHIN = 60.0


@pytest.fixture(scope="module")
def hm_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    env = {"STRATUS_HOST": HOST, "STRATUS_HOST_HEARTBEAT_INTERVAL": "1"}
    state = tmp_path_factory.mktemp("host-maintenance")
    with running_cloud(state, env) as server:
        server.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
        yield CloudClient(server, state / "clouds.yaml")


@pytest.fixture(scope="module")
def admin(hm_cloud) -> str:
    token = hm_cloud.session("admin", PASSWORDS["admin"], project="admin").get_token()
    wait_for_hosts(hm_cloud, token, 3, timeout=WITHIN)
    return token


@pytest.fixture(scope="module")
def image(hm_cloud, admin) -> str:
    return public_raw_image(hm_cloud, admin, "host-maintenance")


@pytest.fixture(scope="module")
def flavor(hm_cloud, admin) -> str:
    """4 vCPUs and 8 GiB: four on one host make it clearly the hottest of three."""
    body = {"flavor": {"name": "hm-medium", "ram": 8192, "vcpus": 4, "disk": 1}}
    response = hm_cloud.request("POST", f"{BASE}/flavors", admin, json=body)
    assert response.status_code == 200, response.text
    return response.json()["flavor"]["id"]


@pytest.fixture
def servers(hm_cloud, admin) -> Iterator[list[str]]:
    """The test's servers, deleted after it; every host enabled again, so each test starts from the same cloud."""
    made: list[str] = []
    yield made
    for server_id in made:
        hm_cloud.request("DELETE", f"{BASE}/servers/{server_id}", admin)
    for server_id in made:
        wait_until(
            lambda server_id=server_id: hm_cloud.request("GET", f"{BASE}/servers/{server_id}", admin).status_code,
            WITHIN,
            interval=0.1,
            message=f"server {server_id} was not deleted",
            until=lambda status: status == 404,
        )
    for host in (H1, H2, H3):
        body = {"host": host, "binary": "nova-compute"}
        assert hm_cloud.request("PUT", f"{BASE}/os-services/enable", admin, json=body).status_code == 200


def stratus(cloud: CloudClient, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")} | {
        "OS_AUTH_URL": cloud.server.auth_url,
        "OS_USERNAME": "admin",
        "OS_PASSWORD": PASSWORDS["admin"],
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
    }
    return subprocess.run(
        [str(VENV_BIN / "stratus"), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def stratus_json(cloud: CloudClient, *args: str, code: int = 0) -> Any:
    result = stratus(cloud, *args, "--format", "json")
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def boot(cloud, admin: str, image: str, name: str, host: str, made: list[str], flavor: str = "1") -> str:
    server = create_server(cloud, admin, image, name, flavor=flavor, availability_zone=f"nova:{host}")
    made.append(server["id"])
    assert wait_for_status(cloud, admin, server["id"], "ACTIVE", timeout=WITHIN)["OS-EXT-SRV-ATTR:host"] == host
    return server["id"]


def where(cloud, admin: str, server_ids: list[str]) -> dict[str, str]:
    return {s: show(cloud, admin, s)["OS-EXT-SRV-ATTR:host"] for s in server_ids}


def service(cloud, admin: str, host: str) -> dict[str, Any]:
    return cloud.request("GET", f"{BASE}/os-services?host={host}", admin).json()["services"][0]


def live_migrations(cloud, admin: str) -> list[dict[str, Any]]:
    found = cloud.request("GET", f"{BASE}/os-migrations?migration_type=live-migration", admin, headers=MOVES)
    assert found.status_code == 200, found.text
    return found.json()["migrations"]


# ---------------------------------------------------------------------------------------------------------------


def test_drain_empties_the_host_and_enable_switches_it_back(hm_cloud, admin, image, servers):
    running = [boot(hm_cloud, admin, image, f"web-{i}", H1, servers) for i in range(3)]
    stopped = boot(hm_cloud, admin, image, "db", H1, servers)
    assert hm_cloud.request("POST", f"{BASE}/servers/{stopped}/action", admin, json={"os-stop": None}).ok
    wait_for_status(hm_cloud, admin, stopped, "SHUTOFF", timeout=WITHIN)

    result = stratus(hm_cloud, "host", "drain", H1, "--format", "json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    report = {r["server"]: r for r in json.loads(result.stdout)}
    assert {r["result"] for r in report.values()} == {"moved"} and set(report) == {*running, stopped}
    assert report[stopped]["kind"] == "cold" and {report[s]["kind"] for s in running} == {"live"}
    placed = where(hm_cloud, admin, [*running, stopped])
    assert set(placed.values()) <= {H2, H3} and placed == {s: r["to"] for s, r in report.items()}
    assert show(hm_cloud, admin, stopped)["status"] == "SHUTOFF"  # confirmed, still off
    assert f"host {H1} is disabled (drained by stratus host drain)" in result.stderr
    assert f"off {H1}: 4 moved" in result.stderr
    drained = service(hm_cloud, admin, H1)
    assert (drained["status"], drained["disabled_reason"]) == ("disabled", "drained by stratus host drain")
    listed = {h["host"]: h for h in stratus_json(hm_cloud, "host", "list")}
    assert listed[H1]["servers"] == 0 and listed[H1]["status"] == "disabled"

    again = stratus(hm_cloud, "host", "drain", H1)  # nothing left: a second drain is a no-op
    assert again.returncode == 0 and f"off {H1}: nothing to move" in again.stderr

    enabled = stratus(hm_cloud, "host", "enable", H1)
    assert enabled.returncode == 0 and f"host {H1} is enabled" in enabled.stdout
    assert (service(hm_cloud, admin, H1)["status"], service(hm_cloud, admin, H1)["disabled_reason"]) == (
        "enabled",
        None,
    )


def test_a_failed_move_is_reported_and_the_server_stays(hm_cloud, admin, image, servers):
    fine = boot(hm_cloud, admin, image, "fine", H1, servers)
    failing = boot(hm_cloud, admin, image, "lm-fail-mid", H1, servers)
    result = stratus(hm_cloud, "host", "drain", H1, "--format", "json")
    assert result.returncode == 7, (result.stdout, result.stderr)
    report = {r["server"]: r for r in json.loads(result.stdout)}
    assert report[fine]["result"] == "moved" and report[failing]["result"] == "stayed"
    assert "injected failure" in report[failing]["reason"] and report[failing]["stayed"] is True
    assert where(hm_cloud, admin, [failing]) == {failing: H1}
    assert show(hm_cloud, admin, failing)["status"] == "ACTIVE"
    assert "1 server(s) did not move off" in result.stderr


def test_an_unknown_host_is_refused_and_nothing_changes(hm_cloud, admin):
    result = stratus(hm_cloud, "host", "drain", "no-such-host")
    assert result.returncode == 3 and "no compute host 'no-such-host'" in result.stderr
    assert {service(hm_cloud, admin, h)["status"] for h in (H1, H2, H3)} == {"enabled"}


def test_rebalance_dry_run_proposes_moves_and_changes_nothing(hm_cloud, admin, image, flavor, servers):
    made = [boot(hm_cloud, admin, image, f"hot-{i}", H1, servers, flavor) for i in range(4)]
    before = len(live_migrations(hm_cloud, admin))
    shown = stratus_json(hm_cloud, "rebalance", "--dry-run")
    assert shown["dry_run"] is True and shown["results"] == []
    assert [(m["from"], m["to"]) for m in shown["plan"]] == [(H1, H2), (H1, H3)]
    assert shown["imbalance_after"] < shown["imbalance_before"]
    assert shown["capacity_from"] == "placement"  # each host's inventory in the cloud's Placement API
    sizes = hm_cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin).json()["hypervisors"]
    assert {h: shown["capacity"][h] for h in (H1, H2, H3)} == {
        s["hypervisor_hostname"]: {"vcpus": s["vcpus"], "cpu_allocation_ratio": 4.0, "memory_mb": s["memory_mb"],
                                   "ram_allocation_ratio": 1.0}
        for s in sizes if s["hypervisor_hostname"] in (H1, H2, H3)
    }  # fmt: skip
    assert set(where(hm_cloud, admin, made).values()) == {H1}
    assert len(live_migrations(hm_cloud, admin)) == before


def test_rebalance_moves_at_most_the_limit_each_to_its_planned_host(hm_cloud, admin, image, flavor, servers):
    made = [boot(hm_cloud, admin, image, f"hot-{i}", H1, servers, flavor) for i in range(4)]
    before = {m["uuid"] for m in live_migrations(hm_cloud, admin)}
    shown = stratus_json(hm_cloud, "rebalance", "--max-moves", "1")
    [move] = shown["plan"]
    assert [r["result"] for r in shown["results"]] == ["moved"]
    placed = where(hm_cloud, admin, made)
    assert sorted(placed.values()) == [H1, H1, H1, move["to"]] and placed[move["server"]] == move["to"]
    new = [m for m in live_migrations(hm_cloud, admin) if m["uuid"] not in before]
    assert [(m["instance_uuid"], m["dest_compute"], m["status"]) for m in new] == [
        (move["server"], move["to"], "completed")
    ]
    rest = stratus_json(hm_cloud, "rebalance")  # the rest of the plan: one more, then the cloud is even
    assert len(rest["plan"]) == 1 and [r["result"] for r in rest["results"]] == ["moved"]
    assert sorted(where(hm_cloud, admin, made).values()) == sorted([H1, H1, H2, H3])
    assert stratus_json(hm_cloud, "rebalance", "--dry-run")["plan"] == []
