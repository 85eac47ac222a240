"""What planning ``stratus rebalance`` costs on a big cloud: the pure planner (``cli.rebalance``), no cloud.

Why: the planner tries, at each step, every movable server of the hottest host against every host that could take
it, and the operator waits for the plan before the first move starts. The goal is a plan of five moves in under a
second for 500 hosts (about 9,000 servers).

For each size (hosts x servers per host), hosts of 64 vCPUs and 256 GiB, servers of random flavors placed so that
the load is uneven (each host filled to a random 10-90 %), ``--max-moves`` moves are planned ``--runs`` times.
Reports the median and the worst wall time of one plan, the moves found and the imbalance before and after.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/rebalance.py`

from cli.rebalance import Guest, HostLoad, plan  # noqa: E402

FLAVORS = ((1, 2048), (2, 4096), (4, 8192), (8, 16384))


def cloud(hosts: int, per_host: int, seed: int) -> tuple[list[HostLoad], list[Guest]]:
    rng = random.Random(seed)
    loads, guests = [], []
    for h in range(hosts):
        name = f"host-{h:04d}"
        host = HostLoad(name, 64 * 4.0, 256 * 1024, 0, 0)
        fill = rng.uniform(0.1, 0.9)
        for g in range(per_host):
            vcpus, ram = rng.choice(FLAVORS)
            if not host.fits(vcpus, ram) or host.ram + ram / host.memory_mb > fill:
                continue
            host = host.moved(vcpus, ram)
            guests.append(Guest(f"{name}-{g}", f"vm-{h}-{g}", name, vcpus, ram))
        loads.append(host)
    return loads, guests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10x20,100x40,500x40", help="hosts x servers per host, comma separated")
    parser.add_argument("--max-moves", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"rebalance planner: {args.max_moves} moves, {args.runs} runs per size")
    print(f"{'hosts':>6} {'servers':>8} {'p50 ms':>9} {'max ms':>9} {'moves':>6} {'imbalance':>18}")
    for size in args.sizes.split(","):
        hosts, per_host = (int(x) for x in size.split("x"))
        loads, guests = cloud(hosts, per_host, seed=hosts)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = plan(loads, guests, args.max_moves)
            times.append((time.perf_counter() - started) * 1000)
        spread = f"{result.imbalance_before:.3f} -> {result.imbalance_after:.3f}"
        print(
            f"{hosts:>6} {len(guests):>8} {statistics.median(times):>9.1f} {max(times):>9.1f} "
            f"{len(result.moves):>6} {spread:>18}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
