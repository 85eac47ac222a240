"""How ``make test`` shares the suite among pytest-xdist workers (``-n N --dist loadfile``).

Each worker is a pytest session of its own: session fixtures (the functional clouds, Redis, PostgreSQL, the
portal's cloud and browser, the tiny image) start once in each worker that needs them, on free ports and in private
directories, and the end-to-end tests put a per-process random tag in every name they give the kernel or libvirt,
so workers do not collide. A worker runs one *work unit* at a time, as ``loadfile`` does, but some units are wider
than a file:

- each guest-booting end-to-end module (``tests/e2e/`` but ``tests/e2e/network/``) is a unit, and a package of
  them that shares one world (``SHARED_WORLDS``) is one unit. Two workers may boot guests at once;
  the two tests that restart the machine's libvirtd wait until no other guest module runs
  (``tests/e2e/conftest.py``, ``libvirtd_gate``).
- ``portal``: the browser tests, which share one cloud, one Chromium and ``test-artefacts/portal/`` (emptied at the
  start of the session that uses it).
- ``postgresql``: the functional tests on the PostgreSQL cloud, so that one worker starts it, once.
- any other test file is a unit of its own, so its module-scoped fixtures (a module's own cloud) start once.

Units are handed out longest first: the guest units (the cloud-init one last: its image is built in the
background from the start of the session, see ``pytest_sessionstart``), the portal's, the PostgreSQL one, then the
files in collection order (the dataplane's, the functional ones, then the quick unit tests that fill the last
gaps). The units are read from node ids alone: the scheduler runs in the controlling process, which collects
nothing. (Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest 9.2's structured node ids drop the group
xdist appends, pytest-dev/pytest-xdist#1386.)
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

FIRST = ("portal", "postgresql")
"""The named work units, longest first (after the guest units)."""
SHARED_WORLDS = ("tests/e2e/tenant_networks/",)
"""Guest packages whose modules share one world (a package-scoped fixture): one unit each."""
CLOUD_INIT = "tests/e2e/test_cloud_init.py"
"""The guest unit handed out last: its image builds in the background meanwhile."""


def is_guest_unit(unit: str) -> bool:
    return unit.startswith("tests/e2e/") and not unit.startswith("tests/e2e/network/")


def work_unit(nodeid: str) -> str:
    """The unit a test belongs to: a guest module (or package) of ``tests/e2e/``, one of ``FIRST``, or its file."""
    path, _, name = nodeid.partition("::")
    if is_guest_unit(path):
        return next((world for world in SHARED_WORLDS if path.startswith(world)), path)
    if path.startswith("tests/portal/"):
        return "portal"
    params = name[name.find("[") + 1 : -1].split("-") if name.endswith("]") else []
    if path.startswith("tests/functional/") and "postgresql" in params:
        return "postgresql"
    return path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the units of ``work_unit``: the guest units first, then the named ones, the others
    in collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WorkUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            position = {nodeid: index for index, nodeid in enumerate(self.collection or ())}

            def order(unit: str) -> tuple[int, int]:
                if is_guest_unit(unit):
                    rank = 1 if unit == CLOUD_INIT else 0
                else:
                    rank = 2 + (FIRST.index(unit) if unit in FIRST else len(FIRST))
                return rank, min(position[nodeid] for nodeid in self.workqueue[unit])

            self.workqueue.move_to_end(min(self.workqueue, key=order), last=False)
            super()._assign_work_unit(node)

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
