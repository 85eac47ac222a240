"""The control side of an interface attach: when the wired port is hot-plugged and when a workflow's own definition
of the guest carries it instead."""

from __future__ import annotations

import manage.models  # noqa: F401 - every table on the metadata
from compute import client
from compute.control import interfaces
from compute.control.context import ComputeControl
from compute.models import Instance
from compute.nics import ATTACHING
from compute.states import TaskState, VmState

NIC = {"port_id": "p-new", "mac": "fa:16:3e:00:00:02", "tap": "tapp-new", "mtu": 1450, "bridge": "brq1"}


def _stopped_server_attaching(control: ComputeControl, task_state: TaskState) -> str:
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor={}, image_ref="i",
            host="h1", vm_state=VmState.STOPPED.value, task_state=task_state.value,
            requested_networks=[{"port_id": "p-old"}, {"port_id": "p-new", ATTACHING: True}],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


def _entry(control: ComputeControl, server: str) -> dict:
    with control.db.session() as session:
        entries = session.get_one(Instance, server).requested_networks
    return next(e for e in entries if e["port_id"] == "p-new")


def test_a_port_wired_while_the_server_powers_on_is_hot_plugged(control):
    """Regression: a start sent before the attach's network-ready came back set a task state, which was read as a
    workflow defining the guest anew; the mark was cleared, nothing plugged it, and the started guest had one NIC
    (a full run's test_a_users_port_is_attached_to_a_stopped_server_and_given_back)."""
    server = _stopped_server_attaching(control, TaskState.POWERING_ON)
    outcome = interfaces.network_ready(control, server, "h1", [NIC], "req-1")
    assert outcome == "plugging 1 interfaces"
    assert control.app.sent == [client.AGENT_ACTION]
    assert _entry(control, server)[ATTACHING] and _entry(control, server)["tap"] == "tapp-new"


def test_a_port_wired_during_a_resize_is_left_to_the_resized_definition(control):
    server = _stopped_server_attaching(control, TaskState.RESIZE_PREP)
    assert interfaces.network_ready(control, server, "h1", [NIC], "req-1") is None
    assert control.app.sent == []
    assert ATTACHING not in _entry(control, server)
