"""The work of a network host agent: converge the host to the state the control side sends, report the outcome.

The agent has no database access. Every state it receives is complete (level-triggered), so a redelivered or
overtaken message is harmless (the driver ignores older generations). At each periodic look the agent applies the
state in effect again, which repairs drift such as a bridge deleted by hand, and now and then asks the control
side to push the whole state again (``resync``), which repairs a state lost on the way. Every handler takes
the process's :class:`network.host.context.NetworkAgent`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from network import client
from network.host.context import NetworkAgent
from network.host.dataplane.base import ApplyResult
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
        agent.kept_of(host).wiring = wiring
        _tell_wired(agent, host, result, request_id)
    return result.to_dict()


def _outcome(result: ApplyResult) -> tuple[int, tuple[str, ...], dict[str, str]]:
    return result.generation, tuple(result.wired), dict(result.errors)


def _tell_wired(agent: NetworkAgent, host: str, result: ApplyResult, request_id: str = "") -> None:
    agent.kept_of(host).outcome = _outcome(result)
    agent.app.send_task(
        client.PORTS_WIRED,
        args=[host, result.generation, list(result.wired), result.errors],
        kwargs={"request_id": request_id, "routers": list(result.routers)},
    )


def resync(agent: NetworkAgent, host: str) -> str:
    """The periodic look at ``host``: apply the state in effect again, which repairs drift on the host and tells
    the control side only an outcome that changed; or ask the control side for the whole state, when there is none
    yet or the last ask is ``network_full_resync_interval`` old.

    Why not ask every time: each ask makes the control side compute and send the host's whole state, and the agent
    report which ports it wired. 1,000 hosts asking every 30 s kept two network workers busy with nothing
    changed (``bench/scale.py``); Neutron's agents likewise resync fully only when they start or fail."""
    kept = agent.kept_of(host)
    full = agent.settings.network_full_resync_interval
    if kept.wiring is None or full <= 0 or time.monotonic() - kept.asked_at >= full:
        report(agent, host)
        return "asked"
    result = agent.dataplane(host).driver.apply(HostWiring.from_dict(kept.wiring))
    if result.stale:
        return "overtaken"
    if kept.outcome != _outcome(result):
        _tell_wired(agent, host, result)
        return "applied again, told"
    return "applied again"


def report(agent: NetworkAgent, host: str) -> None:
    """Tell the control side ``host``'s agent is alive and where its VTEP is; it answers with the whole state."""
    underlay = agent.dataplane(host).underlay
    agent.kept_of(host).asked_at = time.monotonic()
    agent.app.send_task(
        client.AGENT_REPORT,
        args=[host, underlay.underlay_ip, underlay.namespace or ""],
        expires=agent.settings.network_resync_interval * 3,
    )
