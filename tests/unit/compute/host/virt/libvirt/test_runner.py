"""The compute host's command runner turns every way a command can fail into a DriverError that says what for."""

from __future__ import annotations

import pytest

from compute.host.virt.base import DriverError
from compute.host.virt.libvirt.runner import run


def test_the_output_of_a_command_that_succeeds_is_returned() -> None:
    assert run(["echo", "made"], "echoing") == "made\n"


@pytest.mark.parametrize(
    ("command", "timeout", "message"),
    [
        (["sh", "-c", "echo broken >&2; exit 3"], 5.0, "building the drive failed: broken"),
        (["/nonexistent/genisoimage"], 5.0, "building the drive failed: .*No such file"),
        (["sleep", "5"], 0.1, "building the drive failed: .*timed out"),
    ],
)
def test_a_failing_missing_or_hanging_command_is_a_driver_error(command, timeout, message) -> None:
    with pytest.raises(DriverError, match=message):
        run(command, "building the drive", timeout=timeout)
