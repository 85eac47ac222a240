"""Live migration with the fake driver's simulated migration: a server moves with its claim and its ports, every
failing step leaves it running where it was with the reason in its action, concurrent moves never overcommit a
target, an abort leaves the guest where it was, force-complete converges at once, and the API refuses what Nova
refuses (admins only, hostile bodies 400). The ``openstack`` CLI drives it too.

The module runs its own cloud (three fake hosts in one agent process, so they can hand guests to each other), so it
controls where servers run and how much room each host has. Failures are injected by the server's name
(``compute.host.virt.fake_migration``): ``lm-fail-pre``, ``lm-fail-mid``, ``lm-fail-post``; ``lm-slow`` makes the
copy last long enough to abort it or force its completion.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.compute import BASE, cli_json, fault, moving, version
from tests.functional.compute.conftest import create_server, public_raw_image, show, wait_for_status
from tests.functional.conftest import CloudClient
from tests.harness import wait_until

pytestmark = pytest.mark.functional

HOST = f"lm{secrets.token_hex(2)}"
H1, H2, H3 = f"{HOST}-1", f"{HOST}-2", f"{HOST}-3"
NET = "/network/v2.0"
LATEST = version("2.80")
ENDED = ("completed", "failed", "error", "cancelled")
WITHIN = 30.0
TASK_TIMEOUT = 40


@pytest.fixture(scope="module")
def lm_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    env = {
        "STRATUS_HOST": HOST,
        "STRATUS_HOST_HEARTBEAT_INTERVAL": "1",
        "STRATUS_COMPUTE_HOST_DOWN_AFTER": "5",
        # A live migration in flight this long is settled by the sweeper (the slow ones here take 12 s at most).
        "STRATUS_COMPUTE_TASK_TIMEOUT": str(TASK_TIMEOUT),
        "STRATUS_COMPUTE_SWEEP_INTERVAL": "2",
    }
    yield from moving.fake_hosts_cloud(tmp_path_factory, "live-migration", env, {"lm-admin": "admin"})


@pytest.fixture(scope="module")
def tokens(lm_cloud) -> dict[str, str]:
    return moving.tokens(lm_cloud)


@pytest.fixture(scope="module")
def image(lm_cloud, tokens) -> str:
    wait_until(
        lambda: lm_cloud.request("GET", f"{BASE}/os-hypervisors", tokens["admin"]).json()["hypervisors"],
        60,
        interval=0.2,
        message="the three fake hosts never came up",
        until=lambda found: {h["hypervisor_hostname"] for h in found if h["state"] == "up"} >= {H1, H2, H3},
    )
    return public_raw_image(lm_cloud, tokens["admin"], "live-migration")


@pytest.fixture(scope="module")
def network(lm_cloud, tokens) -> str:
    admin = tokens["admin"]
    made = lm_cloud.request("POST", f"{NET}/networks", admin, json={"network": {"name": "lm-net"}}).json()["network"]
    subnet = {"network_id": made["id"], "cidr": "10.23.0.0/24", "ip_version": 4}
    assert lm_cloud.request("POST", f"{NET}/subnets", admin, json={"subnet": subnet}).status_code == 201
    return made["id"]


@pytest.fixture(scope="module")
def big_flavor(lm_cloud, tokens) -> str:
    """A flavor of which one fits a fake host (64 GiB RAM, no overcommit of RAM) and two never do."""
    body = {"flavor": {"name": "lm-big", "ram": 40000, "vcpus": 1, "disk": 1}}
    response = lm_cloud.request("POST", f"{BASE}/flavors", tokens["admin"], json=body)
    assert response.status_code == 200, response.text
    return response.json()["flavor"]["id"]


@pytest.fixture
def servers(lm_cloud, tokens) -> Iterator[list[str]]:
    """Servers a test made; deleted after it, so the hosts have their room back for the next test."""
    made: list[str] = []
    yield made
    for server_id in made:
        lm_cloud.request("DELETE", f"{BASE}/servers/{server_id}", tokens["admin"])
    for server_id in made:
        wait_until(
            lambda server_id=server_id: lm_cloud.request("GET", f"{BASE}/servers/{server_id}", tokens["admin"]),
            WITHIN,
            interval=0.1,
            message=f"server {server_id} was not deleted",
            until=lambda response: response.status_code == 404,
        )


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _boot(cloud, admin: str, image: str, name: str, host: str, made: list[str], **extra: Any) -> dict[str, Any]:
    server = create_server(cloud, admin, image, name, availability_zone=f"nova:{host}", **extra)
    made.append(server["id"])
    shown = wait_for_status(cloud, admin, server["id"], "ACTIVE", timeout=WITHIN)
    assert shown["OS-EXT-SRV-ATTR:host"] == host
    return shown


def _live(cloud, token: str, server_id: str, host: str | None, microversion: str = "2.30", **extra: Any):
    body = {"os-migrateLive": {"host": host, "block_migration": "auto", **extra}}
    return cloud.request("POST", f"{BASE}/servers/{server_id}/action", token, json=body, headers=version(microversion))


def _migrations(cloud, admin: str, server_id: str) -> list[dict[str, Any]]:
    path = f"{BASE}/os-migrations?instance_uuid={server_id}"
    response = cloud.request("GET", path, admin, headers=LATEST)
    assert response.status_code == 200, response.text
    return response.json()["migrations"]


def _ended(cloud, admin: str, server_id: str) -> dict[str, Any]:
    """Wait (bounded) until the server's newest migration ended and its task is cleared; that migration."""

    def latest() -> tuple[dict[str, Any] | None, dict[str, Any]]:
        found = _migrations(cloud, admin, server_id)
        return (found[0] if found else None), show(cloud, admin, server_id)

    migration, _server = wait_until(
        latest,
        WITHIN,
        interval=0.1,
        message=f"the live migration of {server_id} never ended",
        until=lambda pair: (
            pair[0] is not None and pair[0]["status"] in ENDED and pair[1]["OS-EXT-STS:task_state"] is None
        ),
    )
    return migration


def _action(cloud, admin: str, server_id: str) -> dict[str, Any]:
    """The server's newest live-migration action, with its events."""
    listing = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", admin, headers=LATEST).json()
    request_id = next(a["request_id"] for a in listing["instanceActions"] if a["action"] == "live-migration")
    path = f"{BASE}/servers/{server_id}/os-instance-actions/{request_id}"
    return cloud.request("GET", path, admin, headers=LATEST).json()["instanceAction"]


def _event(action: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in action["events"] if e["event"] == name)


def _allocations(cloud, admin: str) -> dict[str, int]:
    """RAM used on each host, from the hypervisors' view (the sum of their claims)."""
    found = cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin).json()["hypervisors"]
    return {h["hypervisor_hostname"]: h["memory_mb_used"] for h in found}


def _stays_on(cloud, admin: str, server_id: str, host: str) -> None:
    """The server runs on ``host`` and keeps running there after its hosts' next reports (a guest missing from its
    host would turn it ERROR), its diagnostics answered by that host."""
    server = show(cloud, admin, server_id)
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", host), server
    time.sleep(3)  # the hosts' next reports (compute_report_interval is 2 s here)
    server = show(cloud, admin, server_id)
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server.get("fault")) == ("ACTIVE", host, None), server
    diagnostics = cloud.request("GET", f"{BASE}/servers/{server_id}/diagnostics", admin, headers=LATEST)
    assert diagnostics.status_code == 200, diagnostics.text


# ---------------------------------------------------------------------------------------------------------------
# Success


def test_live_migration_moves_the_server_its_claim_and_its_ports_and_records_a_completed_migration(
    lm_cloud, tokens, image, network, servers
):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-moves", H1, servers, networks=[{"uuid": network}])
    before = _allocations(cloud, admin)
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    migration = _ended(cloud, admin, server["id"])
    assert migration["status"] == "completed", migration
    assert (migration["source_compute"], migration["dest_compute"], migration["migration_type"]) == (
        H1,
        H2,
        "live-migration",
    )
    assert migration["uuid"] and migration["user_id"] and migration["project_id"]
    assert "links" not in migration  # links only for live migrations in progress
    moved = show(cloud, admin, server["id"])
    assert (moved["status"], moved["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", H2)
    after = _allocations(cloud, admin)
    assert before[H1] - after[H1] == after[H2] - before[H2] > 0, (before, after)  # the claim moved, not doubled
    ports = cloud.request("GET", f"{NET}/ports?device_id={server['id']}", admin).json()["ports"]
    assert [(p["binding:host_id"], p["binding:profile"]) for p in ports] == [(H2, {})]
    wait_until(
        lambda: cloud.request("GET", f"{NET}/ports?device_id={server['id']}", admin).json()["ports"][0]["status"],
        WITHIN,
        message="the port never came up on the target",
        until=lambda status: status == "ACTIVE",
    )
    action = _action(cloud, admin, server["id"])
    event = _event(action, "compute_live_migration")
    assert event["result"] == "Success" and "downtime" in event["traceback"], event
    assert _event(action, "compute_post_live_migration_at_source")["result"] == "Success"
    assert cloud.request("GET", f"{BASE}/servers/{server['id']}/migrations", admin, headers=LATEST).json() == {
        "migrations": []
    }
    _stays_on(cloud, admin, server["id"], H2)


def test_the_scheduler_picks_a_target_other_than_the_source_when_none_is_given(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-scheduled", H3, servers)
    assert _live(cloud, admin, server["id"], None, microversion="2.68").status_code == 202
    migration = _ended(cloud, admin, server["id"])
    assert migration["status"] == "completed" and migration["dest_compute"] in (H1, H2), migration
    assert show(cloud, admin, server["id"])["OS-EXT-SRV-ATTR:host"] == migration["dest_compute"]


# ---------------------------------------------------------------------------------------------------------------
# Failures: the server stays where it was, one copy, the reason in its action


def _failed_in_place(cloud, admin: str, server_id: str, source: str, status: str, event: str, words: str) -> None:
    migration = _ended(cloud, admin, server_id)
    assert migration["status"] == status, migration
    action = _action(cloud, admin, server_id)
    assert action["message"] == "Error"
    failed = _event(action, event)
    assert failed["result"] == "Error" and words in failed["traceback"], action["events"]
    _stays_on(cloud, admin, server_id, source)
    used = _allocations(cloud, admin)
    assert all(used[h] <= 65536 for h in used), used


def test_no_valid_target_ends_the_move_with_error_and_the_server_where_it_was(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-nowhere", H1, servers)
    try:
        for host in (H2, H3):
            body = {"host": host, "binary": "nova-compute"}
            assert cloud.request("PUT", f"{BASE}/os-services/disable", admin, json=body).status_code == 200
        assert _live(cloud, admin, server["id"], None).status_code == 202
        _failed_in_place(cloud, admin, server["id"], H1, "error", "conductor_live_migrate_instance", "No valid host")
    finally:
        for host in (H2, H3):
            cloud.request("PUT", f"{BASE}/os-services/enable", admin, json={"host": host, "binary": "nova-compute"})


def test_a_target_that_is_down_is_refused_even_when_forced(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-target-down", H1, servers)
    body = {"host": H3, "binary": "nova-compute", "forced_down": True}
    assert cloud.request("PUT", f"{BASE}/os-services/force-down", admin, json=body, headers=version("2.11")).ok
    try:
        assert _live(cloud, admin, server["id"], H3, force=True).status_code == 202
        _failed_in_place(cloud, admin, server["id"], H1, "error", "conductor_live_migrate_instance", f"{H3} is down")
    finally:
        body["forced_down"] = False
        cloud.request("PUT", f"{BASE}/os-services/force-down", admin, json=body, headers=version("2.11"))


@pytest.mark.parametrize(
    ("marker", "event", "words"),
    [
        ("lm-fail-pre", "compute_pre_live_migration", "could not prepare"),
        ("lm-fail-mid", "compute_live_migration", "The live migration failed"),
    ],
)
def test_a_failing_step_leaves_the_server_running_on_its_source_with_the_reason(
    lm_cloud, tokens, image, network, servers, marker, event, words
):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, f"{marker}-server", H1, servers, networks=[{"uuid": network}])
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    _failed_in_place(cloud, admin, server["id"], H1, "failed", event, words)
    ports = cloud.request("GET", f"{NET}/ports?device_id={server['id']}", admin).json()["ports"]
    assert [(p["binding:host_id"], p["binding:profile"]) for p in ports] == [(H1, {})]
    assert _event(_action(cloud, admin, server["id"]), "compute_rollback_live_migration_at_destination")


def test_a_failing_clean_up_at_the_source_leaves_the_server_on_its_target_with_the_reason(
    lm_cloud, tokens, image, servers
):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-fail-post-server", H1, servers)
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    assert _ended(cloud, admin, server["id"])["status"] == "completed"
    action = wait_until(
        lambda: _action(cloud, admin, server["id"]),
        WITHIN,
        message="the source's clean-up was never reported",
        until=lambda found: any(e["event"] == "compute_post_live_migration_at_source" for e in found["events"]),
    )
    failed = _event(action, "compute_post_live_migration_at_source")
    assert failed["result"] == "Error" and "could not remove" in failed["traceback"]
    _stays_on(cloud, admin, server["id"], H2)


def test_two_concurrent_live_migrations_to_a_target_with_room_for_one_never_overcommit_it(
    lm_cloud, tokens, image, big_flavor, servers
):
    cloud, admin = lm_cloud, tokens["admin"]
    first = _boot(cloud, admin, image, "lm-big-a", H1, servers, flavor=big_flavor)
    second = _boot(cloud, admin, image, "lm-big-b", H2, servers, flavor=big_flavor)
    assert _live(cloud, admin, first["id"], H3).status_code == 202
    assert _live(cloud, admin, second["id"], H3).status_code == 202
    outcomes = sorted(_ended(cloud, admin, s["id"])["status"] for s in (first, second))
    assert outcomes == ["completed", "error"], outcomes
    used = _allocations(cloud, admin)
    assert used[H3] <= 65536, used
    hosts = sorted(show(cloud, admin, s["id"])["OS-EXT-SRV-ATTR:host"] for s in (first, second))
    assert H3 in hosts and len(set(hosts)) == 2, hosts


def test_a_live_migration_stuck_past_the_timeout_is_settled_where_the_guest_runs(lm_cloud, tokens, image, servers):
    """The copy never converges (``lm-hang``): past compute_task_timeout the sweeper stops it and asks the hosts;
    the guest still runs on its source, so the move ends there, in error, and the target's claim is released."""
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-hang-server", H1, servers)
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    migration = wait_until(
        lambda: _migrations(cloud, admin, server["id"])[0],
        TASK_TIMEOUT + WITHIN,
        interval=0.5,
        message="the stuck live migration was never settled",
        until=lambda found: found["status"] in ENDED,
    )
    assert migration["status"] == "error", migration
    assert "timed out" in _event(_action(cloud, admin, server["id"]), "compute_live_migration")["traceback"]
    _stays_on(cloud, admin, server["id"], H1)
    assert _allocations(cloud, admin)[H2] == 0


def test_a_preparation_whose_message_was_lost_is_sent_again_and_the_move_completes(lm_cloud, tokens, image, servers):
    """The agent (every fake host's) is frozen while the target's preparation is sent, and what Redis holds of the
    target's queue is deleted, as a broker that restarted would lose it: the preparation is sent again once the
    target has not acknowledged it within compute_build_take_timeout (8 s), and the guest moves."""
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-lost-prepare", H1, servers)
    with moving.agent_frozen(cloud):
        assert _live(cloud, admin, server["id"], H2).status_code == 202
        wait_until(
            lambda: cloud.request("GET", f"{BASE}/servers/{server['id']}/migrations", admin, headers=LATEST).json(),
            WITHIN,
            interval=0.1,
            message="the preparation was never sent",
            until=lambda found: bool(found["migrations"]) and found["migrations"][0]["status"] == "preparing",
        )
        time.sleep(0.5)  # the status is written in the transaction that records the step, then it is sent
        assert moving.lose_queue(cloud, H2) >= 1, "the preparation was not waiting in the target's queue"
    # Before the step was sent again, the move waited for compute_task_timeout and ended on its source, in error.
    migration = _ended(cloud, admin, server["id"])
    assert migration["status"] == "completed", migration
    _stays_on(cloud, admin, server["id"], H2)


# ---------------------------------------------------------------------------------------------------------------
# Abort and force-complete


def _running(cloud, admin: str, server_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: cloud.request("GET", f"{BASE}/servers/{server_id}/migrations", admin, headers=LATEST).json(),
        WITHIN,
        interval=0.1,
        message="the migration never ran (with a progress report)",
        until=lambda found: (
            found["migrations"]
            and found["migrations"][0]["status"] == "running"
            and found["migrations"][0]["memory_processed_bytes"] > 0
        ),
    )["migrations"][0]


def test_an_aborted_live_migration_leaves_the_guest_where_it_was(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-slow-abort", H1, servers)
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    running = _running(cloud, admin, server["id"])
    shown = cloud.request("GET", f"{BASE}/servers/{server['id']}/migrations/{running['id']}", admin, headers=LATEST)
    assert shown.status_code == 200 and shown.json()["migration"]["memory_total_bytes"] > 0
    listed = _migrations(cloud, admin, server["id"])[0]
    assert listed["links"][0]["href"].endswith(f"/servers/{server['id']}/migrations/{running['id']}")
    path = f"{BASE}/servers/{server['id']}/migrations/{running['id']}"
    assert cloud.request("DELETE", path, admin, headers=version("2.24")).status_code == 202
    migration = _ended(cloud, admin, server["id"])
    assert migration["status"] == "cancelled", migration
    _stays_on(cloud, admin, server["id"], H1)
    assert _allocations(cloud, admin)[H2] == 0


def test_force_complete_makes_a_slow_live_migration_converge_now(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-slow-force", H1, servers)
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    running = _running(cloud, admin, server["id"])
    path = f"{BASE}/servers/{server['id']}/migrations/{running['id']}/action"
    response = cloud.request("POST", path, admin, json={"force_complete": None}, headers=version("2.22"))
    assert response.status_code == 202, response.text
    assert _ended(cloud, admin, server["id"])["status"] == "completed"
    assert "downtime 180 ms" in _event(_action(cloud, admin, server["id"]), "compute_live_migration")["traceback"]
    assert show(cloud, admin, server["id"])["OS-EXT-SRV-ATTR:host"] == H2


def test_abort_and_force_complete_of_an_ended_migration_are_refused_as_nova_does(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-ended", H1, servers)
    assert _live(cloud, admin, server["id"], H2).status_code == 202
    migration = _ended(cloud, admin, server["id"])
    path = f"{BASE}/servers/{server['id']}/migrations/{migration['id']}"
    fault(cloud.request("DELETE", path, admin, headers=version("2.24")), "conflictingRequest", 409)  # not migrating
    fault(cloud.request("GET", path, admin, headers=LATEST), "itemNotFound", 404)  # not in progress
    fault(cloud.request("GET", f"{BASE}/servers/{server['id']}/migrations/99999999", admin, headers=LATEST),
          "itemNotFound", 404)  # fmt: skip
    assert cloud.request("GET", f"{BASE}/servers/{server['id']}/migrations", admin).status_code == 404  # < 2.23


# ---------------------------------------------------------------------------------------------------------------
# Who may, and what is refused


def test_only_admins_live_migrate_and_list_migrations(lm_cloud, tokens, image, servers):
    cloud, demo = lm_cloud, tokens["demo"]
    server = create_server(cloud, demo, image, "lm-demo")
    servers.append(server["id"])
    wait_for_status(cloud, demo, server["id"], "ACTIVE", timeout=WITHIN)
    fault(_live(cloud, demo, server["id"], None), "forbidden", 403)
    fault(cloud.request("GET", f"{BASE}/os-migrations", demo), "forbidden", 403)
    fault(cloud.request("GET", f"{BASE}/servers/{server['id']}/migrations", demo, headers=LATEST), "forbidden", 403)
    assert show(cloud, demo, server["id"])["OS-EXT-STS:task_state"] is None


HOSTILE = [
    None,
    [],
    "H",
    {},
    {"host": None},
    {"block_migration": True},
    {"host": None, "block_migration": "sometimes"},
    {"host": 7, "block_migration": True},
    {"host": "", "block_migration": True},
    {"host": "a b", "block_migration": True},
    {"host": "x" * 300, "block_migration": True},
    {"host": None, "block_migration": True, "extra": 1},
    {"host": None, "block_migration": True, "force": "maybe"},
    {"host": "no-such-host", "block_migration": True},
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_live_migration_bodies_are_400_never_500(lm_cloud, tokens, image, servers, body):
    cloud, admin = lm_cloud, tokens["admin"]
    if not servers:
        servers.append(_boot(cloud, admin, image, "lm-hostile", H1, [])["id"])
    path = f"{BASE}/servers/{servers[0]}/action"
    response = cloud.request("POST", path, admin, json={"os-migrateLive": body}, headers=version("2.30"))
    fault(response, "badRequest", 400)
    assert show(cloud, admin, servers[0])["OS-EXT-STS:task_state"] is None


def test_live_migration_to_its_own_host_and_old_microversion_bodies(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-self", H1, servers)
    assert "current host" in fault(_live(cloud, admin, server["id"], H1), "badRequest", 400)
    # 2.1 needs disk_over_commit and refuses "auto"; 2.68 refuses force.
    fault(_live(cloud, admin, server["id"], H2, microversion="2.1"), "badRequest", 400)
    fault(_live(cloud, admin, server["id"], H2, microversion="2.68", force=False), "badRequest", 400)
    body = {"os-migrateLive": {"host": H2, "block_migration": False, "disk_over_commit": False}}
    response = cloud.request("POST", f"{BASE}/servers/{server['id']}/action", admin, json=body, headers=version("2.1"))
    assert response.status_code == 202, response.text
    assert _ended(cloud, admin, server["id"])["status"] == "completed"
    bad = cloud.request("GET", f"{BASE}/os-migrations?nonsense=1", admin, headers=LATEST)
    fault(bad, "badRequest", 400)
    assert cloud.request("GET", f"{BASE}/os-migrations?nonsense=1", admin).status_code == 200  # before 2.59


def test_os_migrations_pages_newest_first_from_2_59(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-paged", H1, servers)
    for target in (H2, H3):
        assert _live(cloud, admin, server["id"], target).status_code == 202
        _ended(cloud, admin, server["id"])
    first = cloud.request("GET", f"{BASE}/os-migrations?limit=1&instance_uuid={server['id']}", admin, headers=LATEST)
    body = first.json()
    assert [m["dest_compute"] for m in body["migrations"]] == [H3]
    assert body["migrations_links"][0]["rel"] == "next"
    marker = body["migrations"][0]["uuid"]
    path = f"{BASE}/os-migrations?limit=1&marker={marker}&instance_uuid={server['id']}"
    assert [m["dest_compute"] for m in cloud.request("GET", path, admin, headers=LATEST).json()["migrations"]] == [H2]
    old = cloud.request("GET", f"{BASE}/os-migrations?instance_uuid={server['id']}", admin).json()["migrations"]
    assert [m["dest_compute"] for m in old] == [H2, H3] and "migration_type" not in old[0] and "uuid" not in old[0]


# ---------------------------------------------------------------------------------------------------------------
# The openstack CLI


def test_the_openstack_cli_live_migrates_lists_and_aborts(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-cli", H1, servers)
    cloud.openstack("lm-admin", "--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
                    "--host", H2, "--wait", server["id"])  # fmt: skip
    assert show(cloud, admin, server["id"])["OS-EXT-SRV-ATTR:host"] == H2
    listed = cli_json(cloud, "lm-admin", "--os-compute-api-version", "2.80", "server", "migration", "list",
                      "--server", server["id"])  # fmt: skip
    assert [(m["Source Compute"], m["Dest Compute"], m["Status"]) for m in listed] == [(H1, H2, "completed")]
    slow = _boot(cloud, admin, image, "lm-slow-cli", H1, servers)
    assert _live(cloud, admin, slow["id"], H3).status_code == 202
    running = _running(cloud, admin, slow["id"])
    cloud.openstack("lm-admin", "--os-compute-api-version", "2.24", "server", "migration", "abort", slow["id"],
                    str(running["id"]))  # fmt: skip
    assert _ended(cloud, admin, slow["id"])["status"] == "cancelled"
    assert show(cloud, admin, slow["id"])["OS-EXT-SRV-ATTR:host"] == H1


@pytest.mark.parametrize(
    "query",
    ["limit=-1", "limit=x", "marker=no-such-migration", "changes-since=yesterday", "changes-before=0-0-0",
     "changes-since=2030-01-01T00:00:00Z&changes-before=2020-01-01T00:00:00Z"],
)  # fmt: skip
def test_hostile_os_migrations_queries_are_400_never_500(lm_cloud, tokens, query):
    fault(lm_cloud.request("GET", f"{BASE}/os-migrations?{query}", tokens["admin"], headers=LATEST), "badRequest", 400)


def test_hostile_migration_ids_are_404_never_500(lm_cloud, tokens, image, servers):
    cloud, admin = lm_cloud, tokens["admin"]
    server = _boot(cloud, admin, image, "lm-ids", H1, servers)
    for mid in ("abc", "-1", "9" * 40, "1e3", "%C3%A9"):
        path = f"{BASE}/servers/{server['id']}/migrations/{mid}"
        fault(cloud.request("GET", path, admin, headers=LATEST), "itemNotFound", 404)
    nul = f"{BASE}/servers/{server['id']}/migrations/%00"
    fault(cloud.request("GET", nul, admin, headers=LATEST), "badRequest", 400)  # the API's guard, as everywhere
    action = f"{BASE}/servers/{server['id']}/migrations/abc/action"
    for body in ({"force_complete": 1}, {"force_complete": None, "x": 1}, [], "force_complete"):
        fault(cloud.request("POST", action, admin, json=body, headers=version("2.22")), "badRequest", 400)
    fault(cloud.request("POST", action, admin, json={"force_complete": None}), "itemNotFound", 404)  # before 2.22
