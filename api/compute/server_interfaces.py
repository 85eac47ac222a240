"""``/servers/{id}/os-interface``: list, show, attach and detach a server's network interfaces (ports).

An attach makes (``net_id``, optionally at ``fixed_ips``) or claims (``port_id``) the port in the request's
transaction exactly as a server create does (``api.compute.server_networks``), records it on the server marked
``attaching`` and asks the network service to bind the server's ports on its host; the host hot-plugs the NIC
once its port is wired (``compute.control.interfaces``). The answer is Nova's: the port as it is now (``DOWN``
until wired). A detach marks the port ``detaching`` and has the host unplug it; the port is freed (deleted when
the attach or the create made it, given back otherwise) once the guest let it go, so it is listed until then.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import server_networks
from api.compute.microversions import at_least
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import validated_body
from common.db import begin_write
from common.exceptions import BadRequest, Conflict, NotFound
from compute import actions, client, service
from compute.models import ComputeHost, Instance
from compute.nics import ATTACHING, DETACHING
from compute.states import VmState
from network import client as network_client
from network import vif
from network.exceptions import NetworkNotFound, PortNotFound

bp = Blueprint("compute_server_interfaces", __name__, url_prefix="/compute/v2.1")

_HEX = "[0-9a-fA-F]"
_UUID = {"type": "string", "pattern": f"^{_HEX}{{8}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{12}}$"}
ATTACH = {
    "type": "object",
    "properties": {
        "interfaceAttachment": {
            "type": "object",
            "properties": {
                "net_id": _UUID,
                "port_id": _UUID,
                "fixed_ips": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {"ip_address": {"type": "string", "minLength": 1, "maxLength": 64}},
                        "required": ["ip_address"],
                        "additionalProperties": False,
                    },
                },
                "tag": {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
# Nova's states in which a NIC may be plugged or unplugged: a running, paused or stopped guest with no task.
_PLUGGABLE = {VmState.ACTIVE.value, VmState.PAUSED.value, VmState.STOPPED.value}


def _view(interface: vif.Interface, tag: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "port_state": interface.status,
        "fixed_ips": [{"subnet_id": subnet, "ip_address": address} for subnet, address in interface.fixed_ips],
        "mac_addr": interface.mac_address,
        "net_id": interface.network_id,
        "port_id": interface.port_id,
    }
    if at_least("2.70"):
        view["tag"] = tag
    return view


def _tags(instance: Instance) -> dict[str, str | None]:
    entries = instance.requested_networks if isinstance(instance.requested_networks, list) else []
    return {e["port_id"]: e.get("tag") for e in entries if isinstance(e, dict) and e.get("port_id")}


def _server(session: Session, ctx: RequestContext, server_id: str, for_update: bool = False) -> Instance:
    """The server the caller may see; ``for_update``: held until the commit (``compute.nics.locked``)."""
    if for_update:
        begin_write(session)
    query = select(Instance).where(Instance.id == server_id, Instance.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(Instance.project_id == ctx.project_id)
    found = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if found is None or len(server_id) > 36:
        raise NotFound(f"Instance {server_id} could not be found.")
    return found


@bp.get("/servers/<server_id>/os-interface")
def list_interfaces(server_id: str) -> Response:
    ctx = policy.enforce("compute:server_interfaces:read")
    with runtime().db.session() as session:
        instance = _server(session, ctx, server_id)
        tags = _tags(instance)
        found = vif.interfaces(session, instance.id, instance.project_id)
        return jsonify({"interfaceAttachments": [_view(i, tags.get(i.port_id)) for i in found]})


@bp.get("/servers/<server_id>/os-interface/<port_id>")
def show_interface(server_id: str, port_id: str) -> Response:
    ctx = policy.enforce("compute:server_interfaces:read")
    with runtime().db.session() as session:
        instance = _server(session, ctx, server_id)
        found = [i for i in vif.interfaces(session, instance.id, instance.project_id) if i.port_id == port_id]
        if not found:
            raise NotFound(f"Port {port_id} is not attached to instance {server_id}.")
        return jsonify({"interfaceAttachment": _view(found[0], _tags(instance).get(port_id))})


def _pluggable(session: Session, ctx: RequestContext, instance: Instance, action: str) -> str:
    """The server's host, once the server may have a NIC plugged or unplugged (409 otherwise)."""
    policy.enforce("compute:server_interfaces:write", {"project_id": instance.project_id})
    if instance.locked and not ctx.is_admin:
        raise Conflict(f"Instance {instance.id} is locked")
    if instance.vm_state not in _PLUGGABLE or instance.task_state is not None or not instance.host:
        state = instance.task_state or instance.vm_state
        raise Conflict(f"Cannot '{action}' instance {instance.id} while it is in {state}")
    rt = runtime()
    down_after = timedelta(seconds=rt.settings.compute_host_down_after)
    if not service.host_is_up(session.get(ComputeHost, instance.host), down_after):
        raise Conflict(f"Cannot '{action}' instance {instance.id}: its host is down.")
    return instance.host


def _request(session: Session, ctx: RequestContext, instance: Instance, body: dict[str, Any]) -> Any:
    """The one NIC to make, as a server create's ``networks`` entry would ask for it (Nova's errors)."""
    if body.get("net_id") and body.get("port_id"):
        raise BadRequest("Must not input both network_id and port_id")
    if body.get("fixed_ips") and not body.get("net_id"):
        raise BadRequest("Must input network_id when request IP address")
    if body.get("tag") and not at_least("2.49"):
        raise BadRequest("Invalid input for field/attribute interfaceAttachment. Additional properties are not allowed")
    caller = vif.Caller(instance.project_id, ctx.is_admin)
    if body.get("port_id"):
        try:
            port = vif.find_port(session, vif.Caller(ctx.project_id, ctx.is_admin), body["port_id"])
        except PortNotFound:
            raise NotFound(f"Port {body['port_id']} could not be found.") from None
        if port.project_id != instance.project_id:
            raise BadRequest(f"Port {port.id} not usable for instance {instance.id}: it belongs to another project.")
        if port.device_id:
            raise Conflict(f"Port {port.id} is still in use.")
        return server_networks.NetworkRequest(network_id=port.network_id, port_id=port.id)
    if body.get("net_id"):
        try:
            network_id = vif.usable_network_id(session, caller, body["net_id"])
        except NetworkNotFound:
            raise NotFound(f"Network {body['net_id']} could not be found.") from None
        fixed = body.get("fixed_ips") or [{}]
        return server_networks.NetworkRequest(network_id=network_id, fixed_ip=fixed[0].get("ip_address"))
    found = vif.auto_network_ids(session, instance.project_id, limit=2)
    if len(found) > 1:
        raise BadRequest("Multiple possible networks found, use a Network ID to be more specific.")
    if not found:
        raise BadRequest(
            f"No specific network was requested and none are available for project '{instance.project_id}'."
        )
    return server_networks.NetworkRequest(network_id=found[0])


@bp.post("/servers/<server_id>/os-interface")
def attach_interface(server_id: str) -> Response:
    ctx = current()
    body = validated_body(ATTACH).get("interfaceAttachment") or {}
    rt = runtime()
    with rt.db.session() as session:
        instance = _server(session, ctx, server_id, for_update=True)
        host = _pluggable(session, ctx, instance, "attach_interface")
        wanted = _request(session, ctx, instance, body)
        groups = server_networks.group_ids(session, instance.project_id, instance.security_groups or ["default"])
        entry = server_networks.create_ports(session, ctx, instance, [wanted], groups)[0]
        entry[ATTACHING] = True
        if body.get("tag"):
            entry["tag"] = body["tag"]
        existing = instance.requested_networks if isinstance(instance.requested_networks, list) else []
        instance.requested_networks = [*existing, entry]
        actions.record_action(session, instance, "attach_interface", ctx.request_id, ctx.user_id, ctx.project_id)
        made = {i.port_id: i for i in vif.interfaces(session, instance.id, instance.project_id)}
        view = _view(made[entry["port_id"]], entry.get("tag"))
        project_id = instance.project_id
        require_broker("network")
    send_after_commit(network_client.bind_instance, rt.celery, server_id, project_id, host, ctx.request_id)
    return jsonify({"interfaceAttachment": view})


@bp.delete("/servers/<server_id>/os-interface/<port_id>")
def detach_interface(server_id: str, port_id: str) -> Response:
    ctx = current()
    rt = runtime()
    with rt.db.session() as session:
        instance = _server(session, ctx, server_id, for_update=True)
        host = _pluggable(session, ctx, instance, "detach_interface")
        entries = list(instance.requested_networks) if isinstance(instance.requested_networks, list) else []
        entry = next((e for e in entries if isinstance(e, dict) and e.get("port_id") == port_id), None)
        attached = {i.port_id: i for i in vif.interfaces(session, instance.id, instance.project_id)}
        if entry is None or port_id not in attached:
            raise NotFound(f"Port {port_id} is not attached to instance {server_id}.")
        if entry.get(DETACHING):
            return Response(status=202)  # already asked: the host is unplugging it
        # An attach still on its way is unplugged once plugged (compute.control.interfaces.done)
        marked = {**entry, DETACHING: True, "detach_request": ctx.request_id}
        instance.requested_networks = [marked if e is entry else e for e in entries]
        actions.record_action(session, instance, "detach_interface", ctx.request_id, ctx.user_id, ctx.project_id)
        mac = attached[port_id].mac_address
        require_broker("compute")
    send_after_commit(
        client.agent_action, rt.celery, host, server_id, "detach_interface", ctx.request_id, port_id=port_id, mac=mac
    )
    return Response(status=202)
