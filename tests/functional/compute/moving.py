"""What the functional tests of the moves (cold and live migration) share: a cloud of fake hosts served by one
agent process (their drivers share a registry, so a guest 'copied' by one is found by the other) with the quotas
lifted for the admin and the demo member, their tokens, and a step's message lost on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import select

from common.db import Database
from common.settings import load
from compute.models import Migration
from manage.clouds import write_clouds_yaml
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, CloudClient, lift_quotas
from tests.harness import running_cloud

PASSWORDS = {"admin": ADMIN_PASSWORD, "demo": DEMO_PASSWORD}
BROKER_WAIT = 1.0
"""Seconds an agent's wait for its next message on the broker lasts (kombu's Redis BRPOP timeout)."""


def fake_hosts_cloud(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str], accounts: dict[str, str]
) -> Iterator[CloudClient]:
    """A module's own cloud (``env``: its fake hosts and timings) whose clouds.yaml names each of ``accounts``
    (cloud name: user, ``admin`` or ``demo``, each in its own project)."""
    state: Path = tmp_path_factory.mktemp(name)
    with running_cloud(state, env) as server:
        server.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
        entries = {cloud: (user, PASSWORDS[user]) for cloud, user in accounts.items()}
        write_clouds_yaml(state / "moves-clouds.yaml", server.auth_url, "RegionOne", entries)
        client = CloudClient(server, state / "moves-clouds.yaml")
        lift_quotas(client, ("admin", "demo"))
        yield client


def tokens(cloud: CloudClient) -> dict[str, str]:
    return {user: cloud.session(user, PASSWORDS[user], project=user).get_token() for user in PASSWORDS}


@contextmanager
def agent_frozen(cloud: CloudClient) -> Iterator[None]:
    """The one agent process (every fake host's) and its pool are frozen, after its last wait on the broker is over:
    a message sent to a host meanwhile stays in Redis, where ``lose_queue`` can lose it. Thawed at the end."""
    pid = int((cloud.server.state_dir / "run" / "compute-agent.pid").read_text().split()[0])
    agent = psutil.Process(pid)
    frozen = [agent, *agent.children(recursive=True)]
    for process in frozen:
        process.suspend()
    try:
        time.sleep(BROKER_WAIT + 0.5)
        yield
    finally:
        for process in frozen:
            process.resume()


def lose_queue(cloud: CloudClient, host: str) -> int:
    """Delete what Redis holds of ``host``'s compute queue, as a broker that restarted would lose it: how many keys
    went (0: nothing was waiting there)."""
    broker = redis.Redis.from_url(cloud.server.broker_url)
    return sum(broker.delete(key) for key in broker.scan_iter(match=f"compute.{host}*"))


def newest_move(cloud: CloudClient, server_id: str) -> Migration | None:
    """The server's newest ``migrations`` row as the database holds it now (detached), None when it never moved."""
    database = Database(load(cloud.server.env).effective_database_url)
    try:
        with database.session() as session:
            query = select(Migration).where(Migration.instance_id == server_id).order_by(Migration.id.desc())
            row = session.scalars(query).first()
            if row is not None:
                session.expunge(row)
            return row
    finally:
        database.dispose()


def move_of(cloud: CloudClient, server_id: str) -> Migration:
    """The server's newest move, which the test knows it has."""
    row = newest_move(cloud, server_id)
    assert row is not None, f"no move of {server_id}"
    return row
