"""How a host's report about the copy it made of an attached volume ends the snapshot: ``available`` or ``error``
with the host's reason, even once the volume was detached; never for a volume that was not on that server, nor
from another host, nor twice."""

from __future__ import annotations

import uuid

import manage.models  # noqa: F401 - every table on the metadata
from compute.control import events
from compute.control.context import ComputeControl
from compute.models import BlockDeviceMapping, Instance
from compute.states import PowerState, VmState
from volume.models import Volume, VolumeSnapshot, VolumeType


def server_with_volume(control: ComputeControl, *, mapped: bool = True) -> tuple[str, str, str]:
    """A server on h2, a volume (mapped to it, or not) and a ``creating`` snapshot of the volume."""
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor={}, image_ref="i",
            host="h2", vm_state=VmState.ACTIVE.value, requested_networks=[],
        )  # fmt: skip
        kind = VolumeType(name=f"t-{uuid.uuid4().hex}")  # id() of an object is reused once it is gone
        session.add_all([instance, kind])
        session.flush()
        volume = Volume(project_id="p", user_id="u", size=1, status="in-use", volume_type_id=kind.id, backend="file")
        session.add(volume)
        session.flush()
        if mapped:
            session.add(BlockDeviceMapping(instance_uuid=instance.id, volume_id=volume.id, device_name="/dev/vdb",
                                           source_type="volume", destination_type="volume", deleted=True))  # fmt: skip
        snapshot = VolumeSnapshot(project_id="p", user_id="u", volume_id=volume.id, size=1, status="creating",
                                  location=f"snapshot-{volume.id}.qcow2")  # fmt: skip
        session.add(snapshot)
        session.flush()
        return instance.id, volume.id, snapshot.id


def report(control: ComputeControl, server: str, host: str, volume: str, snapshot: str, error: str | None) -> str:
    result = {"volume_id": volume, "snapshot_id": snapshot}
    running = int(PowerState.RUNNING)
    return events.action_done(control, server, host, "snapshot_volume", "req", running, error=error, result=result)


def snapshot_state(control: ComputeControl, snapshot_id: str) -> tuple[str, str | None]:
    with control.db.session() as session:
        snapshot = session.get_one(VolumeSnapshot, snapshot_id)
        return snapshot.status, snapshot.error


def test_the_servers_host_ends_the_snapshot_available_even_after_the_volume_left_the_server(control):
    server, volume, snapshot = server_with_volume(control)
    assert report(control, server, "h2", volume, snapshot, None) == "snapshot taken"
    assert snapshot_state(control, snapshot) == ("available", None)
    assert report(control, server, "h2", volume, snapshot, "late failure") == "superseded"  # redelivered report
    assert snapshot_state(control, snapshot) == ("available", None)


def test_a_failed_copy_ends_the_snapshot_in_error_with_the_hosts_reason(control):
    server, volume, snapshot = server_with_volume(control)
    assert report(control, server, "h2", volume, snapshot, "the backup job failed: No space left") == (
        "snapshot failed"
    )
    assert snapshot_state(control, snapshot) == ("error", "the backup job failed: No space left")


def test_no_host_ends_a_snapshot_of_a_volume_its_server_never_had_nor_of_a_server_elsewhere(control):
    server, volume, snapshot = server_with_volume(control, mapped=False)
    assert report(control, server, "h2", volume, snapshot, None) == "superseded"
    other_server, other_volume, other_snapshot = server_with_volume(control)
    assert report(control, other_server, "h1", other_volume, other_snapshot, None) == "ignored"
    assert report(control, other_server, "h2", volume, snapshot, None) == "superseded"  # another server's volume
    assert report(control, other_server, "h2", other_volume, snapshot, None) == "superseded"  # mismatched pair
    assert snapshot_state(control, snapshot) == ("creating", None)
    assert snapshot_state(control, other_snapshot) == ("creating", None)
