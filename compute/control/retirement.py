"""Retiring hosts a machine no longer runs (``make up HOSTS=N`` with fewer or other hosts than before).

Why: the records of a host whose agents were stopped for good stayed, and the host looked up for another
``compute_host_down_after``: builds were scheduled to it and sat in BUILD, and a network's DHCP server stayed
bound to it. A retired host leaves the service and hypervisor lists as ``openstack compute service delete`` makes
it leave them, with Nova's rule: a host that still holds servers is not deleted (their records point at it).
Such a host is forced down and disabled instead, with a reason saying so: nothing is scheduled to it, builds on it
go to other hosts (``compute.control.handoff``), its servers show ``host_status`` DOWN and can be deleted; retiring it
again once they are gone removes it. Its network agent's record goes with it, so no host keeps a forwarding entry
to it, and its DHCP servers move to live hosts (``network.control.relocation``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compute.models import ComputeHost, Instance
from network import vif

RETIRED_REASON = "retired: no longer run by its machine; delete or move its servers, then the service"


def servers_on(session: Session, host: str) -> int:
    """Servers whose record points at ``host`` (what keeps Nova from deleting a compute service)."""
    query = select(func.count(Instance.id)).where(Instance.host == host, Instance.deleted.is_(False))
    return int(session.scalar(query) or 0)


def retire(session: Session, hosts: list[str]) -> dict[str, str]:
    """Retire each host; returns what happened to each: ``removed``, ``kept down: N servers`` or ``unknown``."""
    outcome: dict[str, str] = {}
    for name in sorted(set(hosts)):
        compute_host = session.get(ComputeHost, name)
        servers = servers_on(session, name)
        if servers and compute_host is not None:
            compute_host.forced_down, compute_host.enabled = True, False
            compute_host.disabled_reason = RETIRED_REASON
            outcome[name] = f"kept down: {servers} servers"
            continue
        had_agent = vif.forget_agent(session, name)
        if compute_host is None and not had_agent:
            outcome[name] = "unknown"
            continue
        if compute_host is not None:
            session.delete(compute_host)  # its allocations go with it (ON DELETE CASCADE)
        outcome[name] = "removed"
    session.flush()
    return outcome
