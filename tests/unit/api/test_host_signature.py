"""A host-role token reaches images only for the host its request is signed as (``common.hostauth``): the whole API
in-process, the hosts' real account and token, and signatures made with keys derived from the API's own master key,
as a host agent's key file holds them. Host A, with a valid token and its own valid signature, cannot read the image
of a build on host B nor upload the snapshot host B is taking; a signature that does not prove a host is a 401."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import update
from werkzeug.test import TestResponse

from common import hostauth, signing
from common.accounts import HOST_ROLE, SERVICE_PROJECT, SERVICE_USER
from common.hostauth import HostSigner
from compute.models import Instance
from compute.states import TaskState
from manage.bootstrap import Tenant, bootstrap
from tests.unit.api.conftest import InProcessCloud, _token
from tests.unit.in_process import DEMO_PASSWORD, bootstrapped_app

SERVICE_PASSWORD = "service-secret"
DATA = b"\0" * 65536  # what InProcessCloud.image uploads


@dataclass(frozen=True)
class Hosts:
    cloud: InProcessCloud
    host_token: str
    master: bytes

    def signer(self, host: str) -> HostSigner:
        """What the agent of ``host`` signs with: its own key, from the same master key as the API's."""
        return HostSigner({host: signing.host_key(self.master, host)})

    def place(self, server_id: str, host: str, task_state: TaskState) -> None:
        """Put a server on ``host`` in ``task_state``, as the scheduler would (no worker runs here)."""
        with self.cloud.app.extensions["stratus"].db.session() as session:
            session.execute(
                update(Instance).where(Instance.id == server_id).values(host=host, task_state=task_state.value)
            )

    def as_host(self, method: str, path: str, host: str | None, headers: dict[str, str] | None = None, **kw):
        signed = self.signer(host).headers(host, method, f"http://localhost{path}") if host else {}
        return read(
            self.cloud.client().open(
                path, method=method, headers={"X-Auth-Token": self.host_token, **signed, **(headers or {})}, **kw
            )
        )


def read(response: TestResponse) -> TestResponse:
    """The response with its body read and its file closed (a download is streamed from the image's file)."""
    response.get_data()
    response.close()
    return response


def _host_token(app: Flask) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": SERVICE_USER, "domain": {"id": "default"}, "password": SERVICE_PASSWORD}},
            },
            "scope": {"project": {"name": SERVICE_PROJECT, "domain": {"id": "default"}}},
        }
    }
    response = app.test_client().post("/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.headers["X-Subject-Token"]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    app = bootstrapped_app(tmp_path_factory.mktemp("host-signature"))
    rt = app.extensions["stratus"]
    bootstrap(rt.db, [Tenant(SERVICE_PROJECT, SERVICE_USER, SERVICE_PASSWORD, HOST_ROLE, only_role=True)], 4)
    cloud = InProcessCloud(app, "", _token(app, "demo", DEMO_PASSWORD))
    master = signing.ensure_master_key(rt.settings.effective_queue_keys_dir / "master.key")  # as services up does
    yield Hosts(cloud, _host_token(app), master)
    rt.db.dispose()


@pytest.fixture(scope="module")
def building_on_b(hosts: Hosts) -> str:
    """A tenant's private image that host-b is building a server from."""
    image = hosts.cloud.image(hosts.cloud.demo_token)
    hosts.place(hosts.cloud.server(hosts.cloud.demo_token, "on-b", image), "host-b", TaskState.SPAWNING)
    return image


def file_path(image_id: str) -> str:
    return f"/image/v2/images/{image_id}/file"


def test_a_host_reads_the_image_of_its_own_build_and_not_of_another_hosts(hosts, building_on_b):
    image = building_on_b
    own = hosts.as_host("GET", file_path(image), "host-b")
    assert own.status_code == 200 and own.data == DATA
    other = hosts.as_host("GET", file_path(image), "host-a")  # a valid token and its own valid signature
    assert other.status_code == 404, other.get_data(as_text=True)
    assert other.json["code"] == "404 Not Found"
    assert hosts.as_host("GET", file_path(image), None).status_code == 404  # no signature: no host powers


def test_a_host_uploads_only_the_snapshot_its_own_host_is_taking(hosts):
    demo = {"X-Auth-Token": hosts.cloud.demo_token}
    server = hosts.cloud.server(hosts.cloud.demo_token, "snapshotted", hosts.cloud.image(hosts.cloud.demo_token))
    hosts.place(server, "host-b", TaskState.IMAGE_SNAPSHOT)
    body = {
        "name": "snap", "disk_format": "raw", "container_format": "bare", "image_type": "snapshot",
        "instance_uuid": server,
    }  # fmt: skip
    snapshot = hosts.cloud.client().post("/image/v2/images", json=body, headers=demo).json["id"]
    octets = {"Content-Type": "application/octet-stream"}

    refused = hosts.as_host("PUT", file_path(snapshot), "host-a", octets, data=DATA)
    assert refused.status_code == 404, refused.get_data(as_text=True)
    assert hosts.as_host("PUT", file_path(snapshot), None, octets, data=DATA).status_code == 404
    queued = hosts.cloud.client().get(f"/image/v2/images/{snapshot}", headers=demo).json
    assert queued["status"] == "queued"
    uploaded = hosts.as_host("PUT", file_path(snapshot), "host-b", octets, data=DATA)
    assert uploaded.status_code == 204, uploaded.get_data(as_text=True)


def _tampered(hosts: Hosts, path: str, how: str) -> dict[str, str]:
    now = time.time()
    signed = hosts.signer("host-b").headers("host-b", "GET", f"http://localhost{path}", now)
    if how == "forged signature":
        return signed | {hostauth.SIGNATURE_HEADER: "0" * 64}
    if how == "signed with host-a's key, claiming host-b":
        return HostSigner({"host-b": signing.host_key(hosts.master, "host-a")}).headers("host-b", "GET", path, now)
    if how == "expired":
        return hosts.signer("host-b").headers("host-b", "GET", path, now - hostauth.MAX_AGE - 5)
    if how == "dated in the future":
        return hosts.signer("host-b").headers("host-b", "GET", path, now + 600)
    if how == "signed for another path":
        return hosts.signer("host-b").headers("host-b", "GET", path + "?disk_format=qcow2", now)
    if how == "signed for another method":
        return hosts.signer("host-b").headers("host-b", "PUT", path, now)
    if how == "time changed":
        return signed | {hostauth.TIME_HEADER: str(int(now) + 1)}
    if how == "no time":
        return {k: v for k, v in signed.items() if k != hostauth.TIME_HEADER}
    if how == "not hex":
        return signed | {hostauth.SIGNATURE_HEADER: "é" * 64}
    if how == "not a host name":
        return signed | {hostauth.HOST_HEADER: "../host-b"}
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "forged signature", "signed with host-a's key, claiming host-b", "expired", "dated in the future",
        "signed for another path", "signed for another method", "time changed", "no time", "not hex",
        "not a host name",
    ],
)  # fmt: skip
def test_a_host_signature_that_does_not_prove_the_host_is_refused(hosts, building_on_b, how):
    path = file_path(building_on_b)
    headers = {"X-Auth-Token": hosts.host_token, **_tampered(hosts, path, how)}
    response = read(hosts.cloud.client().get(path, headers=headers))
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["code"] == "401 Unauthorized"
    assert "host signature" in response.json["message"]


def test_host_headers_from_any_other_caller_change_nothing(hosts, building_on_b):
    image = building_on_b
    signed = hosts.signer("host-b").headers("host-b", "GET", file_path(image))
    forged = signed | {hostauth.SIGNATURE_HEADER: "0" * 64}
    for extra in (signed, forged):
        response = read(
            hosts.cloud.client().get(file_path(image), headers={"X-Auth-Token": hosts.cloud.demo_token, **extra})
        )
        assert response.status_code == 200 and response.data == DATA
