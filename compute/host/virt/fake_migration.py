"""The fake driver's live migration: the fake hosts one agent process serves hand guests to each other.

Why in the product: the control side's live-migration workflow (target claim, port binding on both hosts, the
source's progress, abort, force-complete, rollback, the switch) is proved by functional tests with the fake driver,
as builds are. The hosts find each other through this module's registry (every ``FakeDriver`` registers at
``init_host``), so the "copy" of a guest is the move of its record from one driver to the other, in ``STEPS``
steps with a progress report each, then a switch with a simulated downtime.

Failures are injected by the server's name (as a fake host fails its spawns by its name in
``compute_fake_failing_hosts``), so one test can fail one step of one server without touching the cloud's settings:

- ``lm-fail-pre``: the target's ``pre_live_migration`` fails;
- ``lm-fail-mid``: the stream breaks half-way (``live_migration`` fails, the guest still runs on the source);
- ``lm-fail-post``: the source's ``post_live_migration_at_source`` fails (the guest already runs on the target);
- ``lm-fail-rollback``: the target's ``rollback_live_migration_at_destination`` fails;
- ``lm-slow``: each step takes ``SLOW_STEP`` seconds (``STEPS`` of them), time to abort or force the completion;
- ``lm-hang``: the copy never converges by itself (only an abort or a force-complete ends it): a move stuck for the
  sweeper to settle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compute.host.virt.base import (
    DriverError,
    InstanceSpec,
    MigrationAborted,
    MigrationStats,
    MigrationTarget,
    PowerState,
)

STEPS = 8
"""Progress reports of one migration."""
STEP = 0.05
"""Seconds one step takes."""
SLOW_STEP = 1.5
"""Seconds one step takes for a server named ``lm-slow``: 12 s in all, unless aborted or forced."""
HANG_STEP = 3600.0
"""Seconds one step takes for a server named ``lm-hang``."""
DOWNTIME_MS = 23
"""The simulated pause at the switch (a forced completion pauses the guest longer: ``FORCED_DOWNTIME_MS``)."""
FORCED_DOWNTIME_MS = 180
MARKERS = {
    "pre_live_migration": "lm-fail-pre",
    "live_migration": "lm-fail-mid",
    "post_live_migration_at_source": "lm-fail-post",
    "rollback_live_migration_at_destination": "lm-fail-rollback",
}

_REGISTRY: dict[str, Any] = {}
_REGISTRY_LOCK = threading.Lock()


def register(driver: Any) -> None:
    """Make a fake host reachable by its name (``init_host``)."""
    with _REGISTRY_LOCK:
        _REGISTRY[driver.host] = driver


def _reachable(host: str) -> Any:
    with _REGISTRY_LOCK:
        driver = _REGISTRY.get(host)
    if driver is None:
        raise DriverError(reason=f"the target host {host} cannot be reached from here (not a fake host of this agent)")
    return driver


def _inject(call: str, name: str) -> None:
    if MARKERS[call] in name:
        raise DriverError(reason=f"{call} failed (injected failure: the server's name holds {MARKERS[call]!r})")


@dataclass
class _Job:
    abort: threading.Event = field(default_factory=threading.Event)
    force: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    """Set with either: a step's wait ends at once."""


class FakeLiveMigration:
    """The live-migration calls of ``FakeDriver`` (mixed into it; it holds the guest records used here)."""

    host: str
    _lock: threading.Lock
    _instances: dict[str, PowerState]
    _names: dict[str, str]

    def _migration_init(self) -> None:
        self._lm_incoming: dict[str, InstanceSpec] = {}
        self._lm_jobs: dict[str, _Job] = {}
        self._lm_leftovers: dict[str, str] = {}  # uuid -> name: what a migration left on the source

    # --- target side ------------------------------------------------------------------------------------------

    def pre_live_migration(self, spec: InstanceSpec, block_migration: bool) -> None:
        _inject("pre_live_migration", spec.name)
        with self._lock:
            self._lm_incoming[spec.uuid] = spec

    def rollback_live_migration_at_destination(self, uuid: str) -> None:
        with self._lock:
            spec = self._lm_incoming.pop(uuid, None)
            name = spec.name if spec is not None else self._names.get(uuid, "")
        _inject("rollback_live_migration_at_destination", name)

    def incoming(self, uuid: str) -> bool:
        """Test hook: whether a migration of ``uuid`` to this host is prepared."""
        with self._lock:
            return uuid in self._lm_incoming

    # --- source side ------------------------------------------------------------------------------------------

    def live_migration(
        self,
        uuid: str,
        target: MigrationTarget,
        block_migration: bool,
        progress: Callable[[MigrationStats], None],
    ) -> MigrationStats:
        destination = _reachable(target.host)
        if destination is self:
            raise DriverError(reason=f"{uuid} cannot migrate to the host it runs on")
        with self._lock:
            if self._instances.get(uuid) not in (PowerState.RUNNING, PowerState.PAUSED):
                raise DriverError(reason=f"instance {uuid} does not run here")
            name = self._names.get(uuid, "")
            memory = getattr(self, "_flavors", {}).get(uuid, (1, 512, 1))[1] << 20
            job = self._lm_jobs.setdefault(uuid, _Job())
        try:
            with destination._lock:
                if uuid not in destination._lm_incoming:
                    raise DriverError(reason=f"the target {target.host} was not prepared for {uuid}")
            return self._copy(uuid, name, memory, job, destination, progress)
        finally:
            with self._lock:
                self._lm_jobs.pop(uuid, None)

    def _copy(
        self,
        uuid: str,
        name: str,
        memory: int,
        job: _Job,
        destination: Any,
        progress: Callable[[MigrationStats], None],
    ) -> MigrationStats:
        step = HANG_STEP if "lm-hang" in name else SLOW_STEP if "lm-slow" in name else STEP
        started = time.monotonic()
        for index in range(1, STEPS + 1):
            job.wake.wait(step)
            if job.abort.is_set():
                raise MigrationAborted(uuid=uuid)
            if job.force.is_set():
                break
            if index == STEPS // 2:
                _inject("live_migration", name)
            done = memory * index // STEPS
            elapsed = int((time.monotonic() - started) * 1000)
            progress(MigrationStats(memory, done, memory - done, elapsed_ms=elapsed))
        if job.abort.is_set():
            raise MigrationAborted(uuid=uuid)
        downtime = FORCED_DOWNTIME_MS if job.force.is_set() else DOWNTIME_MS
        self._switch(uuid, destination)
        elapsed = int((time.monotonic() - started) * 1000)
        return MigrationStats(memory, memory, 0, elapsed_ms=elapsed, downtime_ms=downtime)

    def _switch(self, uuid: str, destination: Any) -> None:
        """The guest resumes on the target: its record moves there (locks taken in name order: never a deadlock
        between two migrations crossing)."""
        first, second = sorted((self, destination), key=lambda driver: driver.host)
        with first._lock, second._lock:
            for attribute in ("_instances", "_flavors", "_volumes", "_nics", "_names", "_consoles"):
                records = getattr(self, attribute)
                if uuid in records:
                    getattr(destination, attribute)[uuid] = records.pop(uuid)
            destination._lm_incoming.pop(uuid, None)
            destination._consoles.setdefault(uuid, []).append(f"fake live migration from {self.host} (no reboot)")
            self._lm_leftovers[uuid] = destination._names.get(uuid, "")
        self._close_consoles(uuid)  # type: ignore[attr-defined]

    def live_migration_abort(self, uuid: str) -> None:
        with self._lock:
            job = self._lm_jobs.get(uuid)
        if job is not None:
            job.abort.set()
            job.wake.set()

    def live_migration_force_complete(self, uuid: str) -> None:
        with self._lock:
            job = self._lm_jobs.get(uuid)
        if job is not None:
            job.force.set()
            job.wake.set()

    def migrating(self, uuid: str) -> bool:
        """Whether a migration of ``uuid`` runs from here now."""
        with self._lock:
            return uuid in self._lm_jobs

    def post_live_migration_at_source(self, uuid: str) -> None:
        with self._lock:
            name = self._lm_leftovers.get(uuid, "")
        _inject("post_live_migration_at_source", name)
        with self._lock:
            self._lm_leftovers.pop(uuid, None)

    def leftovers(self) -> list[str]:
        """Test hook: the guests a migration left here that ``post_live_migration_at_source`` has not removed."""
        with self._lock:
            return sorted(self._lm_leftovers)
