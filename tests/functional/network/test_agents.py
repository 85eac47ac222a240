"""Neutron's agents API: each host's network agent is an agent (alive from the heartbeat the database records);
admins show and update it (admin_state_up, description) and delete a dead one; others list none and find none
(Tempest's test_list_agents_non_admin); ``openstack network agent list`` shows them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from common import settings
from common.db import Database
from network.models import NetworkHost
from tests.functional.network import BASE, cli_json, fault, get
from tests.harness import wait_until

pytestmark = [pytest.mark.functional]


@pytest.fixture
def dead_host(cloud) -> Iterator[str]:
    """A network host whose agent was last heard from a day ago."""
    database = Database(settings.load(cloud.server.env).effective_database_url)
    host = f"gone-{time.monotonic_ns()}"
    with database.session() as session:
        session.add(
            NetworkHost(
                host=host, underlay_ip="192.0.2.9", networks=[], last_seen=datetime.now(UTC) - timedelta(days=1)
            )
        )
    try:
        yield host
    finally:
        with database.session() as session:
            session.execute(delete(NetworkHost).where(NetworkHost.host == host))
        database.dispose()


def _agents(cloud, token, query=""):
    return get(cloud, token, f"/agents{query}")["agents"]


def test_each_hosts_network_agent_is_listed_alive_and_can_be_updated(cloud, tokens, unique):
    wait_until(lambda: any(a["alive"] for a in _agents(cloud, tokens.admin)), 30, interval=0.5,
               message="no live network agent")  # fmt: skip
    agent = next(a for a in _agents(cloud, tokens.admin) if a["alive"])
    assert agent["agent_type"] == "Stratus network agent" and agent["binary"] == "stratus-netagent"
    assert agent["admin_state_up"] is True and agent["host"] and agent["heartbeat_timestamp"]
    filtered = _agents(cloud, tokens.admin, f"?host={agent['host']}&agent_type=Stratus network agent")
    assert [a["id"] for a in filtered] == [agent["id"]]
    assert get(cloud, tokens.admin, f"/agents/{agent['id']}")["agent"]["host"] == agent["host"]

    path = f"{BASE}/agents/{agent['id']}"
    updated = cloud.request(
        "PUT", path, tokens.admin, json={"agent": {"description": unique, "admin_state_up": "false"}}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["agent"]["description"] == unique and updated.json()["agent"]["admin_state_up"] is False
    restored = cloud.request("PUT", path, tokens.admin, json={"agent": {"admin_state_up": True, "description": ""}})
    assert restored.json()["agent"]["admin_state_up"] is True
    fault(cloud.request("PUT", path, tokens.admin, json={"agent": {"host": "x"}}), "HTTPBadRequest", 400)
    fault(cloud.request("DELETE", path, tokens.admin), "AgentAlive", 409)

    listed = cli_json(cloud, "stratus-admin", "network", "agent", "list")
    assert agent["id"] in {row["ID"] for row in listed}


def test_non_admins_list_no_agents_and_find_none(cloud, tokens):
    agent = _agents(cloud, tokens.admin)[0]
    assert _agents(cloud, tokens.demo) == [] and _agents(cloud, tokens.reader) == []
    path = f"{BASE}/agents/{agent['id']}"
    fault(cloud.request("GET", path, tokens.demo), "AgentNotFound", 404)
    fault(cloud.request("PUT", path, tokens.demo, json={"agent": {"description": "x"}}), "AgentNotFound", 404)
    fault(cloud.request("DELETE", path, tokens.demo), "AgentNotFound", 404)
    assert cloud.request("GET", f"{BASE}/agents").status_code == 401


def test_a_dead_agent_is_listed_not_alive_and_can_be_deleted(cloud, tokens, dead_host):
    (agent,) = _agents(cloud, tokens.admin, f"?host={dead_host}")
    assert agent["alive"] is False
    assert cloud.request("DELETE", f"{BASE}/agents/{agent['id']}", tokens.admin).status_code == 204
    assert _agents(cloud, tokens.admin, f"?host={dead_host}") == []
    fault(cloud.request("GET", f"{BASE}/agents/{agent['id']}", tokens.admin), "AgentNotFound", 404)
