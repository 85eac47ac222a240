"""How ``make test`` shares the suite among pytest-xdist workers (``-n N --dist loadfile``).

Each worker is a pytest session of its own: session fixtures (the functional clouds, Redis, PostgreSQL, the
portal's cloud and browser, the tiny image) start once in each worker that needs them, on free ports and in private
directories, and the end-to-end tests put a per-process random tag in every name they give the kernel or libvirt,
so workers do not collide. A worker runs one *work unit* at a time, as ``loadfile`` does, but some units are wider
than a file:

- ``guests``: the end-to-end tests that boot QEMU guests (``tests/e2e/`` but ``tests/e2e/network/``), one after
  the other on one worker. Two of them restart the machine's libvirtd under the others, and TCG guests on both
  cores at once would slow each other's boots towards their timeouts.
- ``portal``: the browser tests, which share one cloud, one Chromium and ``test-artefacts/portal/`` (emptied at the
  start of the session that uses it).
- ``postgresql``: the functional tests on the PostgreSQL cloud, so that one worker starts it, once.
- any other test file is a unit of its own, so its module-scoped fixtures (a module's own cloud) start once.

Units are handed out longest first: the three above, then the files in collection order (the dataplane's, the
functional ones, then the quick unit tests that fill the last gaps). The units are read from node ids alone: the
scheduler runs in the controlling process, which collects nothing. (Not ``--dist loadgroup`` with ``xdist_group``
marks: pytest 9.2's structured node ids drop the group xdist appends, pytest-dev/pytest-xdist#1386.)
"""

from __future__ import annotations

from typing import Any

import pytest

FIRST = ("guests", "portal", "postgresql")
"""The named work units, longest first."""


def work_unit(nodeid: str) -> str:
    """The unit a test belongs to: one of ``FIRST``, or else its file."""
    path, _, name = nodeid.partition("::")
    if path.startswith("tests/e2e/") and not path.startswith("tests/e2e/network/"):
        return "guests"
    if path.startswith("tests/portal/"):
        return "portal"
    params = name[name.find("[") + 1 : -1].split("-") if name.endswith("]") else []
    if path.startswith("tests/functional/") and "postgresql" in params:
        return "postgresql"
    return path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the units of ``work_unit``, the named ones first, the others in collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WorkUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            position = {nodeid: index for index, nodeid in enumerate(self.collection or ())}

            def order(unit: str) -> tuple[int, int]:
                rank = FIRST.index(unit) if unit in FIRST else len(FIRST)
                return rank, min(position[nodeid] for nodeid in self.workqueue[unit])

            self.workqueue.move_to_end(min(self.workqueue, key=order), last=False)
            super()._assign_work_unit(node)

    return WorkUnitScheduling(config, log)
