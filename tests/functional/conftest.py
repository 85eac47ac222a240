"""Fixtures shared by every functional test. Helpers that start servers live in ``tests/harness.py``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from manage.clouds import write_clouds_yaml
from tests import warm_cli
from tests.harness import Cloud, private_postgres, running_cloud, start_redis

ADMIN_PASSWORD = "admin-secret"
DEMO_PASSWORD = "demo-secret"

# ---------------------------------------------------------------------------------------------------------------
# Servers: one Redis and one PostgreSQL for the whole session, each on its own loopback port.


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private Redis (no persistence). Tests sharing it must not run two clouds on it at once."""
    url, stop = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """STRATUS_TEST_DATABASE_URL when set, else a private PostgreSQL started for this run; skips without one."""
    if os.environ.get("STRATUS_TEST_DATABASE_URL"):
        yield os.environ["STRATUS_TEST_DATABASE_URL"]
        return
    with private_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


# ---------------------------------------------------------------------------------------------------------------
# The API: one private server per database backend (SQLite always, PostgreSQL when available), shared by the
# tests of a session; tests create uniquely named resources so they never collide.


@dataclass
class CloudClient:
    """A running cloud and ways to talk to it as a given user: keystoneauth1, raw HTTP, the openstack CLI."""

    server: Cloud
    clouds_yaml: Path

    @property
    def url(self) -> str:
        return self.server.url

    def session(
        self, user: str, password: str, project: str | None = None, domain: str | None = None
    ) -> ks_session.Session:
        scope: dict[str, Any] = {}
        if project:
            scope = {"project_name": project, "project_domain_id": "default"}
        elif domain:
            scope = {"domain_id": domain}
        auth = v3.Password(
            auth_url=self.server.auth_url, username=user, password=password, user_domain_id="default", **scope
        )
        return ks_session.Session(auth=auth)

    def admin(self) -> ks_session.Session:
        return self.session("admin", ADMIN_PASSWORD, project="admin")

    def demo(self) -> ks_session.Session:
        return self.session("demo", DEMO_PASSWORD, project="demo")

    def admin_token(self) -> str:
        return self.admin().get_token()

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["X-Auth-Token"] = token
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def openstack(self, cloud: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = warm_cli.run_cloud(self.clouds_yaml, cloud, *args)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed: {result.stderr}")
        return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every functional test runs on SQLite; the modules whose behaviour rests on the database itself
    (transactions, row locks, unique constraints under concurrency) say so with ``pytest.mark.both_databases``
    and run on PostgreSQL too, but for their tests marked ``one_database`` (a data path: the same bytes whatever
    holds the records). Views, formats and policies do not change with the database: running them twice only
    doubled the suite's time."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgres = params.get("cloud") == "postgresql"
        marked = item.get_closest_marker
        twice = marked("both_databases") is not None and marked("one_database") is None
        (dropped if on_postgres and not twice else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    """The whole cloud (API, Redis, every worker) started by the real launcher, once per database backend."""
    env = {"STRATUS_IMAGE_IMPORT_TARGET_FORMAT": "raw"}
    if request.param == "postgresql":
        env["STRATUS_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    state_dir = tmp_path_factory.mktemp(f"cloud-{request.param}")
    with running_cloud(state_dir, env) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        clouds_yaml = state_dir / "clouds.yaml"
        accounts = {"stratus-admin": ("admin", ADMIN_PASSWORD), "stratus": ("demo", DEMO_PASSWORD)}
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", accounts)
        client = CloudClient(server, clouds_yaml)
        lift_quotas(client, ("admin", "demo"))
        yield client


# What the suites create in the shared admin and demo projects over a session goes far beyond Nova's and
# Neutron's default quotas; the quota tests use projects of their own. Per-item limits (metadata) stay.
SUMMED_COMPUTE = ("instances", "cores", "ram", "key_pairs", "server_groups")
SUMMED_NETWORK = ("network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule")


def lift_quotas(cloud: CloudClient, project_names: tuple[str, ...]) -> None:
    token = cloud.admin_token()
    for name in project_names:
        project = cloud.request("GET", f"/identity/v3/projects?name={name}", token).json()["projects"][0]["id"]
        compute = {"quota_set": dict.fromkeys(SUMMED_COMPUTE, -1)}
        assert cloud.request("PUT", f"/compute/v2.1/os-quota-sets/{project}", token, json=compute).ok
        network = {"quota": dict.fromkeys(SUMMED_NETWORK, -1)}
        assert cloud.request("PUT", f"/network/v2.0/quotas/{project}", token, json=network).ok


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A name no other test uses, so tests sharing one cloud never collide."""
    return request.node.name.replace("[", "-").replace("]", "")[:48] + "-" + os.urandom(3).hex()
