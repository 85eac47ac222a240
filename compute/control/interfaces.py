"""Interfaces attached to and detached from a server after its boot (Nova's ``os-interface``): the control side.

The workflow, each step in its own transaction:

1. The API makes (or claims) the port in its request's transaction, as a server create does, and records it on
   the server (``requested_networks``) marked ``attaching``; then asks the network service to bind the server's
   ports on its host (``network.client.bind_instance``), exactly as a build does.
2. The network agent wires the new port there (its bridge, tunnel and filter); the network service answers
   ``events.instance_network_ready`` with every NIC of the server: :func:`network_ready` keeps how to plug the new
   one (MAC, tap, bridge, MTU) and asks the host to hot-plug it (``attach_interface``).
3. The host reports: :func:`done` clears the mark, or on failure frees the port (deleted if made for the server,
   given back otherwise) and drops the entry, so a failed attach leaves nothing behind.

A detach marks the entry ``detaching`` and asks the host to unplug the NIC (live and from the definition, waiting
until the guest lets it go); once it is gone the port is freed as above and the hosts of its network are told.
Interface work holds no task state (as volume work): it is matched by the port it names.
"""

from __future__ import annotations

import logging
from typing import Any

from compute import actions, client
from compute.control.context import ComputeControl
from compute.nics import ATTACHING, DETACHING, locked
from compute.states import TaskState
from network import client as network_client
from network import vif

LOG = logging.getLogger(__name__)
ACTIONS = ("attach_interface", "detach_interface")
_PLUG_KEYS = ("mac", "tap", "mtu", "port_id", "bridge")

# Tasks that start, stop, pause or snapshot the guest keep its definition: an attach that reaches its host while
# one of them runs is hot-plugged as ever (after it, on the host's queue for the server). Every other task defines
# the guest anew from the server's wired ports, the new one among them.
_KEEPS_DEFINITION = frozenset(
    {
        TaskState.POWERING_ON,
        TaskState.POWERING_OFF,
        TaskState.REBOOTING,
        TaskState.REBOOTING_HARD,
        TaskState.PAUSING,
        TaskState.UNPAUSING,
        TaskState.SUSPENDING,
        TaskState.RESUMING,
        TaskState.IMAGE_SNAPSHOT,
    }
)


def network_ready(
    control: ComputeControl, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str
) -> str | None:
    """The server's ports are wired on its host: hot-plug those being attached. None when no attach waits (the
    caller goes on with a build's network-ready)."""
    with control.db.session() as session:
        instance = locked(session, instance_id)
        if instance is None or instance.deleted or instance.host != host:
            return None
        entries = instance.requested_networks if isinstance(instance.requested_networks, list) else []
        waiting = {e["port_id"] for e in entries if isinstance(e, dict) and e.get(ATTACHING)}
        if not waiting:
            return None
        by_port = {nic["port_id"]: nic for nic in nics if nic.get("port_id") in waiting}
        if instance.task_state is not None and instance.task_state not in _KEEPS_DEFINITION:
            # A workflow that defines the guest anew (a resize, an unshelve) bound the ports: the definition it makes
            # carries every wired port, the new one too. Nothing to hot-plug; its own network-ready goes on.
            instance.requested_networks = [
                {k: v for k, v in e.items() if k != ATTACHING}
                if isinstance(e, dict) and e.get("port_id") in by_port
                else e
                for e in entries
            ]
            return None
        instance.requested_networks = [
            {**e, **{k: by_port[e["port_id"]][k] for k in _PLUG_KEYS}}
            if isinstance(e, dict) and e.get("port_id") in by_port
            else e
            for e in entries
        ]
    for port_id, nic in sorted(by_port.items()):
        plug = {k: nic[k] for k in _PLUG_KEYS}
        client.agent_action(control.app, host, instance_id, "attach_interface", request_id, port_id=port_id, nic=plug)
    LOG.info("[%s] instance %s: plugging %s on %s", request_id, instance_id, ", ".join(sorted(by_port)), host)
    return f"plugging {len(by_port)} interfaces"


def done(
    control: ComputeControl,
    instance_id: str,
    host: str,
    action: str,
    request_id: str,
    error: str | None,
    result: dict[str, Any] | None,
) -> str:
    """The host plugged or unplugged the NIC of ``result["port_id"]`` (or failed to, with ``error``).

    A detach asked for while the attach was still on its way (both marks on the entry) must end with no NIC
    whatever order the host and this side see them in: a detach reported before its attach changes nothing, and
    the attach's report sends the detach again (the host runs it after the plug; unplugging twice is harmless)."""
    port_id = str((result or {}).get("port_id", ""))
    networks: list[str] = []
    again: dict[str, Any] | None = None
    with control.db.session() as session:
        instance = locked(session, instance_id)
        if instance is None or actions.reported_elsewhere(instance, host, f"the outcome of {action}"):
            return "ignored"
        entries = list(instance.requested_networks) if isinstance(instance.requested_networks, list) else []
        entry = next((e for e in entries if isinstance(e, dict) and e.get("port_id") == port_id), None)
        mark = ATTACHING if action == "attach_interface" else DETACHING
        if entry is None or not entry.get(mark) or instance.deleted:
            return "superseded"
        if action == "detach_interface" and entry.get(ATTACHING):
            return "waiting for its attach"
        unplugged = (action == "detach_interface") == (error is None)  # a detach that worked, an attach that failed
        if unplugged:
            network = vif.detach_port(session, port_id, delete=not entry.get("preserve"))
            networks = [network] if network else []
            instance.requested_networks = [e for e in entries if e is not entry]
        else:
            cleared = {k: v for k, v in entry.items() if k != mark}
            instance.requested_networks = [cleared if e is entry else e for e in entries]
            if entry.get(DETACHING) and action == "attach_interface":
                again = {"port_id": port_id, "mac": entry.get("mac"), "request_id": entry.get("detach_request", "")}
        outcome = "Error" if error else "Success"
        actions.record_event(session, instance_id, request_id, f"compute_{action}", outcome, host, error)
    network_client.networks_changed(control.app, networks, request_id)
    if again is not None and again["mac"]:
        client.agent_action(
            control.app, host, instance_id, "detach_interface", again["request_id"], port_id=port_id, mac=again["mac"]
        )
    if error:
        LOG.warning("[%s] %s of port %s on %s failed on %s: %s", request_id, action, port_id, instance_id, host, error)
        return "failed"
    return "done"
