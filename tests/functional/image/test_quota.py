"""Image quotas: a project's image count and stored bytes are limited, the bytes while the upload streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.harness import Cloud, running_cloud

pytestmark = pytest.mark.functional

MiB = 1 << 20


@pytest.fixture(scope="module")
def small_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cloud, str]]:
    env = {"STRATUS_IMAGE_QUOTA_COUNT": "2", "STRATUS_IMAGE_QUOTA_BYTES": str(3 * MiB)}
    with running_cloud(tmp_path_factory.mktemp("quota-cloud"), env) as cloud:
        cloud.bootstrap("quota-admin", "quota-demo")
        auth = v3.Password(
            auth_url=cloud.auth_url,
            username="demo",
            password="quota-demo",
            project_name="demo",
            user_domain_id="default",
            project_domain_id="default",
        )
        yield cloud, ks_session.Session(auth=auth).get_token()


def _create(cloud: Cloud, token: str) -> requests.Response:
    body = {"disk_format": "raw", "container_format": "bare"}
    return requests.post(f"{cloud.url}/image/v2/images", json=body, headers={"X-Auth-Token": token}, timeout=30)


def _upload(cloud: Cloud, token: str, image_id: str, size: int) -> requests.Response:
    headers = {"X-Auth-Token": token, "Content-Type": "application/octet-stream"}
    return requests.put(f"{cloud.url}/image/v2/images/{image_id}/file", data=b"q" * size, headers=headers, timeout=60)


def _status(cloud: Cloud, token: str, image_id: str) -> str:
    return requests.get(f"{cloud.url}/image/v2/images/{image_id}", headers={"X-Auth-Token": token}, timeout=30).json()[
        "status"
    ]


def test_bytes_are_limited_while_streaming_and_a_refused_upload_keeps_nothing(small_cloud):
    cloud, token = small_cloud
    first, second = _create(cloud, token).json()["id"], _create(cloud, token).json()["id"]
    assert _upload(cloud, token, first, 2 * MiB).status_code == 204

    refused = _upload(cloud, token, second, 2 * MiB)

    assert refused.status_code == 413 and "quota" in refused.json()["message"]
    assert _status(cloud, token, second) == "queued"
    assert [p for p in Path(cloud.state_dir, "images").rglob(f"{second}*")] == []
    assert _upload(cloud, token, second, 1 * MiB).status_code == 204


def test_the_image_count_is_limited(small_cloud):
    cloud, token = small_cloud
    refused = _create(cloud, token)
    assert refused.status_code == 413
    assert refused.json()["message"].endswith(
        "is over a limit for [Resource image_count_total is over limit of 2 due to current usage 2 and delta 1]"
    )
