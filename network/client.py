"""How other packages tell the network service that something changed: every task name lives here.

The control side (the ``network`` queue, routed by the task name's prefix, see ``common.queue``) turns
database state into each host's desired wiring and pushes it to the host agents. Its tasks take ids and
re-read the database, so one message per changed network is enough however many ports changed, and a
duplicate message is harmless. Send only after the transaction that made the change has committed, or the
worker may read the state before it.
"""

from __future__ import annotations

from celery import Celery

from common.queue import host_queue

SYNC_NETWORK = "network.sync_network"
"""``sync_network(network_id, request_id=...)``: recompute and push the wiring of every host with a port on the
network (ports, their addresses and security groups, the DHCP port); also sent when a network is deleted, so
hosts tear down what they no longer need."""


def ports_changed(app: Celery, network_id: str, request_id: str) -> None:
    """A port of ``network_id`` (or the network itself, or its subnets) was created, changed or deleted.

    Fails at once (no publish retries, no result subscription) when the broker is away: callers have committed
    already, and the periodic resync converges on the change anyway, so a request must not hang on it.
    """
    app.send_task(SYNC_NETWORK, args=[network_id], kwargs={"request_id": request_id}, ignore_result=True, retry=False)


def networks_changed(app: Celery, network_ids: list[str], request_id: str) -> None:
    for network_id in network_ids:
        ports_changed(app, network_id, request_id)


SYNC_ROUTER = "network.sync_router"
"""``sync_router(router_id, request_id=...)``: a router, its interfaces, gateway or floating IPs changed (or it was
deleted): place it on a host if it has none, and push the host that runs it (and ran it, when it moved) and the
hosts of its interfaces' networks."""


def router_changed(app: Celery, router_id: str, request_id: str) -> None:
    """As ``ports_changed``, for a router (and its floating IPs): fails at once when the broker is away."""
    app.send_task(SYNC_ROUTER, args=[router_id], kwargs={"request_id": request_id}, ignore_result=True, retry=False)


SYNC_HOST = "network.sync_host"
"""``sync_host(host)``: push ``host`` its whole desired state."""
BIND_INSTANCE = "network.bind_instance"
"""``bind_instance(instance_id, host, request_id=..., project_id=...)``: compute placed a server of ``project_id`` on
``host``: bind its ports there (those of its project only), wire them, and answer ``events.instance_network_ready``
(or ``..._network_failed``) when the host has."""
MIGRATION_BINDING = "network.migration_binding"
"""``migration_binding(instance_id, target, step, request_id=..., project_id=...)``: a live migration's ports
(Neutron's ``binding:profile`` ``{"migrating_to": target}``). ``prepare``: wired on the target too while still bound
to the source, answered with ``events.instance_network_ready`` for the target once it has; ``switch``: bound to the
target, the profile cleared; ``clear``: the profile cleared and the target's wiring removed (a failed move)."""
MIGRATION_STEPS = ("prepare", "switch", "clear")
AGENT_REPORT = "network.agent_report"
"""``agent_report(host, underlay_ip, namespace)``: an agent is alive (sent at start and periodically)."""
AGENT_HEARTBEAT = "network.agent_heartbeat"
"""``agent_heartbeat(names)``: the agents of these hosts are alive (sent every ``host_heartbeat_interval`` by the
agent's main process; see ``network.liveness``)."""
MOVE_FROM_DOWN_HOSTS = "network.move_from_down_hosts"
"""``move_from_down_hosts()``: periodic; DHCP servers on hosts that are down move to a live host."""
PORTS_WIRED = "network.ports_wired"
"""``ports_wired(host, generation, wired, errors)``: what an agent's last apply achieved."""
AGENT_APPLY = "netagent.apply"
"""``apply(host, wiring)`` on the host's ``network.<host>`` queue: converge to this ``HostWiring`` (a dict)."""
AGENT_RESYNC = "netagent.resync"
"""``resync(hosts)`` on a served host's queue, by the agent's own beat: its periodic look at each of the hosts
(``network.host.work.resync``)."""


def bind_instance(app: Celery, instance_id: str, project_id: str, host: str, request_id: str) -> None:
    kwargs = {"request_id": request_id, "project_id": project_id}
    app.send_task(BIND_INSTANCE, args=[instance_id, host], kwargs=kwargs)


def agent_apply(app: Celery, host: str, wiring: dict, request_id: str = "") -> None:
    app.send_task(
        AGENT_APPLY, args=[host, wiring], kwargs={"request_id": request_id}, queue=host_queue("network", host)
    )


def migration_binding(app: Celery, instance_id: str, project_id: str, target: str, step: str, request_id: str) -> None:
    """A step of a live migration's port binding (``MIGRATION_STEPS``)."""
    if step not in MIGRATION_STEPS:
        raise ValueError(f"no such migration binding step: {step}")
    kwargs = {"request_id": request_id, "project_id": project_id}
    app.send_task(MIGRATION_BINDING, args=[instance_id, target, step], kwargs=kwargs)
