"""stratus-netagent: the host agent that wires bridges, VXLAN, DHCP and firewalls, on its ``network.<host>``
queue.

It never touches the database: what it needs comes in the task. Start with
``celery -A network.host.agent:app worker -Q network.<host> --beat`` (beat sends the periodic look at each host,
``network.host.work.resync``).
"""

from typing import Any

from celery.signals import worker_ready

from common.agents import look_schedule, start_heartbeats
from common.logs import setup_logging
from common.queue import make_celery
from common.settings import load_host
from network import client
from network.host import work
from network.host.context import NetworkAgent

settings = load_host()
setup_logging("stratus-netagent", settings.log_level)
app = make_celery(settings, sender=settings.effective_host)
agent = NetworkAgent.start(settings, app)


@app.task(name=client.AGENT_APPLY, acks_late=True, time_limit=300)
def apply(host: str, wiring: dict, request_id: str = "") -> dict:
    return work.apply(agent, host, wiring, request_id)


@app.task(name=client.AGENT_RESYNC, time_limit=60, expires=settings.network_resync_interval)
def resync(hosts: list[str]) -> dict[str, str]:
    return {host: work.resync(agent, host) for host in hosts if host in agent.hosts}


app.conf.beat_schedule = look_schedule("network", client.AGENT_RESYNC, settings.network_resync_interval, agent.hosts)


@worker_ready.connect(weak=False)
def report_at_start(**_: Any) -> None:
    """At once, so the host gets its state (and a restarted agent repairs whatever changed) without waiting; then
    a heartbeat from the main process, which runs even while the pool applies a long state."""
    for host in agent.hosts:
        work.report(agent, host)
    start_heartbeats(app, client.AGENT_HEARTBEAT, sorted(agent.hosts), settings.host_heartbeat_interval)
