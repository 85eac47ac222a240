"""The work of a compute host agent: run what the scheduler sends, report what really runs.

The agent has no database access. It gets complete specs in its tasks, fetches images over the image API
with a service token, each request signed as the host it works for (``common.hostauth``), and tells the control
side every outcome through the ``events`` queue. Every handler takes the process's
:class:`compute.host.context.ComputeAgent` and is idempotent, because the queue may deliver a task twice.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from common.queue import HOST_SEQ_ARG, host_seq
from compute import client, root_disks
from compute.host.context import ComputeAgent
from compute.host.virt.base import (
    AttachedVolume,
    ComputeDriver,
    ConfigDrive,
    ConsoleKind,
    DriverError,
    InstanceNotFound,
    InstanceSpec,
    MigrationTarget,
    Nic,
    PowerState,
    VolumeConnection,
)

LOG = logging.getLogger(__name__)


def _instance_spec(agent: ComputeAgent, host: str, spec: dict[str, Any]) -> InstanceSpec:
    root_volume = AttachedVolume.from_dict(spec["root_volume"]) if spec.get("root_volume") else None
    base: Path | None
    rbd_snapshot = _clonable(agent, spec.get("image"))
    if root_volume is not None or rbd_snapshot is not None:
        base, base_format = None, "raw"
    elif agent.settings.compute_driver == "fake":
        base, base_format = Path("/dev/null"), "raw"
    else:
        cached = agent.image_cache.ensure(spec["image"], host)
        base, base_format = cached.path, cached.disk_format
    drive = spec.get("config_drive")
    config_drive = None
    if drive:
        user_data = drive.get("user_data")
        config_drive = ConfigDrive(
            meta_data=drive["meta_data"],
            network_data=drive.get("network_data") or {},
            user_data=base64.b64decode(user_data) if isinstance(user_data, str) else None,
        )
    return InstanceSpec(
        uuid=spec["uuid"],
        name=spec["name"],
        vcpus=spec["vcpus"],
        memory_mb=spec["memory_mb"],
        root_gb=spec["root_gb"],
        base_image=base,
        base_image_format=base_format,
        config_drive=config_drive,
        nics=tuple(Nic(**nic) for nic in spec.get("nics", [])),
        root_volume=root_volume,
        volumes=tuple(AttachedVolume.from_dict(volume) for volume in spec.get("volumes", [])),
        base_rbd_snapshot=rbd_snapshot if root_volume is None else None,
    )


instance_spec = _instance_spec
"""The driver's ``InstanceSpec`` of a spec from the control side (``compute.host.live_migration`` prepares a target
from it)."""


def _clonable(agent: ComputeAgent, image: Any) -> str | None:
    """The image's Ceph snapshot when this host makes root disks in Ceph and the image can be cloned (raw, stored
    in Ceph): the libvirt driver clones it instead of downloading the image."""
    if agent.settings.compute_driver != "libvirt" or not root_disks.in_ceph(agent.settings.images_type, image):
        return None
    return str(image["ceph_snapshot"])


def _power_state(agent: ComputeAgent, host: str, instance_id: str) -> int:
    """The instance's power state, NOSTATE when the hypervisor cannot say (gone, or unreachable: the outcome must
    still be reported, or the server would wait in its task state for ever)."""
    try:
        return int(agent.driver(host).get_info(instance_id).power_state)
    except InstanceNotFound:
        return int(PowerState.NOSTATE)
    except DriverError:
        LOG.exception("power state of %s on %s unknown", instance_id, host)
        return int(PowerState.NOSTATE)


def spawn(agent: ComputeAgent, host: str, spec: dict[str, Any], request_id: str) -> None:
    driver = agent.driver(host)
    try:
        driver.spawn(_instance_spec(agent, host, spec))
    except Exception as exc:  # any failure: clean up here, let the scheduler try another host
        LOG.exception("[%s] spawn of %s failed on %s", request_id, spec["uuid"], host)
        reason = str(exc)
        try:
            driver.destroy(spec["uuid"])
        except Exception as cleanup:  # the failure is reported all the same: a build must never wait unanswered
            # (the host's reconciliation removes a guest this host no longer runs once its hypervisor answers)
            LOG.exception("[%s] cleanup of %s on %s failed", request_id, spec["uuid"], host)
            reason = f"{reason}; cleaning up failed too: {cleanup}"
        agent.app.send_task(client.SPAWN_FAILED, args=[spec["uuid"], host, reason], kwargs={"request_id": request_id})
        return
    state = _power_state(agent, host, spec["uuid"])
    agent.app.send_task(client.SPAWNED, args=[spec["uuid"], host, state], kwargs={"request_id": request_id})


def destroy(agent: ComputeAgent, host: str, instance_id: str, request_id: str, report: bool = True) -> None:
    """``report`` False: a copy of a server that lives on another host is dropped here (a build that moved on, a
    server evacuated while this host was down), which is no delete to report: the driver's ``destroy_moved``, which
    never removes a disk the other copy uses (a Ceph root disk, a volume)."""
    driver = agent.driver(host)
    if report:
        driver.destroy(instance_id)
        agent.app.send_task(client.DESTROYED, args=[instance_id, host], kwargs={"request_id": request_id})
    elif type(driver).destroy_moved is ComputeDriver.destroy_moved:  # a driver that cannot tell shared disks apart
        LOG.warning("[%s] %s cannot drop only this host's copy of %s; destroying it", request_id, host, instance_id)
        driver.destroy(instance_id)
    else:
        driver.destroy_moved(instance_id)


def _evacuate(agent: ComputeAgent, host: str, instance_id: str, params: dict[str, Any]) -> None:
    """Rebuild here a server whose host is fenced (``spec``: its image, or its volumes; a Ceph root disk is opened
    again, not made anew), then power it off if it is to end stopped. A failed spawn leaves nothing here but never
    removes a disk the server's other copy may still use (``destroy_moved``)."""
    driver = agent.driver(host)
    try:
        driver.spawn(_instance_spec(agent, host, params["spec"]))
        if not params.get("power_on", True):
            driver.power_off(instance_id)
    except Exception:
        try:
            driver.destroy_moved(instance_id)
        except Exception:  # the report still goes; this host's report drops what is left (the server is elsewhere)
            LOG.exception("clean-up of the failed evacuation of %s on %s failed", instance_id, host)
        raise


def action(
    agent: ComputeAgent, host: str, instance_id: str, action: str, request_id: str, params: dict[str, Any]
) -> None:
    driver = agent.driver(host)
    error = None
    try:
        if action == "create_image":
            _snapshot(agent, host, instance_id, params["image_id"])
        elif action == "rebuild":
            driver.rebuild(_instance_spec(agent, host, params["spec"]), power_on=params.get("power_on", True))
        elif action == "resize":
            driver.resize(_instance_spec(agent, host, params["spec"]))
        elif action in VOLUME_ACTIONS:
            VOLUME_ACTIONS[action](driver, instance_id, params)
        elif action in LIFECYCLE_ACTIONS:
            LIFECYCLE_ACTIONS[action](agent, host, instance_id, params)
        elif action in COLD_MOVE_ACTIONS:
            COLD_MOVE_ACTIONS[action](agent, host, instance_id, params)
        else:
            _run_power_action(driver, instance_id, action)
    except Exception as exc:
        LOG.exception("[%s] %s of %s failed on %s", request_id, action, instance_id, host)
        error = str(exc)
    kept = ("attachment_id", "volume_id", "new_size", "snapshot_id", "port_id")
    result = {k: params[k] for k in kept if k in params} or None
    agent.app.send_task(
        client.ACTION_DONE,
        args=[instance_id, host, action, request_id, _power_state(agent, host, instance_id)],
        kwargs={"error": error, "result": result},
    )


def _attach_volume(driver: ComputeDriver, instance_id: str, params: dict[str, Any]) -> None:
    volume = AttachedVolume.from_dict(params)
    driver.attach_volume(instance_id, volume.connection, volume.device, volume.serial)


def _detach_volume(driver: ComputeDriver, instance_id: str, params: dict[str, Any]) -> None:
    device = str(params["device"]).removeprefix("/dev/")
    driver.detach_volume(instance_id, device, float(params.get("timeout", DETACH_TIMEOUT)))


def _extend_volume(driver: ComputeDriver, instance_id: str, params: dict[str, Any]) -> None:
    driver.extend_volume(instance_id, str(params["device"]).removeprefix("/dev/"), int(params["new_size"]) * GiB)


def _snapshot_volume(driver: ComputeDriver, instance_id: str, params: dict[str, Any]) -> None:
    device = str(params["device"]).removeprefix("/dev/")
    target = VolumeConnection.from_dict(params["target"])
    timeout = float(params.get("timeout", SNAPSHOT_TIMEOUT))
    driver.snapshot_volume(instance_id, device, str(params["volume_id"]), target, timeout)


GiB = 1 << 30
DETACH_TIMEOUT = 60.0
"""Longest a detach waits for the guest to release the disk when the control side names no timeout."""
SNAPSHOT_TIMEOUT = 1800.0
"""Longest a copy of an attached volume runs when the control side names no timeout."""


def _attach_interface(driver: ComputeDriver, instance_id: str, params: dict[str, Any]) -> None:
    nic = params["nic"]
    plug = Nic(mac=nic["mac"], tap=nic["tap"], mtu=int(nic["mtu"]), port_id=nic["port_id"], bridge=nic["bridge"])
    driver.attach_interface(instance_id, plug)


def _detach_interface(driver: ComputeDriver, instance_id: str, params: dict[str, Any]) -> None:
    driver.detach_interface(instance_id, str(params["mac"]), float(params.get("timeout", DETACH_TIMEOUT)))


VOLUME_ACTIONS = {
    "attach_volume": _attach_volume,
    "detach_volume": _detach_volume,
    "extend_volume": _extend_volume,
    "snapshot_volume": _snapshot_volume,
    "attach_interface": _attach_interface,
    "detach_interface": _detach_interface,
}
"""Volume work on a server (``params``: ``device``, ``serial`` and ``connection_info`` to attach, ``device`` and
``timeout`` to detach, ``device`` and ``new_size`` in GiB to extend, ``device``, ``volume_id`` (the disk's serial),
``target`` (a ``connection_info`` of the file to write) and ``timeout`` to copy for a snapshot;
``attachment_id``/``volume_id``/``snapshot_id`` come back in the report's ``result``), and NIC hot-plug work (``nic``
to plug, ``mac`` and ``timeout`` to unplug; ``port_id`` comes back)."""


def _shelve(agent: ComputeAgent, host: str, instance_id: str, params: dict[str, Any]) -> None:
    """The root disk to the shelved image (none for a volume-backed server), then off. A redelivered shelve of a
    guest already off uploads again: the image is still ``queued`` until the first upload lands."""
    if params.get("image_id"):
        _snapshot(agent, host, instance_id, str(params["image_id"]))
    agent.driver(host).power_off(instance_id, timeout=float(params.get("timeout", 60)))


def _shelve_offload(agent: ComputeAgent, host: str, instance_id: str, params: dict[str, Any]) -> None:
    agent.driver(host).destroy(instance_id)  # the guest, its disks and taps; its ports stay (unbound)


def _unshelve(agent: ComputeAgent, host: str, instance_id: str, params: dict[str, Any]) -> None:
    """Spawn from the shelved image (``spec``), or, still on its host (never offloaded), only power on. Idempotent:
    spawn starts an instance already defined."""
    if params.get("spec"):
        agent.driver(host).spawn(_instance_spec(agent, host, params["spec"]))
    else:
        agent.driver(host).power_on(instance_id)


def _rescue(agent: ComputeAgent, host: str, instance_id: str, params: dict[str, Any]) -> None:
    spec = _instance_spec(agent, host, params["spec"])
    rescue: dict[str, Any] = params["rescue_image"]
    if agent.settings.compute_driver == "fake":
        path, disk_format = Path("/dev/null"), "raw"
    else:
        cached = agent.image_cache.ensure(rescue, host)
        path, disk_format = cached.path, cached.disk_format
    agent.driver(host).rescue(spec, path, disk_format)


LIFECYCLE_ACTIONS = {
    "shelve": _shelve,
    "shelve_offload": _shelve_offload,
    "unshelve": _unshelve,
    "soft_delete": lambda agent, host, uuid, params: agent.driver(host).power_off(uuid, timeout=60),
    "restore": lambda agent, host, uuid, params: agent.driver(host).power_on(uuid),
    "rescue": _rescue,
    "unrescue": lambda agent, host, uuid, params: agent.driver(host).unrescue(uuid),
    "evacuate": _evacuate,
}
"""Shelve, soft delete, rescue and evacuation work on a server (``params``: ``image_id`` to shelve to; ``spec`` to
unshelve on a new host; ``spec`` and ``rescue_image`` (id, disk_format, checksum, size) to rescue; ``spec`` and
``power_on`` to rebuild here a server evacuated from a fenced host)."""


def _migration_target(params: dict[str, Any]) -> MigrationTarget:
    """The target as the control side read it from the target's own report, checked: a host name and an IP
    address, nothing that could be read as anything else where the driver uses them."""
    target = params.get("target")
    if not isinstance(target, dict) or not isinstance(target.get("host"), str) or not target["host"]:
        raise DriverError(reason="the migration names no target host")
    try:
        address = str(ipaddress.ip_address(str(target.get("address"))))
    except ValueError:
        raise DriverError(reason=f"the migration target {target['host']} has no valid address") from None
    return MigrationTarget(host=target["host"], address=address)


COLD_MOVE_ACTIONS = {
    "migrate_disk_and_power_off": lambda agent, host, uuid, params: agent.driver(host).migrate_disk_and_power_off(
        uuid, _migration_target(params)
    ),
    "finish_migration": lambda agent, host, uuid, params: agent.driver(host).finish_migration(
        _instance_spec(agent, host, params["spec"]), power_on=bool(params.get("power_on", True))
    ),
    "confirm_migration": lambda agent, host, uuid, params: agent.driver(host).confirm_migration(uuid),
    "finish_revert_migration": lambda agent, host, uuid, params: agent.driver(host).finish_revert_migration(
        uuid, power_on=bool(params.get("power_on", True))
    ),
    "destroy_moved": lambda agent, host, uuid, params: agent.driver(host).destroy_moved(uuid),
}
"""The steps of a cold move (``compute.control.cold_migration``), each the driver's call of that name, idempotent
as the driver's contract says; the outcome goes back as ``ACTION_DONE`` from this host, which the control side takes
only from the host whose step it is. ``params``: ``target`` (host, address) for the disk copy, ``spec`` and
``power_on`` to finish on the target, ``power_on`` to start the source's kept copy again."""


def _snapshot(agent: ComputeAgent, host: str, instance_id: str, image_id: str) -> None:
    with tempfile.TemporaryDirectory(dir=agent.settings.effective_instances_path.parent) as tmp:
        target = Path(tmp) / "snapshot.qcow2"
        agent.driver(host).snapshot(instance_id, target)
        url = f"{agent.image_url()}/v2/images/{image_id}/file"
        with target.open("rb") as data:
            response = agent.service_session.put(
                url,
                data=data,
                headers={"Content-Type": "application/octet-stream", **agent.signer.headers(host, "PUT", url)},
                raise_exc=False,
            )
        if response.status_code != 204:
            raise RuntimeError(f"the snapshot upload was refused: HTTP {response.status_code} {response.text}")


def console_output(agent: ComputeAgent, host: str, instance_id: str, max_bytes: int) -> str:
    return agent.driver(host).get_console_output(instance_id, max_bytes)


def console_endpoint(agent: ComputeAgent, host: str, instance_id: str, kind: str) -> dict[str, Any]:
    """Where the guest's console listens, or the reason it has none (told to the user as a 409)."""
    try:
        endpoint = agent.driver(host).get_console(instance_id, ConsoleKind(kind))
    except (DriverError, ValueError) as exc:
        return {"error": str(exc)}
    return {"host": endpoint.host, "port": endpoint.port, "kind": str(endpoint.kind)}


def diagnostics(agent: ComputeAgent, host: str, instance_id: str) -> dict[str, Any]:
    """The guest's live statistics, or the reason there are none (told to the user as a 409)."""
    try:
        return dataclasses.asdict(agent.driver(host).get_diagnostics(instance_id))
    except DriverError as exc:
        return {"error": str(exc)}


RATIOS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio")


@dataclasses.dataclass
class _Sent:
    digest: str
    at: float


_LAST_SENT: dict[str, _Sent] = {}
"""The last report each host of this process sent (its pool process keeps it between tasks; a new process starts
with a full report of every host)."""


def report(agent: ComputeAgent, host: str, changed_only: bool = False) -> bool:
    """Send what the host has and runs, numbered before it is looked at (an event sent while the report waits is
    newer, and the control side, taking both from different queues, tells from the numbers which one is).

    ``changed_only`` (the agent's periodic look): only when it differs from the last report sent, or that one is
    ``compute_full_report_interval`` old. 1,000 hosts reporting every 10 s whether or not anything changed sent the
    scheduler 100 reports a second at rest, more than it handles. A report of a change is kept queued for the full
    interval (it must arrive); the unchanged, periodic one expires after three looks (the next one says the same).
    True if sent."""
    seq = host_seq()
    driver = agent.driver(host)
    resources = driver.get_host_resources()
    instances = {info.uuid: int(info.power_state) for info in driver.list_instances()}
    # Where the other hosts reach this one (moves of guests between hypervisors): its underlay address.
    host_ip = agent.settings.network_underlay_ip or "127.0.0.1"
    settings = agent.settings
    ratios = {name: getattr(settings, name) for name in RATIOS}  # the operator's, as Nova's compute reports them
    capacity = {**resources.__dict__, "host_ip": host_ip, **ratios}
    digest = hashlib.sha256(json.dumps([capacity, instances], sort_keys=True).encode()).hexdigest()
    last, now = _LAST_SENT.get(host), time.monotonic()
    changed = last is None or last.digest != digest
    full_interval = settings.compute_full_report_interval
    if changed_only and not changed and now - last.at < full_interval:  # type: ignore[union-attr]
        return False
    _LAST_SENT[host] = _Sent(digest, now)
    agent.app.send_task(
        client.HOST_REPORT,
        args=[host, capacity, instances],
        kwargs={HOST_SEQ_ARG: seq},
        expires=max(full_interval, settings.compute_report_interval * 3)
        if changed
        else settings.compute_report_interval * 3,
    )
    return True


def _run_power_action(driver: ComputeDriver, instance_id: str, action: str) -> None:
    operations = {
        "stop": lambda: driver.power_off(instance_id),
        "start": lambda: driver.power_on(instance_id),
        "reboot": lambda: driver.reboot(instance_id, hard=False),
        "reboot_hard": lambda: driver.reboot(instance_id, hard=True),
        "pause": lambda: driver.pause(instance_id),
        "unpause": lambda: driver.unpause(instance_id),
        "suspend": lambda: driver.suspend(instance_id),
        "resume": lambda: driver.resume(instance_id),
        "confirm_resize": lambda: driver.confirm_resize(instance_id),
        "revert_resize": lambda: driver.revert_resize(instance_id),
    }
    operations[action]()
