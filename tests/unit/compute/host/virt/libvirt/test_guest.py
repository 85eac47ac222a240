"""libvirt domain states as Nova power states."""

from __future__ import annotations

import libvirt
import pytest

from compute.host.virt.base import PowerState
from compute.host.virt.libvirt.guest import power_state


@pytest.mark.parametrize(
    ("state", "reason", "managed_save", "expected"),
    [
        (libvirt.VIR_DOMAIN_NOSTATE, 0, False, PowerState.NOSTATE),
        (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED, False, PowerState.RUNNING),
        (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_RESTORED, False, PowerState.RUNNING),
        (libvirt.VIR_DOMAIN_BLOCKED, 0, False, PowerState.RUNNING),
        (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER, False, PowerState.PAUSED),
        (libvirt.VIR_DOMAIN_SHUTDOWN, libvirt.VIR_DOMAIN_SHUTDOWN_USER, False, PowerState.SHUTDOWN),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN, False, PowerState.SHUTDOWN),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED, False, PowerState.SHUTDOWN),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SAVED, True, PowerState.SUSPENDED),
        (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, False, PowerState.CRASHED),
        (libvirt.VIR_DOMAIN_CRASHED, 0, False, PowerState.CRASHED),
        (libvirt.VIR_DOMAIN_PMSUSPENDED, 0, False, PowerState.SUSPENDED),
        (99, 0, False, PowerState.NOSTATE),  # a state newer than this code
    ],
)
def test_power_state_mapping(state: int, reason: int, managed_save: bool, expected: PowerState) -> None:
    assert power_state(state, reason, managed_save) is expected
