"""Server state on separate axes, as Nova keeps it, and the one table of what each action may do when.

``vm_state`` is the stable state, ``task_state`` the action in flight (None when idle), ``power_state`` what the
hypervisor last reported. The API's ``status`` is derived from the first two; an action asked for in a state
the table does not allow is a 409.

Everything here is data the code reads: ``TRANSITIONS`` (what each action starts from, the task it claims and
where it ends) and ``STUCK_RULES`` (what the sweeper does with a task that stays in flight too long). The state
diagram in ``docs/compute-states.md`` is drawn from them (``python -m compute.diagram``). This module imports
nothing of ours: the API, the control side and the host agents all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "STUCK_RULES",
    "TRANSITIONS",
    "Action",
    "Clock",
    "HostCondition",
    "PowerState",
    "Remedy",
    "StuckRule",
    "TaskState",
    "Transition",
    "VmState",
    "allowed",
    "server_status",
]


class PowerState(IntEnum):
    """Nova's power states (the numbers clients see in ``OS-EXT-STS:power_state``), as hosts report them."""

    NOSTATE = 0
    """No domain, or its state could not be read."""
    RUNNING = 1
    """The guest's vCPUs are running."""
    PAUSED = 3
    """Held in memory, vCPUs stopped (pause)."""
    SHUTDOWN = 4
    """Defined but not running (stopped, or not yet started)."""
    CRASHED = 6
    """The guest crashed."""
    SUSPENDED = 7
    """Memory saved to disk, no process running (suspend / managed save)."""


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
    SHELVED = "shelved"
    """Powered off with its disk saved as an image (shelve); still on its host, holding its resources."""
    SHELVED_OFFLOADED = "shelved_offloaded"
    """Shelved and gone from its host: no host, no claim, no disk; its ports kept, unbound (unshelve places it)."""
    SOFT_DELETED = "soft-delete"
    """Deleted by its user while ``reclaim_instance_interval`` holds deletes back: powered off, resources kept,
    ``restore`` brings it back until the interval reclaims it."""
    RESCUED = "rescued"
    """Booted from a rescue image with its own root disk as the second disk (rescue); unrescue boots it again."""


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
    SHELVING = "shelving"
    """Saving the root disk as an image, then powering off."""
    SHELVING_OFFLOADING = "shelving_offloading"
    """Removing a shelved server from its host."""
    UNSHELVING = "unshelving"
    """Placing a shelved server again and spawning it from its image."""
    SOFT_DELETING = "soft-deleting"
    """Powering off for a deferred delete."""
    RESTORING = "restoring"
    """Powering a soft-deleted server on again."""
    RESCUING = "rescuing"
    """Booting from the rescue image."""
    UNRESCUING = "unrescuing"
    """Booting from the server's own disk again."""
    RESIZE_MIGRATING = "resize_migrating"
    """A cold migration or a resize to another host: the guest is off on its source, its disks are copied to the
    target (Nova's name)."""
    RESIZE_FINISH = "resize_finish"
    """The target defines (and starts) the guest from the copied disks; the source keeps its copy for a revert."""
    MIGRATING = "migrating"
    """A live migration: the guest keeps running while it moves to another host."""


class Action(StrEnum):
    """What may be done to a server; the value is the name hosts and tasks carry (``agent.action``)."""

    BUILD = "build"
    """Place and spawn a new server (``POST /servers``)."""
    STOP = "stop"
    START = "start"
    REBOOT = "reboot"
    REBOOT_HARD = "reboot_hard"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    SUSPEND = "suspend"
    RESUME = "resume"
    REBUILD = "rebuild"
    RESIZE = "resize"
    CONFIRM_RESIZE = "confirm_resize"
    REVERT_RESIZE = "revert_resize"
    CREATE_IMAGE = "create_image"
    CONSOLE_OUTPUT = "console_output"
    """Read the console log: starts no task, only needs a guest."""
    ATTACH_VOLUME = "attach_volume"
    """Plug a volume in (``os-volume_attachments``): no task, the volume's status is the claim (``compute.volumes``)."""
    DETACH_VOLUME = "detach_volume"
    EXTEND_VOLUME = "extend_volume"
    """Grow an attached volume under the guest (Cinder 3.42's extend of an in-use volume)."""
    SNAPSHOT_VOLUME = "snapshot_volume"
    """Copy an attached volume at one instant while the guest runs, for a snapshot its backend cannot take beside
    the guest (Nova's os-assisted-volume-snapshots)."""
    DELETE = "delete"
    """Allowed in every state and during every task, as in Nova: a user can always get rid of a server."""
    SHELVE = "shelve"
    """Snapshot the root disk to ``<name>-shelved`` (none for a volume-backed server), then power off."""
    SHELVE_OFFLOAD = "shelve_offload"
    """Free the host: the guest and its disks go, the claim is released, the ports unbound (kept)."""
    UNSHELVE = "unshelve"
    """Schedule again and spawn from the shelved image, which is then deleted."""
    SOFT_DELETE = "soft_delete"
    """A delete held back by ``reclaim_instance_interval``: power off, keep everything."""
    RESTORE = "restore"
    """Undo a soft delete: power on again."""
    RESCUE = "rescue"
    UNRESCUE = "unrescue"
    MIGRATE = "migrate"
    """Cold migration to another host (admin): power off, copy the disks, start there; confirm or revert after."""
    LIVE_MIGRATE = "live_migrate"
    """Move the running guest to another host without stopping it (admin, ``os-migrateLive``)."""
    EVACUATE = "evacuate"
    """Rebuild a server of a fenced, down host on another host, from its image or its volumes (admin)."""


IDLE: frozenset[TaskState | None] = frozenset({None})
ANY_TASK: frozenset[TaskState | None] = frozenset({None, *TaskState})


@dataclass(frozen=True)
class Transition:
    """One action's row of the table: when it may start, the task it claims, where the server ends.

    ``on_success`` is the vm_state the host's success report sets: empty means unchanged, several mean the
    guest's power state picks (STOPPED when it is off, else ACTIVE). ``on_failure`` is the vm_state a reported
    failure sets; None means the server is left as it was (the task is only cleared, the reason recorded in
    the action). Whatever the row says, a failure that leaves no guest behind (power state NOSTATE) is ERROR.
    Every task returns to idle when its outcome is recorded (``compute.control.events``), and a task whose
    outcome never comes is ended by the sweeper (``STUCK_RULES``).
    """

    action: Action
    starts_from: frozenset[VmState]
    task_state: TaskState | None
    on_success: tuple[VmState, ...] = ()
    on_failure: VmState | None = None
    during: frozenset[TaskState | None] = IDLE
    """Task states it may start in: only idle, except for a delete, which takes over any task."""
    steps: tuple[TaskState, ...] = ()
    """Further task states the workflow moves through after ``task_state`` (a build's networking, spawning)."""

    def allows(self, vm_state: str, task_state: str | None) -> bool:
        return VmState(vm_state) in self.starts_from and task_state in self.during

    @property
    def task_states(self) -> tuple[TaskState, ...]:
        """Every task state the action holds, in order."""
        return ((self.task_state,) if self.task_state else ()) + self.steps


_V = VmState
_RUNNABLE = frozenset({_V.ACTIVE, _V.STOPPED, _V.PAUSED, _V.SUSPENDED})
_BY_POWER = (_V.ACTIVE, _V.STOPPED)
_VOLUME_STATES = frozenset({_V.ACTIVE, _V.PAUSED, _V.STOPPED, _V.RESIZED})
_SHELVED = frozenset({_V.SHELVED, _V.SHELVED_OFFLOADED})


def _row(action: Action, starts_from: frozenset[VmState], task: TaskState | None, **rest: object) -> Transition:
    return Transition(action, starts_from, task, **rest)  # type: ignore[arg-type]


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        _row(Action.BUILD, frozenset({_V.BUILDING}), TaskState.SCHEDULING, on_success=(_V.ACTIVE,),
             on_failure=_V.ERROR, during=frozenset({TaskState.SCHEDULING}),
             steps=(TaskState.NETWORKING, TaskState.SPAWNING)),
        _row(Action.STOP, frozenset({_V.ACTIVE, _V.ERROR}), TaskState.POWERING_OFF, on_success=(_V.STOPPED,)),
        _row(Action.START, frozenset({_V.STOPPED}), TaskState.POWERING_ON, on_success=(_V.ACTIVE,)),
        _row(Action.REBOOT, _RUNNABLE | {_V.ERROR}, TaskState.REBOOTING, on_success=(_V.ACTIVE,)),
        _row(Action.REBOOT_HARD, _RUNNABLE | {_V.ERROR}, TaskState.REBOOTING_HARD, on_success=(_V.ACTIVE,)),
        _row(Action.PAUSE, frozenset({_V.ACTIVE}), TaskState.PAUSING, on_success=(_V.PAUSED,)),
        _row(Action.UNPAUSE, frozenset({_V.PAUSED}), TaskState.UNPAUSING, on_success=(_V.ACTIVE,)),
        _row(Action.SUSPEND, frozenset({_V.ACTIVE}), TaskState.SUSPENDING, on_success=(_V.SUSPENDED,)),
        _row(Action.RESUME, frozenset({_V.SUSPENDED}), TaskState.RESUMING, on_success=(_V.ACTIVE,)),
        # A rebuild that fails has already removed the old disk: there is nothing to go back to.
        _row(Action.REBUILD, frozenset({_V.ACTIVE, _V.STOPPED, _V.ERROR}), TaskState.REBUILDING,
             on_success=_BY_POWER, on_failure=_V.ERROR),
        _row(Action.RESIZE, frozenset({_V.ACTIVE, _V.STOPPED}), TaskState.RESIZE_PREP, on_success=(_V.RESIZED,)),
        _row(Action.CONFIRM_RESIZE, frozenset({_V.RESIZED}), TaskState.RESIZE_CONFIRMING, on_success=_BY_POWER),
        _row(Action.REVERT_RESIZE, frozenset({_V.RESIZED}), TaskState.RESIZE_REVERTING, on_success=_BY_POWER),
        _row(Action.CREATE_IMAGE, _RUNNABLE, TaskState.IMAGE_SNAPSHOT),
        _row(Action.CONSOLE_OUTPUT, _RUNNABLE | {_V.RESIZED, _V.ERROR}, None),
        # Nova's lists; not suspended: the saved memory image would not match a changed set of disks.
        _row(Action.ATTACH_VOLUME, _VOLUME_STATES | _SHELVED, None),
        _row(Action.DETACH_VOLUME, _VOLUME_STATES | _SHELVED, None),
        _row(Action.EXTEND_VOLUME, _VOLUME_STATES, None),
        # Reading a disk changes nothing a suspended guest's saved memory depends on.
        _row(Action.SNAPSHOT_VOLUME, _VOLUME_STATES | {_V.SUSPENDED}, None),
        # Never fails for the user: a host that is down or never reached is not waited for (compute.control.delete).
        _row(Action.DELETE, frozenset(VmState) - {_V.DELETED}, TaskState.DELETING, on_success=(_V.DELETED,),
             during=ANY_TASK),
        # Nova's lists (compute/api.py shelve, shelve_offload, unshelve, restore, rescue, unrescue).
        _row(Action.SHELVE, _RUNNABLE, TaskState.SHELVING, on_success=(_V.SHELVED,)),
        _row(Action.SHELVE_OFFLOAD, frozenset({_V.SHELVED}), TaskState.SHELVING_OFFLOADING,
             on_success=(_V.SHELVED_OFFLOADED,)),
        # A failed unshelve leaves the server shelved and offloaded, its image kept for another try.
        _row(Action.UNSHELVE, frozenset({_V.SHELVED, _V.SHELVED_OFFLOADED}), TaskState.UNSHELVING,
             on_success=(_V.ACTIVE,)),
        _row(Action.SOFT_DELETE, _RUNNABLE | {_V.RESCUED, _V.SHELVED}, TaskState.SOFT_DELETING,
             on_success=(_V.SOFT_DELETED,)),
        _row(Action.RESTORE, frozenset({_V.SOFT_DELETED}), TaskState.RESTORING, on_success=(_V.ACTIVE,)),
        _row(Action.RESCUE, frozenset({_V.ACTIVE, _V.STOPPED, _V.ERROR}), TaskState.RESCUING,
             on_success=(_V.RESCUED,)),
        _row(Action.UNRESCUE, frozenset({_V.RESCUED}), TaskState.UNRESCUING, on_success=(_V.ACTIVE,)),
        # Nova's lists (compute/api.py resize, live_migrate, evacuate). A failed move leaves the server where it
        # was (``on_failure`` None); an evacuation that fails has no copy left to go back to.
        _row(Action.MIGRATE, frozenset({_V.ACTIVE, _V.STOPPED}), TaskState.RESIZE_PREP, on_success=(_V.RESIZED,),
             steps=(TaskState.RESIZE_MIGRATING, TaskState.RESIZE_FINISH)),
        _row(Action.LIVE_MIGRATE, frozenset({_V.ACTIVE, _V.PAUSED}), TaskState.MIGRATING),
        _row(Action.EVACUATE, frozenset({_V.ACTIVE, _V.STOPPED, _V.ERROR}), TaskState.REBUILDING,
             on_success=_BY_POWER, on_failure=_V.ERROR),
    )
}  # fmt: skip
"""Every action, keyed by name; a plain string (``"stop"``) finds its row too."""


class Clock(StrEnum):
    """An age of a task in flight, named by the settings that make it (the sweeper turns it into seconds)."""

    RESEND = "compute_resend_after"
    """A message is presumed lost."""
    RESEND_AND_ONE_SWEEP = "compute_resend_after + compute_sweep_interval"
    """The one sweep after RESEND: a remedy in this window runs once, not at every sweep."""
    TIMEOUT = "compute_task_timeout"
    """The task is given up."""


class HostCondition(StrEnum):
    ANY = "any host"
    DOWN = "host down or none"
    """The server has no host, or its host missed its heartbeats (``compute_host_down_after``)."""


class Remedy(StrEnum):
    """What the sweeper does with a stuck task (``compute.control.sweeper`` runs each)."""

    FINISH_DELETE = "finish the delete"
    """Free everything and mark the server deleted; the host destroys the guest when it comes back."""
    RESEND_DESTROY = "send the destroy again"
    RESEND_BUILD = "send the build again"
    REBIND_NETWORK = "bind the ports again"
    FAIL_BUILD = "fail the build"
    """ERROR with a fault, every resource released (a delete in flight is finished instead)."""
    ASK_WHERE_IT_RUNS = "ask the hosts where the guest runs"
    """A live migration whose reports were lost: the source stops copying, both hosts report, and the move ends
    where the guest runs (``compute.control.live_migration.settle``): never two running copies."""
    GIVE_UP = "give the action up"
    """Clear the task, keep the vm_state, record a fault; a resize's new claim is released. A cold move between
    hosts (``resize_migrating``, ``resize_finish``, a revert) goes back to its source instead, its target's copy
    and claim removed (``compute.control.cold_migration.give_up``): never a copy on each host."""


@dataclass(frozen=True)
class StuckRule:
    """Apply ``remedy`` to a task whose age is in ``(after, until]`` (None: unbounded), on a host matching
    ``host``, to a server in ``vm_state`` (None: any). The first matching rule of a task state wins."""

    remedy: Remedy
    after: Clock | None = None
    until: Clock | None = None
    host: HostCondition = HostCondition.ANY
    vm_state: VmState | None = None


# Every task in flight ends at TIMEOUT: a build in ERROR, any other action back where it was.
_GIVE_UP = (
    StuckRule(Remedy.FAIL_BUILD, after=Clock.TIMEOUT, vm_state=_V.BUILDING),
    StuckRule(Remedy.GIVE_UP, after=Clock.TIMEOUT),
)
_SPECIFIC: dict[TaskState, tuple[StuckRule, ...]] = {
    # A user's delete must not turn back into a running server because one message was lost: the host that
    # is down is not waited for, the host that is up is asked again, once (destroying is idempotent).
    TaskState.DELETING: (
        StuckRule(Remedy.FINISH_DELETE, host=HostCondition.DOWN),
        StuckRule(Remedy.RESEND_DESTROY, after=Clock.RESEND, until=Clock.RESEND_AND_ONE_SWEEP),
    ),
    TaskState.SCHEDULING: (StuckRule(Remedy.RESEND_BUILD, after=Clock.RESEND),),
    # A live migration is not given up blindly: the guest may already run on the target.
    TaskState.MIGRATING: (StuckRule(Remedy.ASK_WHERE_IT_RUNS, after=Clock.TIMEOUT),),
    # The binding or its answer was lost (a network agent that is down is handled by compute.control.handoff).
    TaskState.NETWORKING: (StuckRule(Remedy.REBIND_NETWORK, after=Clock.RESEND, until=Clock.TIMEOUT),),
}
STUCK_RULES: dict[TaskState, tuple[StuckRule, ...]] = {task: _SPECIFIC.get(task, ()) + _GIVE_UP for task in TaskState}
"""Every task state's stuck rules, in the order the sweeper tries them."""


# (vm_state, task_state) → API status; task states not listed fall back to the vm_state's status.
_TASK_STATUS = {
    TaskState.REBOOTING: "REBOOT",
    TaskState.REBOOTING_HARD: "HARD_REBOOT",
    TaskState.REBUILDING: "REBUILD",
    TaskState.RESIZE_PREP: "RESIZE",
    TaskState.RESIZE_REVERTING: "REVERT_RESIZE",
    TaskState.RESIZE_MIGRATING: "RESIZE",
    TaskState.RESIZE_FINISH: "RESIZE",
    TaskState.MIGRATING: "MIGRATING",
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
    VmState.SHELVED: "SHELVED",
    VmState.SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
    VmState.SOFT_DELETED: "SOFT_DELETED",
    VmState.RESCUED: "RESCUE",
}


def server_status(vm_state: str, task_state: str | None) -> str:
    """The ``status`` clients see, derived as Nova derives it."""
    if task_state in _TASK_STATUS and _TASK_STATUS[TaskState(task_state)]:
        return _TASK_STATUS[TaskState(task_state)]  # type: ignore[return-value]
    return _VM_STATUS.get(VmState(vm_state), "UNKNOWN")


def allowed(action: str, vm_state: str, task_state: str | None) -> bool:
    """Whether ``action`` may start now: the vm_state must be listed and the task in flight (usually none) too."""
    return TRANSITIONS[Action(action)].allows(vm_state, task_state)
