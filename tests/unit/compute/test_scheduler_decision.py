"""The scheduler's decision walks a picture kept best first and stops at the first host every filter passes; other
strategies weigh every passing host; why hosts were removed is counted only when a failure must say it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from compute.control import scheduler


def host(name: str, memory_mb: int = 8192, vcpus: int = 8, alive: bool = True, enabled: bool = True) -> object:
    beat = datetime.now(UTC) - (timedelta(0) if alive else timedelta(hours=1))
    return SimpleNamespace(
        name=name, availability_zone="nova", enabled=enabled, forced_down=False, last_heartbeat=beat,
        vcpus=vcpus, memory_mb=memory_mb, disk_gb=100, cpu_arch="x86_64",
        cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0, disk_allocation_ratio=1.0,
    )  # fmt: skip


def picture(*hosts: object) -> list[scheduler.HostState]:
    return sorted((scheduler.HostState(h) for h in hosts), key=scheduler.RANK)


def request(memory_mb: int = 1024, **extra: object) -> scheduler.Request:
    return scheduler.Request(instance_id="i", vcpus=1, memory_mb=memory_mb, disk_gb=1, **extra)  # type: ignore[arg-type]


def names(decision: scheduler.Decision) -> list[str]:
    return [state.host.name for state in decision.ranked()]


def test_spreading_takes_the_most_free_ram_first_ties_by_name_skipping_what_a_filter_removes() -> None:
    states = picture(
        host("b", 8192), host("a", 8192), host("big-but-down", 65536, alive=False), host("small", 2048),
        host("off", 16384, enabled=False), host("tiny", 512),
    )  # fmt: skip
    assert names(scheduler.select_hosts(states, request())) == ["a", "b", "small"]


def test_packing_takes_the_least_free_ram_first() -> None:
    states = picture(host("b", 8192), host("a", 8192), host("small", 2048), host("tiny", 512))
    assert names(scheduler.select_hosts(states, request(), "pack")) == ["small", "a", "b"]


def test_a_soft_anti_affinity_group_weighs_before_free_ram() -> None:
    roomy, busy = picture(host("roomy", 16384), host("busy", 8192))
    states = [
        scheduler.HostState(roomy.host, group_members_here=2),
        scheduler.HostState(busy.host, group_members_here=0),
    ]
    assert names(scheduler.select_hosts(states, request(group_policy="soft-anti-affinity"))) == ["busy", "roomy"]


def test_a_failure_says_what_each_filter_removed() -> None:
    states = picture(host("down", alive=False), host("small", 512), host("off", enabled=False))
    decision = scheduler.select_hosts(states, request(memory_mb=1024))
    assert names(decision) == []
    assert decision.explain() == (
        "3 hosts considered; ComputeFilter removed 2 (disabled or not reporting); "
        "RamFilter removed 1 (not enough free RAM)."
    )
