"""Server state on separate axes, as Nova keeps it, and the one table of what each action may do when.

``vm_state`` is the stable state, ``task_state`` the action in flight (None when idle), ``power_state`` what the
hypervisor last reported. The API's ``status`` is derived from the first two; an action asked for in a state
the table does not allow is a 409.
"""

from __future__ import annotations

from enum import StrEnum

from compute.host.virt.base import PowerState

__all__ = ["ACTIONS", "PowerState", "TaskState", "VmState", "allowed", "server_status"]


class VmState(StrEnum):
    BUILDING = "building"
    """Being scheduled and spawned."""
    ACTIVE = "active"
    """Running (or believed to be)."""
    STOPPED = "stopped"
    """Powered off by request; keeps its resources."""
    PAUSED = "paused"
    """vCPUs stopped, memory held."""
    SUSPENDED = "suspended"
    """Memory saved to disk, no guest process."""
    RESIZED = "resized"
    """Resized, waiting for confirm or revert."""
    ERROR = "error"
    """A build or action failed; ``fault`` says why."""
    DELETED = "deleted"
    """Gone; kept as a record."""


class TaskState(StrEnum):
    SCHEDULING = "scheduling"
    """Picking a host."""
    NETWORKING = "networking"
    """Placed: the network service binds and wires the server's ports on its host."""
    SPAWNING = "spawning"
    """The host is creating the guest."""
    POWERING_OFF = "powering-off"
    """Stopping."""
    POWERING_ON = "powering-on"
    """Starting."""
    REBOOTING = "rebooting"
    """Soft reboot."""
    REBOOTING_HARD = "rebooting_hard"
    """Hard reboot."""
    PAUSING = "pausing"
    """Pausing."""
    UNPAUSING = "unpausing"
    """Unpausing."""
    SUSPENDING = "suspending"
    """Suspending."""
    RESUMING = "resuming"
    """Resuming."""
    REBUILDING = "rebuilding"
    """Recreating the guest from an image."""
    RESIZE_PREP = "resize_prep"
    """Resizing to another flavor."""
    RESIZE_REVERTING = "resize_reverting"
    """Going back to the old flavor."""
    RESIZE_CONFIRMING = "resize_confirming"
    """Dropping the old flavor's claim."""
    IMAGE_SNAPSHOT = "image_snapshot"
    """Taking a snapshot for createImage."""
    DELETING = "deleting"
    """Being deleted."""


# action → (vm_states it may start from, task_state while it runs, vm_state when it succeeds)
ACTIONS: dict[str, tuple[frozenset[VmState], TaskState, VmState | None]] = {
    "stop": (frozenset({VmState.ACTIVE, VmState.ERROR}), TaskState.POWERING_OFF, VmState.STOPPED),
    "start": (frozenset({VmState.STOPPED}), TaskState.POWERING_ON, VmState.ACTIVE),
    "reboot": (
        frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED, VmState.ERROR}),
        TaskState.REBOOTING,
        VmState.ACTIVE,
    ),
    "reboot_hard": (
        frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED, VmState.ERROR}),
        TaskState.REBOOTING_HARD,
        VmState.ACTIVE,
    ),
    "pause": (frozenset({VmState.ACTIVE}), TaskState.PAUSING, VmState.PAUSED),
    "unpause": (frozenset({VmState.PAUSED}), TaskState.UNPAUSING, VmState.ACTIVE),
    "suspend": (frozenset({VmState.ACTIVE}), TaskState.SUSPENDING, VmState.SUSPENDED),
    "resume": (frozenset({VmState.SUSPENDED}), TaskState.RESUMING, VmState.ACTIVE),
    "rebuild": (frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}), TaskState.REBUILDING, VmState.ACTIVE),
    "resize": (frozenset({VmState.ACTIVE, VmState.STOPPED}), TaskState.RESIZE_PREP, VmState.RESIZED),
    "confirm_resize": (frozenset({VmState.RESIZED}), TaskState.RESIZE_CONFIRMING, None),
    "revert_resize": (frozenset({VmState.RESIZED}), TaskState.RESIZE_REVERTING, None),
    "create_image": (
        frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED}),
        TaskState.IMAGE_SNAPSHOT,
        None,
    ),
    "console_output": (
        frozenset({VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED, VmState.RESIZED, VmState.ERROR}),
        None,
        None,
    ),  # type: ignore[dict-item]
}

# (vm_state, task_state) → API status; task states not listed fall back to the vm_state's status.
_TASK_STATUS = {
    TaskState.REBOOTING: "REBOOT",
    TaskState.REBOOTING_HARD: "HARD_REBOOT",
    TaskState.REBUILDING: "REBUILD",
    TaskState.RESIZE_PREP: "RESIZE",
    TaskState.RESIZE_REVERTING: "REVERT_RESIZE",
    TaskState.DELETING: None,
}
_VM_STATUS = {
    VmState.BUILDING: "BUILD",
    VmState.ACTIVE: "ACTIVE",
    VmState.STOPPED: "SHUTOFF",
    VmState.PAUSED: "PAUSED",
    VmState.SUSPENDED: "SUSPENDED",
    VmState.RESIZED: "VERIFY_RESIZE",
    VmState.ERROR: "ERROR",
    VmState.DELETED: "DELETED",
}


def server_status(vm_state: str, task_state: str | None) -> str:
    """The ``status`` clients see, derived as Nova derives it."""
    if task_state in _TASK_STATUS and _TASK_STATUS[TaskState(task_state)]:
        return _TASK_STATUS[TaskState(task_state)]  # type: ignore[return-value]
    return _VM_STATUS.get(VmState(vm_state), "UNKNOWN")


def allowed(action: str, vm_state: str, task_state: str | None) -> bool:
    """Whether ``action`` may start now: the vm_state must be listed and no other task may be in flight."""
    starts_from = ACTIONS[action][0]
    return VmState(vm_state) in starts_from and task_state is None
