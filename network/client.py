"""How other packages tell the network service that something changed: every task name lives here.

The control side (the ``network`` queue, routed by the task name's prefix, see ``common.queue``) turns
database state into each host's desired wiring and pushes it to the host agents. Its tasks take ids and
re-read the database, so one message per changed network is enough however many ports changed, and a
duplicate message is harmless. Send only after the transaction that made the change has committed, or the
worker may read the state before it.
"""

from __future__ import annotations

from celery import Celery

SYNC_NETWORK = "network.sync_network"
"""``sync_network(network_id, request_id=...)``: recompute and push the wiring of every host with a port on the
network (ports, their addresses and security groups, the DHCP port); also sent when a network is deleted, so
hosts tear down what they no longer need."""


def ports_changed(app: Celery, network_id: str, request_id: str) -> None:
    """A port of ``network_id`` (or the network itself, or its subnets) was created, changed or deleted."""
    app.send_task(SYNC_NETWORK, args=[network_id], kwargs={"request_id": request_id})
