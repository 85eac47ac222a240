"""How ``make test`` shares the suite among pytest-xdist workers (``-n N --dist loadfile``).

Each worker is a pytest session of its own: session fixtures (the functional clouds, Redis, PostgreSQL, the
portal's cloud and browser, the tiny image) start once in each worker that needs them, on free ports and in private
directories, and the end-to-end tests put a per-process random tag in every name they give the kernel or libvirt,
so workers do not collide. A worker runs one *work unit* at a time, as ``loadfile`` does, but some units are wider
than a file:

- ``guests``: the end-to-end tests that boot QEMU guests (``tests/e2e/`` but ``tests/e2e/network/``), one after
  the other on one worker: TCG guests are CPU-bound, and two workers booting them at once took longer in all than
  one (a measured run: 2,373 s of guest tests against about 1,500 s one after the other), and slowed boots towards
  their timeouts. The cloud-init module runs last in it: its image builds in the background from the session's
  start (``pytest_sessionstart``).
- ``late-guests``: a few short guest modules (``LATE_GUESTS``) handed out last, so the worker that has run
  everything else boots them beside the end of ``guests`` instead of idling. The two tests in ``guests`` that
  restart the machine's libvirtd wait until no guest module of another worker runs (``libvirtd_gate``).
- ``portal``: the browser tests, which share one cloud, one Chromium and ``test-artefacts/portal/`` (emptied at the
  start of the session that uses it).
- ``postgresql``: the functional tests on the PostgreSQL cloud, so that one worker starts it, once.
- any other test file is a unit of its own, so its module-scoped fixtures (a module's own cloud) start once.

Units are handed out longest first: ``guests``, ``portal``, ``postgresql``, then the files in collection order (the
dataplane's, the functional ones, then the quick unit tests), and ``late-guests`` at the end. The units are read
from node ids alone: the scheduler runs in the controlling process, which collects nothing. (Not ``--dist
loadgroup`` with ``xdist_group`` marks: pytest 9.2's structured node ids drop the group xdist appends,
pytest-dev/pytest-xdist#1386.)
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

FIRST = ("guests", "portal", "postgresql")
"""The named work units handed out first, longest first."""
LAST = "late-guests"
LATE_GUESTS = (
    "tests/e2e/test_consoles.py",
    "tests/e2e/test_metadata.py",
    "tests/e2e/test_tiny_image.py",
    "tests/e2e/test_host_retirement.py",
)
"""Short guest modules the second worker runs once it has run everything else."""
CLOUD_INIT = "tests/e2e/test_cloud_init.py"
"""The last module of ``guests``: its image builds in the background meanwhile."""


def is_guest_test(path: str) -> bool:
    return path.startswith("tests/e2e/") and not path.startswith("tests/e2e/network/")


def work_unit(nodeid: str) -> str:
    """The unit a test belongs to: one of ``FIRST`` or ``LAST``, or else its file."""
    path, _, name = nodeid.partition("::")
    if is_guest_test(path):
        return LAST if path in LATE_GUESTS else "guests"
    if path.startswith("tests/portal/"):
        return "portal"
    params = name[name.find("[") + 1 : -1].split("-") if name.endswith("]") else []
    if path.startswith("tests/functional/") and "postgresql" in params:
        return "postgresql"
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The cloud-init module after every other test, so last in ``guests`` (the same order in every worker)."""
    last = [item for item in items if item.nodeid.startswith(CLOUD_INIT)]
    if last:
        items[:] = [item for item in items if not item.nodeid.startswith(CLOUD_INIT)] + last


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the units of ``work_unit``: the named ones first, the others in collection order,
    ``late-guests`` last."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WorkUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            position = {nodeid: index for index, nodeid in enumerate(self.collection or ())}

            def order(unit: str) -> tuple[int, int]:
                rank = FIRST.index(unit) if unit in FIRST else len(FIRST) + (unit == LAST)
                return rank, min(position[nodeid] for nodeid in self.workqueue[unit])

            self.workqueue.move_to_end(min(self.workqueue, key=order), last=False)
            super()._assign_work_unit(node)

        def remove_node(self, node: Any) -> str | None:
            """A worker that crashed (a C library's abort, say) leaves its unit's tests after the one it crashed
            in to the other workers; the crashed test is reported failed and not run again. (xdist's own puts back
            every unit the worker ever ran, the crashed test included, so the test crashes its replacement in
            turn, and units with nothing left to run are handed out, answered by no report, and the session
            waits for them for ever.)"""
            workload = self.assigned_work.pop(node)
            left = [(unit, [nodeid for nodeid, done in tests.items() if not done]) for unit, tests in workload.items()]
            left = [(unit, nodeids) for unit, nodeids in left if nodeids]
            if not left:
                return None
            crashed = left[0][1][0]
            for unit, nodeids in left:
                rest = {nodeid: False for nodeid in nodeids if nodeid != crashed}
                if rest:
                    self.workqueue[unit] = rest
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

    return WorkUnitScheduling(config, log)


# ---------------------------------------------------------------------------------------------------------------
# The cloud-init image (tests/e2e/test_cloud_init.py) takes minutes to build, mostly fetching and unpacking Debian
# packages: the controlling process starts its build when the session begins, so it runs beside the other tests,
# and the module's fixture then finds it built (both hold the same lock; the build script is a no-op when its
# cached image is up to date).

REPO = Path(__file__).resolve().parents[1]
BUILD_CLOUD = REPO / "deploy" / "images" / "cloud" / "build-cloud.sh"
CLOUD_IMAGE = REPO / ".stratus" / "build" / "cloud.qcow2"
CLOUD_IMAGE_LOCK = REPO / ".stratus" / "build" / "cloud.lock"
_background: list[subprocess.Popen[bytes]] = []


def build_cloud_image_command() -> list[str]:
    return ["flock", str(CLOUD_IMAGE_LOCK), "bash", str(BUILD_CLOUD), str(CLOUD_IMAGE)]


def _runs_cloud_init(config: pytest.Config) -> bool:
    """True when the session's arguments include the cloud-init module (``tests``, ``tests/e2e``, the file)."""
    wanted = (REPO / CLOUD_INIT).resolve()
    for arg in config.args or [str(REPO / "tests")]:
        path = Path(arg.partition("::")[0])
        path = (path if path.is_absolute() else Path(config.invocation_params.dir) / path).resolve()
        if wanted == path or path in wanted.parents:
            return True
    return False


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not _runs_cloud_init(config) or config.getoption("collectonly"):
        return
    if "not e2e" in (config.getoption("markexpr") or ""):
        return
    CLOUD_IMAGE_LOCK.parent.mkdir(parents=True, exist_ok=True)
    log = open(CLOUD_IMAGE.with_suffix(".build.log"), "wb")  # noqa: SIM115 - the child keeps it
    _background.append(
        subprocess.Popen(build_cloud_image_command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    )
    log.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A build still running when the session ends early is stopped (its script removes its work)."""
    for build in _background:
        if build.poll() is None:
            os.killpg(build.pid, signal.SIGTERM)
            build.wait(timeout=60)
