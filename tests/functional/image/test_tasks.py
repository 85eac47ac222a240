"""Glance's tasks API (``/image/v2/tasks``) over real HTTP, run by the real image worker.

The test cloud lists no web source to import from, so an import task ends in ``failure`` with the reason, as
Tempest's ``test_task_create_fake_image_location`` expects, and never makes an image or a connection."""

from __future__ import annotations

import json

import openstack
import pytest

from tests.harness import wait_until

pytestmark = pytest.mark.functional

TASKS = "/image/v2/tasks"
LISTED = {"id", "type", "status", "owner", "created_at", "updated_at", "self", "schema"}


def _body(name: str, url: str = "") -> dict:
    return {
        "type": "import",
        "input": {
            "import_from": url or f"http://{name}.qcow2",
            "import_from_format": "qcow2",
            "image_properties": {
                "name": name,
                "disk_format": "qcow2",
                "container_format": "bare",
                "visibility": "public",
            },
        },
    }


def _create(cloud, token: str, body: dict) -> dict:
    response = cloud.request("POST", TASKS, token, json=body)
    assert response.status_code == 201, response.text
    task = response.json()
    assert response.headers["Location"] == task["self"] == f"/v2/tasks/{task['id']}"
    return task


def _ended(cloud, token: str, task_id: str) -> dict:
    return wait_until(
        lambda: cloud.request("GET", f"{TASKS}/{task_id}", token).json(),
        60,
        interval=0.2,
        message=f"task {task_id} never ended",
        until=lambda task: task["status"] in ("success", "failure"),
    )


def test_an_import_from_an_unlisted_web_source_fails_with_the_reason_and_makes_no_image(cloud, unique):
    token = cloud.admin_token()
    body = _body(unique)
    task = _create(cloud, token, body)
    assert task["status"] in ("pending", "processing") and task["type"] == "import"
    assert task["input"] == body["input"] and task["result"] is None and task["message"] == ""
    assert task["schema"] == "/v2/schemas/task" and task["created_at"].endswith("Z") and "expires_at" not in task
    failed = _ended(cloud, token, task["id"])
    assert failed["status"] == "failure" and failed["result"] is None
    assert "no web source" in failed["message"] and unique in failed["message"]
    assert failed["expires_at"] > failed["created_at"]
    assert cloud.request("GET", f"/image/v2/images?name={unique}", token).json()["images"] == []
    # the openstack CLI reads it as Glance's (one CLI check for the tasks API)
    shown = json.loads(cloud.openstack("stratus-admin", "image", "task", "show", task["id"], "-f", "json").stdout)
    assert (shown["id"], shown["status"], shown["message"]) == (task["id"], "failure", failed["message"])


def test_tasks_are_listed_with_glances_filters_paging_and_sorting_and_never_deleted(cloud, unique):
    token = cloud.admin_token()
    made = [_create(cloud, token, _body(f"{unique}-{n}"))["id"] for n in range(3)]
    for task_id in made:
        _ended(cloud, token, task_id)
    page = cloud.request("GET", f"{TASKS}?status=failure&sort_dir=desc&limit=2", token).json()
    assert set(page) == {"tasks", "first", "next", "schema"} and page["schema"] == "/v2/schemas/tasks"
    assert [t["id"] for t in page["tasks"]] == made[:0:-1]
    assert all(set(t) == LISTED | {"expires_at"} for t in page["tasks"])
    assert page["first"] == "/v2/tasks?status=failure&sort_dir=desc&limit=2"
    following = cloud.request("GET", f"/image{page['next']}", token).json()
    assert following["tasks"][0]["id"] == made[0]
    ascending = cloud.request("GET", f"{TASKS}?sort_key=created_at&sort_dir=asc&limit=1000", token).json()["tasks"]
    ids = [t["id"] for t in ascending]
    assert ids.index(made[0]) < ids.index(made[1]) < ids.index(made[2])
    sdk = openstack.connection.Connection(session=cloud.admin(), region_name="RegionOne")
    assert set(made) <= {t.id for t in sdk.image.tasks(status="failure", limit=2)}  # follows the next links
    for query, words in (
        ("status=done", "Invalid status value"),
        ("type=export", "Invalid type value"),
        ("sort_key=input", "Invalid sort key"),
        ("sort_dir=up", "Invalid sort direction"),
        ("limit=-1", "limit param must be positive"),
        ("limit=x", "limit param must be an integer"),
        ("marker=not-a-uuid", "Invalid marker format"),
        ("marker=00000000-0000-0000-0000-000000000000", "not found"),
    ):
        response = cloud.request("GET", f"{TASKS}?{query}", token)
        assert response.status_code == 400 and words in response.text, (query, response.text)
    refused = cloud.request("DELETE", f"{TASKS}/{made[0]}", token)
    assert refused.status_code == 405 and "expires_at" in refused.text and refused.headers["Allow"] == "GET"
    assert cloud.request("GET", f"{TASKS}/{made[0]}", token).status_code == 200
    assert cloud.request("GET", f"{TASKS}/00000000-0000-0000-0000-000000000000", token).status_code == 404


def test_the_tasks_api_is_admin_only_and_input_that_cannot_work_is_400(cloud, unique):
    member = cloud.demo().get_token()
    assert cloud.request("POST", TASKS, member, json=_body(unique)).status_code == 403
    assert cloud.request("GET", TASKS, member).status_code == 403
    token = cloud.admin_token()
    before = len(cloud.request("GET", f"{TASKS}?limit=1000", token).json()["tasks"])
    good = _body(unique)["input"]
    for body, words in (
        ({"input": good}, "Task 'type' is required"),
        ({"type": "import"}, "Task 'input' is required"),
        ({"type": "export", "input": good}, "export"),
        ({"type": "import", "input": {**good, "import_from": "file:///etc/passwd"}}, "only http and https"),
        ({"type": "import", "input": {**good, "import_from": "http://"}}, "names no host"),
        ({"type": "import", "input": {k: v for k, v in good.items() if k != "import_from"}}, "import_from"),
        ({"type": "import", "input": {**good, "import_from_format": "tar"}}, "import_from_format"),
        ({"type": "import", "input": {**good, "import_from_format": "raw"}}, "differ"),
        ({"type": "import", "input": {**good, "image_properties": {"status": "active"}}}, "status"),
        ({"type": "import", "input": {**good, "image_properties": {"disk_format": "floppy"}}}, "disk_format"),
    ):
        response = cloud.request("POST", TASKS, token, json=body)
        assert response.status_code == 400 and words in response.text, (body, response.text)
    assert len(cloud.request("GET", f"{TASKS}?limit=1000", token).json()["tasks"]) == before
    for name in ("task", "tasks"):
        schema = cloud.request("GET", f"/image/v2/schemas/{name}", member)
        assert schema.status_code == 200 and schema.json()["name"] == name
