"""A live migration's ports: wired on both hosts while the guest moves, then bound to the target (or not).

Why both: the guest's memory is copied while it runs on the source, and at the switch it resumes on the target at
once; its ports must already be plugged and filtered there, or it would lose its network for as long as a wiring
push takes. Neutron marks such a port with ``binding:profile`` ``{"migrating_to": target}`` and keeps it bound
(``binding:host_id``) to the source; we do the same. ``wiring`` then wires the port on the target as well as on
the source (the other hosts keep sending its traffic to the source until the switch), and ``sync.ports_wired``
answers compute's ``network ready`` for the target once the target's agent has wired every port of the server.

- ``prepare``: the profile is set, the target (and every host of the ports' networks) is pushed;
- ``switch``: the guest runs on the target: the ports are bound to it, the profile cleared, every host pushed
  (the source unwires them, the others point their forwarding entries at the target);
- ``clear``: the move failed or was aborted: the profile is cleared and the target pushed again, which removes
  what it wired for the guest. The ports stay bound to the source, untouched.

Each step is idempotent (a step already done changes nothing and pushes the same state again).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from compute import client as compute_client
from network.control import sync, wiring
from network.control.context import NetworkControl
from network.models import Port

LOG = logging.getLogger(__name__)


def migration_binding(
    control: NetworkControl, instance_id: str, project_id: str, target: str, step: str, request_id: str = ""
) -> str:
    """Run ``step`` (``prepare``, ``switch`` or ``clear``) for the server's ports (those of its project)."""
    with control.db.session() as session:
        ports = list(session.scalars(select(Port).where(sync.server_ports(instance_id, project_id))))
        for port in ports:
            _apply(port, target, step)
        networks = sorted({p.network_id for p in ports})
        sources = {p.binding_host_id for p in ports if p.binding_host_id}
    hosts = {target} | sources
    for network_id in networks:
        hosts |= sync.hosts_with(control, network_id)
    for host in sorted(hosts):
        sync.push_host(control, host, request_id)
    if step == "prepare" and not ports:  # nothing to wire: the target is ready as it is
        compute_client.network_ready(control.app, instance_id, target, [], request_id)
    LOG.info("[%s] ports of %s: %s for %s (%d ports)", request_id, instance_id, step, target, len(ports))
    return f"{step}: {len(ports)} ports"


def _apply(port: Port, target: str, step: str) -> None:
    profile = dict(port.binding_profile or {})
    if step == "prepare":
        if wiring.migrating_to(port) != target:
            profile[wiring.MIGRATING_TO] = target
            port.binding_profile = profile
            port.revision_number += 1
        return
    if wiring.MIGRATING_TO in profile:
        profile.pop(wiring.MIGRATING_TO)
        port.binding_profile = profile
        port.revision_number += 1
    if step == "switch" and port.binding_host_id != target:
        # The status stays: the target wired the port before the guest moved (``prepare``), and its next report
        # sets it from the target's own wiring.
        port.binding_host_id = target
        port.revision_number += 1
