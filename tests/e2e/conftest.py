"""Fixtures shared by the end-to-end tests: real QEMU guests, real kernel networking."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.libvirtd_gate import LibvirtdGate

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------------------------
# Guest image: the tiny image from deploy/images/, built once per session into the session's temporary directory
# (a few seconds; `make up` keeps its own cached copy in .stratus/images/).

BUILD_TINY = REPO / "deploy" / "images" / "build-tiny.sh"


@pytest.fixture(scope="session")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a freshly built tiny guest qcow2 (``deploy/images/build-tiny.sh``); treat it as read-only."""
    image = tmp_path_factory.mktemp("tiny-image") / "tiny.qcow2"
    result = subprocess.run(
        ["bash", str(BUILD_TINY), str(image)], capture_output=True, text=True, timeout=180, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"build-tiny.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return image


# ---------------------------------------------------------------------------------------------------------------
# libvirt: libvirtd and virtlogd running (started by deploy/start-system-services.sh, which leaves running daemons
# alone), so tests that use qemu:///system don't depend on what ran before them.

START_SYSTEM_SERVICES = REPO / "deploy" / "start-system-services.sh"


@pytest.fixture(scope="session")
def libvirtd() -> str:
    """The libvirt URI of the host's libvirtd (qemu:///system), after making sure libvirtd and virtlogd run."""
    result = subprocess.run(
        ["bash", str(START_SYSTEM_SERVICES)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"start-system-services.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return "qemu:///system"


# ---------------------------------------------------------------------------------------------------------------
# The machine's libvirtd is shared by the guest modules that run at once on several workers (tests/conftest.py);
# two tests restart it. A readers-writer lock on files every worker of the session opens: each guest module holds
# it shared from its first fixture to its end, and a restart holds it alone. A turnstile keeps new modules from
# starting while a restart waits, so the restart waits for the modules already running and no longer.


@pytest.fixture(scope="session")
def libvirtd_gate(testrun_uid: str) -> Iterator[LibvirtdGate]:
    gate = LibvirtdGate(Path(tempfile.gettempdir()) / f"stratus-tests-{testrun_uid}")
    try:
        yield gate
    finally:
        gate.close()


@pytest.fixture(scope="module", autouse=True)
def _guest_module_shares_libvirtd(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every guest-booting module (not tests/e2e/network/) holds the gate shared while it runs."""
    if "tests/e2e/network/" in request.node.path.as_posix():
        yield
        return
    gate: LibvirtdGate = request.getfixturevalue("libvirtd_gate")
    gate.enter()
    try:
        yield
    finally:
        gate.leave()
