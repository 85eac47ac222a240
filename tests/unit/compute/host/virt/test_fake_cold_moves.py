"""The fake driver's cold move between two fake hosts of one process: the disk copy hands the guest's record to the
target, each step is idempotent, and an injected failure leaves the guest where it was, as the contract says."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from compute.host.virt.base import DriverError, InstanceNotFound, InstanceSpec, MigrationTarget, PowerState
from compute.host.virt.fake import FakeDriver


def _hosts(**failing: frozenset[str]) -> tuple[FakeDriver, FakeDriver, str]:
    prefix = secrets.token_hex(3)
    source = FakeDriver(failing_moves=failing.get("source", frozenset()))
    target = FakeDriver(failing_moves=failing.get("target", frozenset()))
    source.init_host(f"{prefix}-a")
    target.init_host(f"{prefix}-b")
    return source, target, target.host


def _spec(root_gb: int = 1, vcpus: int = 1) -> InstanceSpec:
    return InstanceSpec(
        uuid="u1", name="vm", vcpus=vcpus, memory_mb=64, root_gb=root_gb, base_image=Path("/dev/null"),
        base_image_format="raw",
    )  # fmt: skip


def test_a_cold_move_then_confirm_leaves_the_guest_on_the_target_alone_with_its_new_flavor():
    source, target, name = _hosts()
    source.spawn(_spec())
    source.migrate_disk_and_power_off("u1", MigrationTarget(name, "192.0.2.2"))
    source.migrate_disk_and_power_off("u1", MigrationTarget(name, "192.0.2.2"))  # redelivered
    assert source.get_info("u1").power_state == PowerState.SHUTDOWN
    with pytest.raises(InstanceNotFound):
        target.get_info("u1")  # copied disks are no guest yet

    target.finish_migration(_spec(root_gb=2, vcpus=2), power_on=True)
    target.finish_migration(_spec(root_gb=2, vcpus=2), power_on=True)  # redelivered
    assert (target.get_info("u1").power_state, target.flavor_of("u1")) == (PowerState.RUNNING, (2, 64, 2))
    source.confirm_migration("u1")
    source.confirm_migration("u1")
    assert [i.uuid for i in source.list_instances()] == [] and [i.uuid for i in target.list_instances()] == ["u1"]


def test_a_revert_removes_the_target_copy_and_starts_the_source_copy_as_it_was():
    source, target, name = _hosts()
    source.spawn(_spec())
    source.migrate_disk_and_power_off("u1", MigrationTarget(name, "192.0.2.2"))
    target.finish_migration(_spec(), power_on=True)
    target.destroy_moved("u1")
    target.destroy_moved("u1")
    source.finish_revert_migration("u1", power_on=True)
    assert target.list_instances() == [] and source.get_info("u1").power_state == PowerState.RUNNING


def test_a_failed_disk_copy_leaves_the_guest_running_and_a_partial_copy_the_target_removes():
    source, target, name = _hosts(source=frozenset({"migrate_disk_and_power_off"}))
    source.spawn(_spec())
    with pytest.raises(DriverError, match="injected failure"):
        source.migrate_disk_and_power_off("u1", MigrationTarget(name, "192.0.2.2"))
    assert source.get_info("u1").power_state == PowerState.RUNNING
    target.destroy_moved("u1")  # the roll-back's clean-up of what was copied
    with pytest.raises(DriverError, match="no disks of u1"):
        target.finish_migration(_spec(), power_on=True)


def test_a_target_this_process_does_not_serve_cannot_be_reached_and_a_disk_never_shrinks():
    source, target, name = _hosts()
    source.spawn(_spec(root_gb=2))
    with pytest.raises(DriverError, match="cannot be reached"):
        source.migrate_disk_and_power_off("u1", MigrationTarget("elsewhere", "192.0.2.9"))
    assert source.get_info("u1").power_state == PowerState.RUNNING
    source.migrate_disk_and_power_off("u1", MigrationTarget(name, "192.0.2.2"))
    with pytest.raises(DriverError, match="cannot shrink"):
        target.finish_migration(_spec(root_gb=1), power_on=True)
