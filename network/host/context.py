"""What the network host agent's work shares: its settings, its queue, and the dataplane of each host it serves.
One per ``stratus-netagent`` process (``network.host.agent``), passed to every handler of ``network.host.work``,
as ``compute.host.context.ComputeAgent`` is beside it and ``network.control.context.NetworkControl`` is on the
control side.

There is no database here, by design: the settings are :class:`common.settings.HostSettings`, and every state the
agent applies comes complete in its task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from common.hostnames import network_served_hosts
from common.settings import HostSettings
from network.host.dataplane import driver_for, underlay_for
from network.host.dataplane.base import DataplaneDriver, HostUnderlay


@dataclass(frozen=True)
class HostDataplane:
    """One served host: its driver, initialised on ``underlay`` (the VTEP address the agent reports)."""

    driver: DataplaneDriver
    underlay: HostUnderlay


@dataclass
class Kept:
    """What the agent remembers of one served host between tasks, in the process that applies its states."""

    wiring: dict[str, Any] | None = None
    """The state in effect, as the control side sent it: applied again at each look (``work.resync``)."""
    outcome: tuple[int, tuple[str, ...], dict[str, str]] | None = None
    """(generation, wired ports, errors) last told to the control side."""
    asked_at: float = float("-inf")
    """When (monotonic) the control side was last asked for the whole state."""


@dataclass(frozen=True)
class NetworkAgent:
    settings: HostSettings
    app: Celery
    dataplanes: Mapping[str, HostDataplane]
    """A dataplane per host name this process serves (several only with the fake dataplane's simulated hosts)."""
    kept: dict[str, Kept] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: HostSettings, app: Celery) -> NetworkAgent:
        """The agent of this process, each served host made ready (``init_host``) before any task arrives."""
        dataplanes = {}
        for host in network_served_hosts(settings):
            own = settings.replace(host=host)
            dataplane = HostDataplane(driver=driver_for(own), underlay=underlay_for(own))
            dataplane.driver.init_host(dataplane.underlay)
            dataplanes[host] = dataplane
        return cls(settings, app, dataplanes)

    @property
    def hosts(self) -> list[str]:
        return list(self.dataplanes)

    def kept_of(self, host: str) -> Kept:
        return self.kept.setdefault(host, Kept())

    def dataplane(self, host: str) -> HostDataplane:
        try:
            return self.dataplanes[host]
        except KeyError:
            raise LookupError(f"this agent does not serve host {host}") from None
