"""Moving a guest between two hosts with the libvirt driver: live block migrations back and forth, then a cold
migration, with what each costs.

Why: a live migration is worth it only while the guest's pause at the switch (the downtime) stays short and the
whole copy stays proportionate to what moves (the guest's memory and its disk overlay, not the base image); a
cold move is the guest's boot plus a copy of its overlay.

Two host machines (``manage.host_machine``: each its own namespaces and libvirtd, TLS with certificates from a CA
made for the run) on a private underlay, one tiny guest (TCG). Each live round: the target prepares
(``pre_live_migration``), the source migrates (wall time, the job's own time and the downtime as libvirt
measured them, the memory bytes it sent, the size of the overlay file its block copy moves) and cleans up;
``--no-native-tls`` sends QEMU's streams in clear (``live_migration_with_native_tls = false``), and ``--compare``
takes turns (two rounds each way), to see what the encryption costs under the same load. Then a cold migration:
power off and copy, then define and boot on the target (to its ready line). Run as root. Exit status 0 unless a
move failed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/migration.py`

from common.settings import Settings  # noqa: E402
from compute.host.virt.base import ConfigDrive, InstanceSpec, MigrationTarget  # noqa: E402
from compute.host.virt.libvirt.driver import LibvirtDriver  # noqa: E402
from deploy.images import markers  # noqa: E402
from manage import host_machine, hypervisor_tls  # noqa: E402
from manage.host_machine import HostMachine  # noqa: E402

BOOT_TIMEOUT = 180.0
MiB = 1 << 20


def spec(uuid: str, cache: Path, memory_mb: int) -> InstanceSpec:
    return InstanceSpec(uuid=uuid, name="bench", vcpus=1, memory_mb=memory_mb, root_gb=1,
                        base_image=cache / "tiny.qcow2", base_image_format="qcow2",
                        config_drive=ConfigDrive(meta_data={"uuid": uuid, "hostname": "bench"}))  # fmt: skip


def wait_ready(driver: LibvirtDriver, uuid: str, count: int) -> float:
    started = time.monotonic()
    while len(markers.READY_RE.findall(driver.get_console_output(uuid))) < count:
        if time.monotonic() - started > BOOT_TIMEOUT:
            raise RuntimeError(f"no ready line #{count} within {BOOT_TIMEOUT:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="live migrations (alternating directions)")
    parser.add_argument("--memory", type=int, default=192, help="the guest's memory in MiB")
    parser.add_argument("--native-tls", action=argparse.BooleanOptionalAction, default=True,
                        help="QEMU's streams encrypted with its own TLS (live_migration_with_native_tls)")  # fmt: skip
    parser.add_argument("--compare", action="store_true",
                        help="both ways: two rounds with native TLS, two in clear, and so on")  # fmt: skip
    args = parser.parse_args()
    modes = [True, False] if args.compare else [args.native_tls]

    work = Path(tempfile.mkdtemp(prefix="stratus-bench-migration-", dir="/var/tmp"))  # QEMU must reach it
    work.chmod(0o755)
    suffix = uuidlib.uuid4().hex[:4]
    settings = Settings(state_dir=str(work / "control"))
    image = work / "tiny.qcow2"
    subprocess.run(["bash", str(ROOT / "deploy/images/build-tiny.sh"), str(image)], check=True, capture_output=True)
    started_machines: list[HostMachine] = []
    drivers: list[tuple[dict[bool, LibvirtDriver], MigrationTarget, Path]] = []
    uuid = str(uuidlib.uuid4())
    try:
        for index, name in enumerate("ab"):
            machine = HostMachine(f"bm-{suffix}-{name}", work / name / "machine", f"10.231.19.{11 + index}",
                                  underlay_bridge=f"ul-bm{suffix}")  # fmt: skip
            tls = hypervisor_tls.issue(settings, machine.name, machine.underlay_ip)
            qemu = host_machine.install_qemu_tls(settings, machine)
            started_machines.append(host_machine.start(machine, listen="tls", tls_dir=tls, qemu_tls=True))
            cache = work / name / "cache"
            cache.mkdir(mode=0o755, parents=True)
            shutil.copyfile(image, cache / "tiny.qcow2")
            host_settings = Settings(
                libvirt_uri=machine.libvirt_uri,
                instances_path=str(work / name / "instances"),
                network_namespace=machine.netns,
                console_listen=machine.underlay_ip,
                libvirt_migration_uri=f"qemu+tls://{{address}}/system?pkipath={tls}",
                qemu_tls_dir=str(qemu),
            )
            by_mode = {}
            for mode in modes:
                by_mode[mode] = LibvirtDriver(host_settings.replace(live_migration_with_native_tls=mode))
                by_mode[mode].init_host(machine.name)
            drivers.append((by_mode, MigrationTarget(machine.name, machine.underlay_ip), cache))

        (a, _, cache_a) = drivers[0]
        a[modes[0]].spawn(spec(uuid, cache_a, args.memory))
        boot = wait_ready(a[modes[0]], uuid, 1)
        print(f"migration: tiny guest, {args.memory} MiB, TCG; booted on A in {boot:.1f} s")
        print(f"{'round':>5} {'direction':>9} {'streams':>10} {'wall s':>7} {'job s':>6} {'downtime ms':>11} "
              f"{'memory MiB':>10} {'overlay MiB':>11}")  # fmt: skip
        walls: dict[bool, list[float]] = {mode: [] for mode in modes}
        downtimes: dict[bool, list[int]] = {mode: [] for mode in modes}
        for number in range(args.rounds):
            mode = modes[(number // 2) % len(modes)]  # both directions in each mode, the modes taking turns
            source, (target, to, cache) = drivers[number % 2][0][mode], drivers[(number + 1) % 2]
            target = target[mode]
            target.pre_live_migration(spec(uuid, cache, args.memory), block_migration=True)
            overlay = (source.instance_dir(uuid) / "disk").stat().st_size  # what the block copy moves at most
            started = time.monotonic()
            stats = source.live_migration(uuid, to, True, lambda _s: None)
            wall = time.monotonic() - started
            source.post_live_migration_at_source(uuid)
            walls[mode].append(wall)
            downtimes[mode].append(stats.downtime_ms or 0)
            direction = "A → B" if number % 2 == 0 else "B → A"
            streams = "TLS" if mode else "clear"
            print(f"{number + 1:>5} {direction:>9} {streams:>10} {wall:>7.2f} {stats.elapsed_ms / 1000:>6.2f} "
                  f"{stats.downtime_ms!s:>11} "
                  f"{stats.memory_processed / MiB:>10.1f} {overlay / MiB:>11.1f}")  # fmt: skip
        for mode in modes:
            if walls[mode]:
                label, wall, down = "native TLS" if mode else "in clear", walls[mode], downtimes[mode]
                print(f"live, {label}: median {statistics.median(wall):.2f} s, downtime median "
                      f"{statistics.median(down):.0f} ms ({len(wall)} rounds)")  # fmt: skip

        (source, _, _), (target, to, cache) = drivers[args.rounds % 2], drivers[(args.rounds + 1) % 2]
        source, target = source[modes[0]], target[modes[0]]
        started = time.monotonic()
        source.migrate_disk_and_power_off(uuid, to)
        copied = time.monotonic() - started
        target.finish_migration(spec(uuid, cache, args.memory), power_on=True)
        booted = wait_ready(target, uuid, 2)
        source.confirm_migration(uuid)
        print(f"cold: power off and copy {copied:.2f} s, then defined and booted in {booted:.1f} s")
        target.destroy(uuid)
        return 0
    finally:
        for machine in started_machines:
            host_machine.stop(machine, remove=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
