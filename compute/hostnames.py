"""Host names: the hosts one machine runs, and which of them one compute agent process serves.

A machine runs one host, named after it, or with ``hosts`` > 1 several (``<host>-1`` .. ``<host>-N``), each with
its own agent processes, as separate machines would have; ``make up HOSTS=2`` is how one machine stands in for a
small cloud. Independently, one agent process with the fake driver can serve N simulated hosts.
"""

from __future__ import annotations

from common.settings import Settings


def machine_hosts(settings: Settings) -> list[str]:
    """The hosts this machine runs, each with its own compute and network agent."""
    host = settings.effective_host
    if settings.hosts > 1:
        return [f"{host}-{index}" for index in range(1, settings.hosts + 1)]
    return [host]


def served_hosts(settings: Settings) -> list[str]:
    """The hosts one compute agent process serves: its own, or with the fake driver N simulated hosts."""
    host = settings.effective_host
    if settings.compute_driver == "fake" and settings.compute_fake_hosts > 0:
        return [f"{host}-{index}" for index in range(1, settings.compute_fake_hosts + 1)]
    return [host]


def network_served_hosts(settings: Settings) -> list[str]:
    """The hosts one network agent process serves: its own, or with the fake dataplane the same simulated hosts
    as the compute agent beside it (each needs an agent for its ports to come up)."""
    if settings.network_dataplane == "fake":
        return served_hosts(settings)
    return [settings.effective_host]
