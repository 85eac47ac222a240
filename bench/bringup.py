"""What one bring-up of a whole cloud costs: ``stratus-manage services up`` and ``services down`` of a private cloud
(the launcher ``make up`` runs, with the test suite's defaults: the fake virt driver and dataplane), wall time and
CPU seconds, and the CPU its services burn at rest.

Why: the test suite brings up dozens of clouds and each takes CPU from the others on a two-core machine; a
developer's ``make up`` and an operator's restart wait for it too. The CPU is counted where it is spent: the
launcher and the children it waits for (``db-sync``, ``fernet-setup``) from the kernel's accounting of reaped
children, and each service with its children (gunicorn's and Celery's workers) from ``/proc`` while they run.

Goals (PASS/MISS; the exit status is 0 either way, 1 only when the cloud did not start): a bring-up under 20 CPU
seconds and 20 s on this machine, services at rest under 10% of a core.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from manage.private_cloud import VENV_BIN, Cloud, cloud_environment  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
UP_CPU_GOAL, UP_WALL_GOAL, REST_GOAL = 20.0, 20.0, 0.10


def _cpu_of(pid: int) -> float:
    """User and system seconds of ``pid`` and of its direct children (0 for a process that is gone)."""
    pids = [str(pid), *subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    total = 0.0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _services_cpu(state: Path) -> dict[str, float]:
    return {pid_file.stem: _cpu_of(int(pid_file.read_text().split()[0])) for pid_file in (state / "run").glob("*.pid")}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _manage(cloud: Cloud, *args: str) -> None:
    subprocess.run([str(VENV_BIN / "stratus-manage"), *args], env=cloud.env, capture_output=True, check=True)


def one_bringup(rest_seconds: float) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="stratus-bench-bringup-"))
    cloud = Cloud(state, cloud_environment(state, {}))
    launcher_before, started = _children_cpu(), time.monotonic()
    try:
        _manage(cloud, "services", "up")
        up_wall = time.monotonic() - started
        launcher = _children_cpu() - launcher_before
        services = _services_cpu(state)
        time.sleep(rest_seconds)
        rest = sum(_services_cpu(state).values()) - sum(services.values())
    finally:
        down_before, stopping = _children_cpu(), time.monotonic()
        _manage(cloud, "services", "down")
        down_wall, down_cpu = time.monotonic() - stopping, _children_cpu() - down_before
        shutil.rmtree(state, ignore_errors=True)
    return {
        "up_wall": up_wall,
        "up_cpu": launcher + sum(services.values()),
        "launcher_cpu": launcher,
        "services_cpu": sum(services.values()),
        "rest_share": rest / rest_seconds,
        "down_wall": down_wall,
        "down_cpu": down_cpu,
    }


def verdict(value: float, goal: float) -> str:
    return "PASS" if value < goal else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rest", type=float, default=30.0, help="seconds the services are watched at rest")
    args = parser.parse_args()
    try:
        runs = [one_bringup(args.rest) for _ in range(args.runs)]
    except subprocess.CalledProcessError as exc:
        print(f"the cloud did not start: {exc.stderr.decode(errors='replace')[-2000:]}")
        sys.exit(1)

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    print(f"bring-up of a private cloud, median of {args.runs} (services up, then down):")
    print(f"  services up    {median('up_wall'):6.1f} s wall  {verdict(median('up_wall'), UP_WALL_GOAL)}")
    print(
        f"  services up    {median('up_cpu'):6.1f} s CPU   {verdict(median('up_cpu'), UP_CPU_GOAL)}"
        f"  (launcher and its children {median('launcher_cpu'):.1f} s, services {median('services_cpu'):.1f} s)"
    )
    print(f"  at rest        {100 * median('rest_share'):6.1f} % of a core  {verdict(median('rest_share'), REST_GOAL)}")
    print(f"  services down  {median('down_wall'):6.1f} s wall  {median('down_cpu'):.1f} s CPU")  # fmt: skip


if __name__ == "__main__":
    main()
