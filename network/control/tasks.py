"""Celery entry points of the network control side (``stratus-network``): thin wrappers around its ``sync``."""

from __future__ import annotations

import logging

from celery import Celery

from common.db import Database
from common.periodic import my_turn
from common.settings import Settings
from network import client, liveness
from network.control import migration, relocation, sync
from network.control.context import NetworkControl

LOG = logging.getLogger(__name__)
TASK_OPTIONS = {"acks_late": True, "time_limit": 120, "soft_time_limit": 110}
# What a host agent may send: reports about itself only (``host_arg``, checked by ``common.queue``).
FROM_HOST = {"from_hosts": True, "host_arg": "host"}


def register(app: Celery, settings: Settings) -> None:
    control = NetworkControl(Database(settings.effective_database_url), app, settings)

    @app.task(name=client.SYNC_NETWORK, **TASK_OPTIONS)
    def sync_network(network_id: str, request_id: str = "") -> list[str]:
        return sync.sync_network(control, network_id, request_id)

    @app.task(name=client.SYNC_ROUTER, **TASK_OPTIONS)
    def sync_router(router_id: str, request_id: str = "") -> list[str]:
        return sync.sync_router(control, router_id, request_id)

    @app.task(name=client.SYNC_HOST, **TASK_OPTIONS)
    def sync_host(host: str, request_id: str = "") -> str:
        return sync.push_host(control, host, request_id)

    @app.task(name=client.BIND_INSTANCE, **TASK_OPTIONS)
    def bind_instance(instance_id: str, host: str, request_id: str = "", project_id: str = "") -> str:
        if not project_id:  # sent before messages named the project: the sweeper asks again with it
            LOG.warning("[%s] bind of %s without its project ignored", request_id, instance_id)
            return "no project"
        return sync.bind_instance(control, instance_id, project_id, host, request_id)

    @app.task(name=client.MIGRATION_BINDING, **TASK_OPTIONS)
    def migration_binding(instance_id: str, target: str, step: str, request_id: str = "", project_id: str = "") -> str:
        return migration.migration_binding(control, instance_id, project_id, target, step, request_id)

    @app.task(name=client.AGENT_REPORT, **TASK_OPTIONS, **FROM_HOST, expires=120)
    def agent_report(host: str, underlay_ip: str, namespace: str = "", request_id: str = "") -> str:
        return sync.agent_report(control, host, underlay_ip, namespace, request_id)

    @app.task(name=client.AGENT_HEARTBEAT, acks_late=False, time_limit=30, expires=30, from_hosts=True,
              host_arg="names")  # fmt: skip
    def agent_heartbeat(names: list[str]) -> int:
        with control.db.session() as session:
            return liveness.heartbeat(session, names)

    @app.task(name=client.MOVE_FROM_DOWN_HOSTS, **TASK_OPTIONS, expires=settings.host_heartbeat_interval)
    def move_from_down_hosts() -> list[str]:
        if not my_turn(control.db, client.MOVE_FROM_DOWN_HOSTS, settings.host_heartbeat_interval):
            return []
        return relocation.move_from_down_hosts(control) + relocation.move_routers_from_down_hosts(control)

    app.conf.beat_schedule = {
        "network-move-from-down-hosts": {
            "task": client.MOVE_FROM_DOWN_HOSTS,
            "schedule": settings.host_heartbeat_interval,
        }
    }

    @app.task(name=client.PORTS_WIRED, **TASK_OPTIONS, **FROM_HOST)
    def ports_wired(
        host: str,
        generation: int,
        wired: list[str],
        errors: dict[str, str],
        request_id: str = "",
        routers: list[str] | None = None,
    ) -> dict[str, int]:
        return sync.ports_wired(control, host, generation, wired, errors, request_id, routers)
