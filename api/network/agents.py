"""``/network/v2.0/agents``: Neutron's agents API over each host's network agent (``network.agents``).

Admins list, show, update (``admin_state_up``, ``description``) and delete (a dead agent) them. As in Neutron,
others are not refused outright: their listing is empty and an agent is a 404 to them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request

from api import policy
from api.context import current
from api.network.common import PREFIX, collection, resource_body, single, to_bool
from api.runtime import runtime
from common.exceptions import Unauthorized
from network import agents
from network.exceptions import AgentNotFound

bp = Blueprint("network_agents", __name__, url_prefix=PREFIX)

AGENT_UPDATE = {
    "type": "object",
    "properties": {
        "agent": {
            "type": "object",
            "properties": {"admin_state_up": {"type": "boolean"}, "description": {"type": "string", "maxLength": 255}},
            "additionalProperties": False,
        }
    },
    "required": ["agent"],
    "additionalProperties": False,
}
FILTERS = ("id", "host", "agent_type", "binary", "topic", "admin_state_up", "alive", "description")


def _down_after() -> timedelta:
    return timedelta(seconds=runtime().settings.compute_host_down_after)


def _stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def agent_view(agent: agents.Agent) -> dict[str, Any]:
    record = agent.record
    return {
        "id": agent.id,
        "agent_type": agents.AGENT_TYPE,
        "binary": agents.BINARY,
        "topic": agents.TOPIC,
        "host": record.host,
        "admin_state_up": record.admin_state_up,
        "alive": agent.alive,
        "description": record.description,
        "availability_zone": None,
        "configurations": {
            "underlay_ip": record.underlay_ip,
            "networks": len(record.networks or []),
            "routers": len(record.routers or []),
        },
        "created_at": _stamp(record.created_at or record.last_seen),
        "started_at": _stamp(record.created_at or record.last_seen),
        "heartbeat_timestamp": _stamp(record.last_seen),
        "resources_synced": None,
    }


def _matches(view: dict[str, Any]) -> bool:
    for name in FILTERS:
        wanted = request.args.getlist(name)
        if not wanted:
            continue
        value = view[name]
        if isinstance(value, bool):
            if value not in {to_bool(w, name) for w in wanted}:
                return False
        elif value not in wanted:
            return False
    return True


def _allowed(action: str) -> bool:
    """Whether the caller may ``action``; a request without a valid token is a 401 first."""
    if not current().authenticated:
        raise Unauthorized()
    return policy.allowed(action)


def _admin(action: str, agent_id: str = "") -> None:
    """An admin, or else the agent is not found (Neutron hides what its policy refuses)."""
    if not _allowed(action):
        raise AgentNotFound(id=agent_id)


@bp.get("/agents")
def list_agents() -> Response:
    if not _allowed("network:get_agent"):
        return collection("agents", [], [])
    with runtime().db.session() as session:
        views = [agent_view(a) for a in agents.list_agents(session, _down_after())]
    return collection("agents", [v for v in views if _matches(v)], [])


@bp.get("/agents/<agent_id>")
def show_agent(agent_id: str) -> tuple[Response, int]:
    _admin("network:get_agent", agent_id)
    with runtime().db.session() as session:
        return single("agent", agent_view(agents.get_agent(session, _down_after(), agent_id)))


@bp.put("/agents/<agent_id>")
def update_agent(agent_id: str) -> tuple[Response, int]:
    _admin("network:update_agent", agent_id)
    attrs = resource_body("agent", AGENT_UPDATE, ("admin_state_up",))
    with runtime().db.session() as session:
        return single("agent", agent_view(agents.update_agent(session, _down_after(), agent_id, attrs)))


@bp.delete("/agents/<agent_id>")
def delete_agent(agent_id: str) -> Response:
    _admin("network:delete_agent", agent_id)
    with runtime().db.session() as session:
        agents.delete_agent(session, _down_after(), agent_id)
    return Response(status=204)
