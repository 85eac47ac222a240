"""The single-node Ceph of ``deploy/ceph/`` under a test cloud's state directory, as ``make up VOLUMES=ceph`` runs
it (``<state_dir>/ceph``, where the cloud's settings look by default), on free monitor ports so it runs beside a
developer's cluster; stopped at the end with no daemon of it left. Also the cluster seen from outside, with its
admin key (``rbd``), which no cloud process has.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness import free_port

REPO = Path(__file__).resolve().parents[3]
CEPH = REPO / "deploy" / "ceph"
OSD_GB = 8
"""The OSD's sparse file: a few volumes of a few GiB, thin."""


def conf(state: Path) -> Path:
    return state / "ceph" / "ceph.conf"


def daemons(state: Path) -> list[int]:
    """Live (not zombie) processes whose command line names this cluster's ceph.conf."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if f"-c {conf(state)} " in cmdline and "\nState:\tZ" not in status:
            found.append(int(entry.name))
    return found


@contextmanager
def running_ceph(state: Path, address: str = "127.0.0.1") -> Iterator[Path]:
    """``up.sh`` (installing Debian's Ceph packages first when missing), its daemons bound to ``address``, then the
    cluster's ceph.conf; ``down.sh`` on exit, which must leave no daemon of it running."""
    env = dict(os.environ, STRATUS_CEPH_OSD_GB=str(OSD_GB), STRATUS_CEPH_ADDRESS=address)
    env |= {"STRATUS_CEPH_MON_V2_PORT": str(free_port()), "STRATUS_CEPH_MON_V1_PORT": str(free_port())}
    try:
        subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], check=True, env=env, timeout=600)
        yield conf(state)
    finally:
        subprocess.run(["bash", str(CEPH / "down.sh"), str(state)], check=False, timeout=120)
        left = daemons(state)
        assert not left, f"Ceph daemons {left} outlived down.sh"


def rbd(state: Path, *args: str) -> Any:
    """``rbd --format json`` as the cluster's admin."""
    command = ["rbd", "-c", str(conf(state)), "--format", "json", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"rbd {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)
