"""What a host's error text reaches: an action event's ``traceback`` and a 5xx fault's ``details`` are for admins
only (Nova's rules); the owner sees the event and the fault's message."""

from __future__ import annotations

from typing import Any

from compute import actions
from compute.control import records
from compute.models import Instance, InstanceAction
from tests.unit.api.conftest import InProcessCloud

SECRET = "/var/lib/stratus/instances/abc/disk: Permission denied (host-7)"
HEADERS = {"OpenStack-API-Version": "compute 2.37"}


def _failed_server(api_cloud: InProcessCloud, name: str, fault_code: int = 500) -> tuple[str, str]:
    """A server of demo whose build failed on a host: (server id, request id of its create action)."""
    server_id = api_cloud.server(api_cloud.demo_token, name, api_cloud.image(api_cloud.demo_token, name))
    with api_cloud.app.extensions["stratus"].db.session() as session:
        request_id = session.query(InstanceAction.request_id).filter_by(instance_id=server_id).scalar()
        actions.record_event(
            session, server_id, request_id, "compute_build_and_run_instance", "Error", "host-7", OSError(SECRET)
        )
        instance = session.get(Instance, server_id)
        assert instance is not None
        instance.vm_state, instance.task_state = "error", None
        instance.fault = records.fault(fault_code, "Build of the server failed.", details=SECRET)
    return server_id, request_id


def _get(api_cloud: InProcessCloud, path: str, token: str) -> dict[str, Any]:
    response = api_cloud.client().get(f"/compute/v2.1{path}", headers={"X-Auth-Token": token, **HEADERS})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_an_action_events_traceback_reaches_admins_only(api_cloud: InProcessCloud) -> None:
    server_id, request_id = _failed_server(api_cloud, "traceback-events")
    path = f"/servers/{server_id}/os-instance-actions/{request_id}"

    (owner_event,) = _get(api_cloud, path, api_cloud.demo_token)["instanceAction"]["events"]
    assert owner_event["event"] == "compute_build_and_run_instance" and owner_event["result"] == "Error"
    assert "traceback" not in owner_event  # absent, as in Nova, not null
    (admin_event,) = _get(api_cloud, path, api_cloud.admin_token)["instanceAction"]["events"]
    assert SECRET in admin_event["traceback"]


def test_a_server_faults_details_reach_admins_only(api_cloud: InProcessCloud) -> None:
    server_id, _ = _failed_server(api_cloud, "fault-details")
    owner = _get(api_cloud, f"/servers/{server_id}", api_cloud.demo_token)["server"]["fault"]
    assert owner["code"] == 500 and owner["message"] == "Build of the server failed." and "details" not in owner
    admin = _get(api_cloud, f"/servers/{server_id}", api_cloud.admin_token)["server"]["fault"]
    assert admin["details"] == SECRET


def test_a_4xx_faults_details_are_the_owners_to_see(api_cloud: InProcessCloud) -> None:
    """Nova shows a fault's details to the owner when its code is not a 500: the owner's own mistake."""
    server_id, _ = _failed_server(api_cloud, "fault-4xx", fault_code=400)
    owner = _get(api_cloud, f"/servers/{server_id}", api_cloud.demo_token)["server"]["fault"]
    assert owner["details"] == SECRET
