"""Moving servers between host machines through the whole cloud: live migrations, a drain, an HA restart.

Why: the driver-level figures of ``bench/migration.py`` say what libvirt costs; an operator waits for the whole
path (API, scheduler claim, the target's wiring and preparation, the copy, the switch of the ports, the clean-up),
and for a failed host the heartbeat, the grace period, the fencing and the rebuild elsewhere.

A private cloud of three host machines (``host_machines``: own namespaces and libvirtd each, agents inside) with the
settings an operator gets by default (heartbeat every 3 s, a host down after 15 s, HA grace 30 s) but
``cpu_allocation_ratio = 8`` (a host machine has the machine's 2 cores: 16 one-vCPU guests fit), ``--guests`` (10) tiny
TCG guests (no network: their boot is not what is measured) on the first host. It prints:

- live migration of one guest back and forth (``--rounds``): seconds from the request to ACTIVE on the target, and
  the copy and downtime libvirt measured (the migration's event); block migration, the root overlay copied;
- the same with shared storage: a guest whose root disk is a clone in the single-node Ceph of ``deploy/ceph/``
  (bound to the control node's underlay address, as ``make up VOLUMES=ceph HOSTS=3`` runs it), no disk copied
  (``--no-ceph`` leaves it out);
- ``stratus host drain`` of the first host: seconds until it is empty;
- the first HA server's return: seconds from the host's power cut (its machine's processes killed) to every HA
  server ACTIVE on another host. Goal: under 60 s (PASS/MISS).

Run as root: ``python bench/hosts.py``. Exit status 0 unless the cloud or a move failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/hosts.py`

from common.settings import load  # noqa: E402
from manage import host_machine  # noqa: E402
from manage.clouds import write_clouds_yaml  # noqa: E402
from manage.private_cloud import VENV_BIN, cloud_environment, free_port, running_cloud  # noqa: E402

HA_GOAL = 60.0
NAME = "bh"
HOSTS = tuple(f"{NAME}-{i}" for i in (1, 2, 3))
FIGURES = re.compile(r"copied in (\d+) ms, downtime (\d+) ms")


class Bench:
    def __init__(self, state: Path, clouds_yaml: Path) -> None:
        self.state, self.clouds_yaml = state, clouds_yaml

    def openstack(self, *args: str, timeout: float = 300) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env |= {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "OS_CLOUD": "admin"}
        done = subprocess.run([str(VENV_BIN / "openstack"), *args], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"openstack {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> object:
        return json.loads(self.openstack(*args, "-f", "json"))

    def server(self, server_id: str) -> dict:
        return self.json("server", "show", server_id)  # type: ignore[return-value]

    def until(self, what: str, check, timeout: float = 600, interval: float = 0.5) -> float:  # type: ignore[no-untyped-def]
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{what}: not within {timeout:.0f} s")
            time.sleep(interval)
        return time.monotonic() - started

    def settled_on(self, server_id: str, hosts: tuple[str, ...]) -> bool:
        server = self.server(server_id)
        return (
            server["status"] == "ACTIVE"
            and not server["OS-EXT-STS:task_state"]
            and server["OS-EXT-SRV-ATTR:host"] in hosts
        )


def live_rounds(bench: Bench, server_id: str, rounds: int, between: tuple[str, str]) -> list[tuple[float, int, int]]:
    """(seconds to ACTIVE on the target, copy ms, downtime ms) of each live migration, back and forth between the
    server's host ``between[0]`` and ``between[1]``."""
    results = []
    for turn in range(rounds):
        target = between[1] if turn % 2 == 0 else between[0]
        started = time.monotonic()
        bench.openstack("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration", "--host", target,
                        server_id)  # fmt: skip
        bench.until(f"live migration to {target}", lambda t=target: bench.settled_on(server_id, (t,)))
        seconds = time.monotonic() - started
        events = bench.json("server", "event", "list", server_id)
        request = next(e["Request ID"] for e in events if e["Action"] == "live-migration")
        shown = bench.json("server", "event", "show", server_id, request)
        text = " ".join(str(e.get("traceback")) for e in shown["events"])  # type: ignore[index]
        found = FIGURES.search(text)
        results.append((seconds, int(found[1]) if found else -1, int(found[2]) if found else -1))
    return results


def report_rounds(kind: str, rounds: list[tuple[float, int, int]]) -> None:
    for seconds, copy, downtime in rounds:
        print(f"live migration ({kind}): {seconds:.1f} s to ACTIVE on the target; copy {copy} ms, downtime "
              f"{downtime} ms")  # fmt: skip
    print(f"live migration ({kind}): median {statistics.median(r[0] for r in rounds):.1f} s, downtime median "
          f"{statistics.median(r[2] for r in rounds):.0f} ms ({len(rounds)} moves)")  # fmt: skip


@contextmanager
def single_node_ceph(state: Path, env: dict[str, str]) -> Iterator[None]:
    """``deploy/ceph/up.sh`` for the cloud's state directory, bound to the control node's underlay address (made
    first, as ``make up`` does), on free monitor ports; ``down.sh`` on exit."""
    settings = load(environ=cloud_environment(state, env))
    host_machine.ensure_control_address(settings)
    ceph_env = os.environ | {
        "STRATUS_CEPH_ADDRESS": host_machine.control_address(settings),
        "STRATUS_CEPH_MON_V2_PORT": str(free_port()),
        "STRATUS_CEPH_MON_V1_PORT": str(free_port()),
        "STRATUS_CEPH_OSD_GB": "8",
    }
    try:
        subprocess.run(["bash", str(ROOT / "deploy/ceph/up.sh"), str(state)], env=ceph_env, check=True, timeout=600)
        yield
    finally:
        subprocess.run(["bash", str(ROOT / "deploy/ceph/down.sh"), str(state)], check=False, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # A host machine offers the machine's cores times cpu_allocation_ratio (2 x 8 here): 16 one-vCPU guests at most.
    parser.add_argument("--guests", type=int, default=10, help="tiny guests on the drained host (at most 16)")
    parser.add_argument("--rounds", type=int, default=4, help="live migrations of one guest, back and forth")
    parser.add_argument("--ha", type=int, default=3, help="servers marked HA on the host that loses power")
    parser.add_argument("--no-ceph", action="store_true", help="no live migration with shared storage (Ceph)")
    args = parser.parse_args()
    tiny = ROOT / ".stratus" / "build" / "tiny.qcow2"
    if not tiny.exists():
        subprocess.run(["bash", str(ROOT / "deploy/images/build-tiny.sh"), str(tiny)], check=True, capture_output=True)
    state = Path(tempfile.mkdtemp(prefix="stratus-bench-hosts-", dir="/var/tmp"))
    state.chmod(0o711)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_HOSTS": "3",
        "STRATUS_HOST": NAME,
        "STRATUS_HOST_MACHINES": "true",
        "STRATUS_NETWORK_DATAPLANE": "linux",
        "STRATUS_NETWORK_UNDERLAY_BRIDGE": "ul-bh",
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": "10.235.0.0/24",
        "STRATUS_COMPUTE_REPORT_INTERVAL": "10",
        "STRATUS_HOST_HEARTBEAT_INTERVAL": "3",
        "STRATUS_COMPUTE_HOST_DOWN_AFTER": "15",
        "STRATUS_CPU_ALLOCATION_RATIO": "8",
    }
    if not args.no_ceph:
        env |= {
            "STRATUS_IMAGE_STORE": "rbd",
            "STRATUS_IMAGES_TYPE": "rbd",
            "STRATUS_CEPH_SECRET_UUID": str(uuid.uuid4()),
        }
    try:
        with ExitStack() as stack:
            if not args.no_ceph:
                stack.enter_context(single_node_ceph(state, env))
            cloud = stack.enter_context(running_cloud(state, env))
            cloud.bootstrap("bench-admin", "bench-demo")
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", {"admin": ("admin", "bench-admin")})
            bench = Bench(state, clouds_yaml)
            bench.openstack("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare",
                            "--file", str(tiny), "tiny")  # fmt: skip
            bench.until("three hosts", lambda: len(bench.json("hypervisor", "list")) == 3, timeout=120)  # type: ignore[arg-type]
            # the guests and the shared one: more than a project's default ten instances
            bench.openstack("quota", "set", "--instances", "50", "--cores", "100", "--ram", "204800", "admin")
            ids = [
                bench.json("server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--nic", "none",
                           "--availability-zone", f"nova:{HOSTS[0]}", f"bench-{i}")["id"]  # type: ignore[index]
                for i in range(args.guests)
            ]  # fmt: skip
            shared = None
            if not args.no_ceph:
                raw = state / "tiny.raw"
                subprocess.run(["qemu-img", "convert", "-O", "raw", str(tiny), str(raw)], check=True)
                bench.openstack("image", "create", "--public", "--disk-format", "raw", "--container-format", "bare",
                                "--file", str(raw), "tiny-raw")  # fmt: skip
                shared = bench.json(
                    "server",
                    "create",
                    "--image",
                    "tiny-raw",
                    "--flavor",
                    "m1.tiny",
                    "--nic",
                    "none",
                    "--availability-zone",
                    f"nova:{HOSTS[2]}",
                    "bench-shared",
                )["id"]  # type: ignore[index]
            bench.until("guests ACTIVE", lambda: all(bench.settled_on(i, (HOSTS[0],)) for i in ids), timeout=900)
            if shared is not None:
                bench.until("the shared guest ACTIVE", lambda: bench.settled_on(shared, (HOSTS[2],)), timeout=900)
            time.sleep(30)  # their kernels past the boot, as a running guest's memory is

            rounds = live_rounds(bench, ids[0], args.rounds, HOSTS[:2])
            report_rounds("block, the root overlay copied", rounds)
            if shared is not None:
                report_rounds("shared storage, a root in Ceph", live_rounds(bench, shared, args.rounds, HOSTS[2:0:-1]))

            env_cli = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
            env_cli |= {"OS_CLIENT_CONFIG_FILE": str(clouds_yaml), "OS_CLOUD": "admin"}
            started = time.monotonic()
            drain = [str(VENV_BIN / "stratus"), "host", "drain", HOSTS[0], "--format", "json"]
            drained = subprocess.run(drain, env=env_cli, capture_output=True, text=True, timeout=1800, check=False)
            drain_seconds = time.monotonic() - started
            report = json.loads(drained.stdout or "[]")
            moved = sum(1 for r in report if r.get("result") == "moved")
            print(f"drain of {HOSTS[0]} with {len(report)} tiny guests: {drain_seconds:.1f} s to empty "
                  f"({moved} moved, exit {drained.returncode})")  # fmt: skip

            victim = HOSTS[1]
            on_victim = [i for i in ids if bench.server(i)["OS-EXT-SRV-ATTR:host"] == victim][: args.ha]
            for server_id in on_victim:
                bench.openstack("server", "set", "--property", "HA_Enabled=True", server_id)
            host_machine.kill_processes(host_machine.recorded(state / "hosts" / victim / "machine"))
            others = tuple(h for h in HOSTS if h != victim)
            back = bench.until("HA servers back", lambda: all(bench.settled_on(i, others) for i in on_victim),
                               timeout=300, interval=1)  # fmt: skip
            verdict = "PASS" if back < HA_GOAL else "MISS"
            print(f"HA: {len(on_victim)} servers ACTIVE on other hosts {back:.0f} s after their host lost power "
                  f"(heartbeat 3 s, down after 15 s, grace 30 s; goal < {HA_GOAL:.0f} s): {verdict}")  # fmt: skip
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
