"""``make up VOLUMES=ceph`` and then ``make up HOSTS=3``: the single-node Ceph made on 127.0.0.1 moves to the address
host machines reach (``STRATUS_CEPH_ADDRESS``, the control node's underlay address), its data kept: its monitor map
is rewritten, every daemon binds the new address, ceph.conf names it, the fsid and the ports stay."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from common import ceph_files
from tests.e2e.volumes.ceph import daemons
from tests.harness import free_port

pytestmark = pytest.mark.functional

CEPH = Path(__file__).resolve().parents[2] / "deploy" / "ceph"
MOVED_TO = "127.0.0.2"
"""Another loopback address: bindable on every Linux machine, standing for the underlay address."""


def listening(pid: int) -> set[str]:
    """The addresses process ``pid`` listens on (TCP)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if f"pid={pid}," in line}


def test_a_cluster_made_on_loopback_moves_to_the_address_asked_for_with_its_data(tmp_path):
    state = tmp_path / "state"
    ports = {"STRATUS_CEPH_MON_V2_PORT": str(free_port()), "STRATUS_CEPH_MON_V1_PORT": str(free_port())}
    env = os.environ | ports | {"STRATUS_CEPH_OSD_GB": "4"}
    conf = state / "ceph" / "ceph.conf"
    admin = ["rbd", "-c", str(conf)]
    try:
        subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], check=True, env=env, timeout=600)
        subprocess.run([*admin, "create", "--size", "4M", "volumes/kept"], check=True, timeout=120)
        before = ceph_files.global_values(conf.read_text())

        moved = subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], env=env | {"STRATUS_CEPH_ADDRESS": MOVED_TO},
                               check=True, timeout=600, capture_output=True, text=True)  # fmt: skip
        assert f"moving the cluster from 127.0.0.1 to {MOVED_TO}" in moved.stdout, moved.stdout

        after = ceph_files.global_values(conf.read_text())
        assert after["fsid"] == before["fsid"] and after["public_addr"] == MOVED_TO
        v2, v1 = ports["STRATUS_CEPH_MON_V2_PORT"], ports["STRATUS_CEPH_MON_V1_PORT"]
        assert after["mon_host"] == f"[v2:{MOVED_TO}:{v2},v1:{MOVED_TO}:{v1}]"
        running = daemons(state)
        bound = {pid: listening(pid) for pid in running}
        assert len(running) == 3 and set().union(*bound.values()) == {MOVED_TO}, bound
        listed = subprocess.run([*admin, "ls", "volumes"], check=True, capture_output=True, text=True, timeout=120)
        assert listed.stdout.split() == ["kept"], "the data stayed"

        again = subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], env=env | {"STRATUS_CEPH_ADDRESS": MOVED_TO},
                               check=True, timeout=600, capture_output=True, text=True)  # fmt: skip
        assert "moving" not in again.stdout and "running:" in again.stdout, "already there: only checked"
    finally:
        subprocess.run(["bash", str(CEPH / "down.sh"), str(state)], check=False, timeout=120)
        assert not daemons(state), "Ceph daemons outlived down.sh"
