"""A new server's networks: what ``networks`` asks for, checked before anything is written, and the ports made
(or claimed) in the server create's own transaction, so a request that fails leaves no port behind.

Nova's rules: ``"none"`` is no NIC; ``"auto"`` (and, before 2.37, no ``networks`` at all) is the project's one
usable network, a 409 when there are several, no NIC when there is none (this cloud has no auto-allocated
topology to fall back on); a list names networks (optionally with a ``fixed_ip``) or existing ports. A port
the server's create made is deleted with the server; a port the user brought is only detached (``preserve``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api.context import RequestContext
from common.exceptions import BadRequest, Conflict
from compute.models import Instance
from network import vif
from network.exceptions import NetworkNotFound, PortNotFound, SecurityGroupNotFound
from network.vif import Caller


@dataclass(frozen=True)
class NetworkRequest:
    """One NIC of the server: on ``network_id``, through the user's ``port_id`` or a new port (at ``fixed_ip``)."""

    network_id: str
    port_id: str | None = None
    fixed_ip: str | None = None


def _auto(session: Session, ctx: RequestContext) -> list[NetworkRequest]:
    found = vif.auto_network_ids(session, ctx.project_id, limit=2)
    if len(found) > 1:
        raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
    return [NetworkRequest(network_id=found[0])] if found else []


def requested(session: Session, ctx: RequestContext, networks: Any, count: int) -> list[NetworkRequest]:
    """The validated request (400/409 with Nova's messages); nothing is written."""
    if networks == "none":
        return []
    if networks is None or networks == "auto":
        return _auto(session, ctx)
    caller = Caller(ctx.project_id, ctx.is_admin)
    result = []
    for entry in networks:
        if entry.get("port"):
            if count > 1:
                raise BadRequest("Unable to launch multiple instances with a single configured port ID.")
            try:
                port = vif.find_port(session, caller, entry["port"])
            except PortNotFound:
                raise BadRequest(f"Port id {entry['port']} could not be found.") from None
            if port.project_id != ctx.project_id:  # an admin sees every port; a server uses its project's
                raise BadRequest(f"Port {port.id} not usable for instance: it belongs to another project.")
            if port.device_id:
                raise Conflict(f"Port {port.id} is still in use.")
            result.append(NetworkRequest(network_id=port.network_id, port_id=port.id))
        elif entry.get("uuid"):
            try:
                network_id = vif.usable_network_id(session, caller, entry["uuid"])
            except NetworkNotFound:
                raise BadRequest(f"Network {entry['uuid']} could not be found.") from None
            result.append(NetworkRequest(network_id=network_id, fixed_ip=entry.get("fixed_ip")))
        else:
            raise BadRequest("Invalid input for field 'networks': each entry needs a 'uuid' or a 'port'.")
    if len({r.port_id for r in result if r.port_id}) != len([r for r in result if r.port_id]):
        raise BadRequest("The same port is requested twice.")
    return result


def group_ids(session: Session, project_id: str, names: list[str]) -> list[str]:
    try:
        return vif.security_group_ids(session, project_id, names)
    except SecurityGroupNotFound as exc:
        raise BadRequest(f"Security group {exc.kwargs.get('id')} not found for project {project_id}.") from None


def create_ports(
    session: Session, ctx: RequestContext, instance: Instance, requests: list[NetworkRequest], groups: list[str]
) -> list[dict[str, Any]]:
    """Make or claim the server's ports in the caller's transaction; the entries ``requested_networks`` keeps."""
    caller = Caller(instance.project_id, ctx.is_admin)
    owner = f"compute:{instance.requested_zone or 'nova'}"
    entries = []
    for request in requests:
        if request.port_id:
            port = vif.claim_port(session, caller, request.port_id, instance.id, owner)
            entries.append({"network_id": port.network_id, "port_id": port.id, "preserve": True})
            continue
        port = vif.create_port(session, caller, request.network_id, instance.id, owner, groups, request.fixed_ip)
        entries.append({"network_id": port.network_id, "port_id": port.id, "preserve": False})
    return entries
