"""Image quotas set per project through Keystone's unified limits (where Glance reads them), enforced with
Glance's 413 on create and on upload (also when two uploads race for the last bytes), and reported by
``/v2/info/usage``; the registered limits are the defaults of every service's resources."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from identity.catalog import SERVICES
from tests.functional.quota.conftest import run_json

pytestmark = pytest.mark.functional

IMAGE_SERVICE = next(s.id for s in SERVICES if s.type == "image")
NETWORK_SERVICE = next(s.id for s in SERVICES if s.type == "network")


def _limit(cloud, project_id: str, resource: str, value: int) -> dict:
    entry = {"service_id": IMAGE_SERVICE, "project_id": project_id, "resource_name": resource, "resource_limit": value}
    response = cloud.request("POST", "/identity/v3/limits", cloud.admin_token(), json={"limits": [entry]})
    assert response.status_code == 201, response.text
    return response.json()["limits"][0]


def _image(cloud, token: str):
    body = {"disk_format": "raw", "container_format": "bare"}
    return cloud.request("POST", "/image/v2/images", token, json=body)


def _upload(cloud, token: str, image_id: str, size: int):
    headers = {"Content-Type": "application/octet-stream"}
    return cloud.request("PUT", f"/image/v2/images/{image_id}/file", token, data=b"q" * size, headers=headers)


def test_the_image_count_limit_of_a_project_is_glances_413(cloud, tenant):
    _limit(cloud, tenant.project_id, "image_count_total", 1)
    assert _image(cloud, tenant.member).status_code == 201
    refused = _image(cloud, tenant.member)
    assert refused.status_code == 413
    assert refused.json()["message"] == (
        f"Project {tenant.project_id} is over a limit for "
        "[Resource image_count_total is over limit of 1 due to current usage 1 and delta 1]"
    )
    usage = cloud.request("GET", "/image/v2/info/usage", tenant.reader).json()["usage"]
    assert usage == {"image_count_total": {"limit": 1, "usage": 1}, "image_size_total": {"limit": -1, "usage": 0}}


def test_two_uploads_racing_for_the_last_bytes_leave_one_image_within_the_limit(cloud, tenant):
    _limit(cloud, tenant.project_id, "image_size_total", 1000)
    images = [_image(cloud, tenant.member).json()["id"] for _ in range(2)]
    too_big = _upload(cloud, tenant.member, images[0], 1001)
    assert too_big.status_code == 413 and "quota" in too_big.json()["message"]  # refused while streaming
    start = Barrier(2)

    def upload(image_id: str):
        start.wait()
        return _upload(cloud, tenant.member, image_id, 600)

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(r.status_code for r in pool.map(upload, images))
    assert codes == [204, 413]
    usage = cloud.request("GET", "/image/v2/info/usage", tenant.member).json()["usage"]
    assert usage["image_size_total"] == {"limit": 1000, "usage": 600}
    statuses = sorted(cloud.request("GET", f"/image/v2/images/{i}", tenant.member).json()["status"] for i in images)
    assert statuses == ["active", "queued"]


def test_usage_of_another_project_is_for_admins_only(cloud, new_tenant):
    mine, theirs = new_tenant("a"), new_tenant("b")
    refused = cloud.request("GET", f"/image/v2/info/usage?project_id={theirs.project_id}", mine.member)
    assert refused.status_code == 403
    admin = cloud.request("GET", f"/image/v2/info/usage?project_id={theirs.project_id}", cloud.admin_token())
    assert admin.json()["usage"]["image_count_total"]["usage"] == 0


def test_limits_are_listed_changed_and_deleted_and_members_see_only_their_own(cloud, new_tenant):
    mine, theirs = new_tenant("a"), new_tenant("b")
    created = _limit(cloud, mine.project_id, "image_size_total", 5000)
    _limit(cloud, theirs.project_id, "image_size_total", 7000)
    listed = cloud.request("GET", "/identity/v3/limits", mine.member).json()["limits"]
    assert [(entry["project_id"], entry["resource_limit"]) for entry in listed] == [(mine.project_id, 5000)]
    admin = cloud.admin_token()
    same = {k: created[k] for k in ("service_id", "project_id", "resource_name")}
    again = {"limits": [{**same, "resource_limit": 1}]}
    assert cloud.request("POST", "/identity/v3/limits", admin, json=again).status_code == 409
    change = {"limit": {"resource_limit": 9}}
    patched = cloud.request("PATCH", f"/identity/v3/limits/{created['id']}", admin, json=change)
    assert patched.json()["limit"]["resource_limit"] == 9
    assert cloud.request("GET", "/image/v2/info/usage", mine.member).json()["usage"]["image_size_total"]["limit"] == 9
    assert cloud.request("DELETE", f"/identity/v3/limits/{created['id']}", mine.member).status_code == 403
    assert cloud.request("DELETE", f"/identity/v3/limits/{created['id']}", admin).status_code == 204
    assert cloud.request("GET", "/image/v2/info/usage", mine.member).json()["usage"]["image_size_total"]["limit"] == -1


def test_registered_limits_are_every_resources_default_and_the_cli_reads_them(cloud, new_tenant):
    admin = cloud.admin_token()
    listed = cloud.request("GET", f"/identity/v3/registered_limits?service_id={NETWORK_SERVICE}", admin).json()
    port = next(r for r in listed["registered_limits"] if r["resource_name"] == "port")
    assert port["default_limit"] == 500
    try:
        body = {"registered_limit": {"default_limit": 42}}
        assert cloud.request("PATCH", f"/identity/v3/registered_limits/{port['id']}", admin, json=body).ok
        fresh = new_tenant()
        quota = cloud.request("GET", f"/network/v2.0/quotas/{fresh.project_id}", fresh.member).json()["quota"]
        assert quota["port"] == 42
    finally:
        assert cloud.request("DELETE", f"/identity/v3/registered_limits/{port['id']}", admin).status_code == 204
    shown = run_json(cloud, "openstack", "registered", "limit", "list", "--service", "image")
    assert {row["Resource Name"]: row["Default Limit"] for row in shown} == {
        "image_count_total": -1,
        "image_size_total": -1,
    }
