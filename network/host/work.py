"""The work of a network host agent: converge the host to the state the control side sends, report the outcome.

The agent has no database access. Every state it receives is complete (level-triggered), so a redelivered or
overtaken message is harmless (the driver ignores older generations), and the agent's periodic report makes
the control side push the state again, which repairs drift such as a bridge deleted by hand. Every handler takes
the process's :class:`network.host.context.NetworkAgent`.
"""

from __future__ import annotations

import logging
from typing import Any

from network import client
from network.host.context import NetworkAgent
from network.wire import HostWiring

LOG = logging.getLogger(__name__)


def apply(agent: NetworkAgent, host: str, wiring: dict[str, Any], request_id: str = "") -> dict[str, Any]:
    """Converge ``host`` to ``wiring`` and tell the control side which ports are now wired (not for a stale
    state: the newer one in effect was reported already). A state addressed to another host is refused."""
    state = HostWiring.from_dict(wiring)
    if state.host != host:
        raise LookupError(f"this agent serves {host}, not {state.host}")
    result = agent.dataplane(host).driver.apply(state)
    if result.errors:
        LOG.warning("[%s] wiring of %s had errors: %s", request_id, host, result.errors)
    if not result.stale:
        agent.app.send_task(
            client.PORTS_WIRED,
            args=[host, result.generation, list(result.wired), result.errors],
            kwargs={"request_id": request_id, "routers": list(result.routers)},
        )
    return result.to_dict()


def report(agent: NetworkAgent, host: str) -> None:
    """Tell the control side ``host``'s agent is alive and where its VTEP is; it answers with the whole state."""
    underlay = agent.dataplane(host).underlay
    agent.app.send_task(
        client.AGENT_REPORT,
        args=[host, underlay.underlay_ip, underlay.namespace or ""],
        expires=agent.settings.network_resync_interval * 3,
    )
