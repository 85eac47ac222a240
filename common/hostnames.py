"""Host names: the hosts one machine runs, and which of them one compute agent process serves.

A machine runs one host, named after it, or with ``hosts`` > 1 several (``<host>-1`` .. ``<host>-N``), each with
its own agent processes, as separate machines would have; ``make up HOSTS=2`` is how one machine stands in for a
small cloud. Independently, one agent process with the fake driver can serve N simulated hosts.
"""

from __future__ import annotations

from collections.abc import Callable

from common.settings import HostSettings


def machine_hosts(settings: HostSettings) -> list[str]:
    """The hosts this machine runs, each with its own compute and network agent."""
    host = settings.effective_host
    if settings.hosts > 1:
        return [f"{host}-{index}" for index in range(1, settings.hosts + 1)]
    return [host]


def served_hosts(settings: HostSettings) -> list[str]:
    """The hosts one compute agent process serves: its own, or with the fake driver N simulated hosts."""
    host = settings.effective_host
    if settings.compute_driver == "fake" and settings.compute_fake_hosts > 0:
        return [f"{host}-{index}" for index in range(1, settings.compute_fake_hosts + 1)]
    return [host]


def network_served_hosts(settings: HostSettings) -> list[str]:
    """The hosts one network agent process serves: its own, or with the fake dataplane the same simulated hosts
    as the compute agent beside it (each needs an agent for its ports to come up)."""
    if settings.network_dataplane == "fake":
        return served_hosts(settings)
    return [settings.effective_host]


def agent_names(settings: HostSettings) -> list[str]:
    """Every host name the agents of ``settings.effective_host`` act for: its own and the simulated hosts its
    compute and network agents serve. Its message key file holds a key for each; its reports may name only
    these (``common.queue``)."""
    names = [settings.effective_host, *served_hosts(settings), *network_served_hosts(settings)]
    return list(dict.fromkeys(names))


def speaks_for(settings: HostSettings) -> Callable[[str], list[str]]:
    """For the control side: the host names the agent of a given machine host may report about."""
    return lambda host: agent_names(settings.replace(host=host))
