"""The work of a network host agent: converge the host to the state the control side sends, report the outcome.

The agent has no database access. Every state it receives is complete (level-triggered), so a redelivered or
overtaken message is harmless (the driver ignores older generations), and the agent's periodic report makes
the control side push the state again, which repairs drift such as a bridge deleted by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from common.settings import Settings
from network import client
from network.host.dataplane import driver_for, underlay_for
from network.host.dataplane.base import DataplaneDriver, HostUnderlay
from network.wire import HostWiring

LOG = logging.getLogger(__name__)


class NetworkAgent:
    """The agent of one host (one process may run several with the fake dataplane, as compute does)."""

    def __init__(self, settings: Settings, app: Celery, host: str | None = None) -> None:
        self.settings = settings.replace(host=host) if host else settings
        self.app = app
        self.host = self.settings.effective_host
        self.underlay: HostUnderlay = underlay_for(self.settings)
        self.driver: DataplaneDriver = driver_for(self.settings)
        self.driver.init_host(self.underlay)

    def apply(self, wiring: dict[str, Any], request_id: str = "") -> dict[str, Any]:
        state = HostWiring.from_dict(wiring)
        if state.host != self.host:
            raise LookupError(f"this agent serves {self.host}, not {state.host}")
        result = self.driver.apply(state)
        if result.errors:
            LOG.warning("[%s] wiring of %s had errors: %s", request_id, self.host, result.errors)
        if not result.stale:
            self.app.send_task(
                client.PORTS_WIRED,
                args=[self.host, result.generation, list(result.wired), result.errors],
                kwargs={"request_id": request_id},
            )
        return result.to_dict()

    def report(self) -> None:
        """Tell the control side this agent is alive and where its VTEP is; it answers with the whole state."""
        self.app.send_task(
            client.AGENT_REPORT,
            args=[self.host, self.underlay.underlay_ip, self.underlay.namespace or ""],
            expires=self.settings.network_resync_interval * 3,
        )
