"""Neutron's agents API over the network hosts: each host's network agent is one agent, alive while its heartbeat
(``network.liveness``) is recent. Its id is derived from the host name, so it is stable across restarts and the
same on every control process; ``admin_state_up`` and ``description`` are stored, and a dead agent's record can be
deleted (a live one is 409: its host would be forgotten while it still wires ports)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from network import liveness
from network.exceptions import AgentAlive, AgentNotFound
from network.models import NetworkHost

AGENT_TYPE = "Stratus network agent"
BINARY = "stratus-netagent"
TOPIC = "netagent"
NAMESPACE = uuid.UUID("6f0b7a52-3c1e-4f0e-9a57-2f1d8f3b6c10")


def agent_id(host: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{BINARY}:{host}"))


@dataclass(frozen=True)
class Agent:
    """One agent as the API shows it."""

    record: NetworkHost
    alive: bool

    @property
    def id(self) -> str:
        return agent_id(self.record.host)


def list_agents(session: Session, down_after: timedelta, now: datetime | None = None) -> list[Agent]:
    records = session.scalars(select(NetworkHost).order_by(NetworkHost.host))
    return [Agent(r, liveness.is_live(r, down_after, now)) for r in records]


def get_agent(session: Session, down_after: timedelta, agent: str) -> Agent:
    for found in list_agents(session, down_after):
        if found.id == agent:
            return found
    raise AgentNotFound(id=agent)


def update_agent(session: Session, down_after: timedelta, agent: str, attrs: Mapping[str, Any]) -> Agent:
    found = get_agent(session, down_after, agent)
    for field in ("admin_state_up", "description"):
        if field in attrs:
            setattr(found.record, field, attrs[field])
    session.flush()
    return found


def delete_agent(session: Session, down_after: timedelta, agent: str) -> None:
    found = get_agent(session, down_after, agent)
    if found.alive:
        raise AgentAlive(id=agent)
    session.delete(found.record)
    session.flush()
