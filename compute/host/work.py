"""The work of a compute host agent: run what the scheduler sends, report what really runs.

The agent has no database access. It gets complete specs in its tasks, fetches images over the image API
with a service token, each request signed as the host it works for (``common.hostauth``), and tells the control
side every outcome through the ``events`` queue. Every handler is idempotent, because the queue may deliver a task
twice.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from celery import Celery
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from common import signing
from common.accounts import SERVICE_PROJECT, SERVICE_USER
from common.hostauth import HostSigner
from common.hostnames import served_hosts
from common.settings import HostSettings
from compute import client
from compute.host.imagecache import ImageCache
from compute.host.virt import driver_for
from compute.host.virt.base import ComputeDriver, ConfigDrive, InstanceNotFound, InstanceSpec, Nic, PowerState
from image import client as image_client

LOG = logging.getLogger(__name__)


class HostAgent:
    def __init__(self, settings: HostSettings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self.hosts = served_hosts(settings)
        self.drivers: dict[str, ComputeDriver] = {host: driver_for(settings, host) for host in self.hosts}
        for host, driver in self.drivers.items():
            driver.init_host(host)

    @cached_property
    def service_session(self) -> ks_session.Session:
        auth = v3.Password(
            auth_url=f"{self.settings.effective_public_url}/identity/v3",
            username=SERVICE_USER,
            password=self.settings.service_password,
            project_name=SERVICE_PROJECT,
            user_domain_id="default",
            project_domain_id="default",
        )
        return ks_session.Session(auth=auth)

    @cached_property
    def signer(self) -> HostSigner:
        """Signs image requests as the host each is for, with the keys of the agent's message key file (the one
        ``common.queue.message_auth`` reads: a key for each host name this agent acts for)."""
        keys_file = self.settings.effective_queue_keys_dir / "hosts" / f"{self.settings.effective_host}.keys"
        return HostSigner(signing.read_host_keys(keys_file))

    def image_url(self) -> str:
        return self.service_session.get_endpoint(service_type="image", interface="public").rstrip("/")

    @cached_property
    def image_cache(self) -> ImageCache:
        return ImageCache(
            self.settings.effective_image_cache_path,
            lambda: self.service_session,  # type: ignore[arg-type, return-value]
            self.image_url,
            lambda image_id, fmt: image_client.ensure_variant(self.app, image_id, fmt),
            self.signer,
        )

    def driver(self, host: str) -> ComputeDriver:
        try:
            return self.drivers[host]
        except KeyError:
            raise LookupError(f"this agent does not serve host {host}") from None

    def _instance_spec(self, host: str, spec: dict[str, Any]) -> InstanceSpec:
        if self.settings.compute_driver == "fake":
            base, base_format = Path("/dev/null"), "raw"
        else:
            cached = self.image_cache.ensure(spec["image"], host)
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
        )

    def _power_state(self, host: str, instance_id: str) -> int:
        try:
            return int(self.driver(host).get_info(instance_id).power_state)
        except InstanceNotFound:
            return int(PowerState.NOSTATE)

    def spawn(self, host: str, spec: dict[str, Any], request_id: str) -> None:
        driver = self.driver(host)
        try:
            driver.spawn(self._instance_spec(host, spec))
        except Exception as exc:  # any failure: clean up here, let the scheduler try another host
            LOG.exception("[%s] spawn of %s failed on %s", request_id, spec["uuid"], host)
            driver.destroy(spec["uuid"])
            self.app.send_task(
                client.SPAWN_FAILED, args=[spec["uuid"], host, str(exc)], kwargs={"request_id": request_id}
            )
            return
        state = self._power_state(host, spec["uuid"])
        self.app.send_task(client.SPAWNED, args=[spec["uuid"], host, state], kwargs={"request_id": request_id})

    def destroy(self, host: str, instance_id: str, request_id: str, report: bool = True) -> None:
        """``report`` False: a build that moved to another host is dropped here, which is no delete to report."""
        self.driver(host).destroy(instance_id)
        if report:
            self.app.send_task(client.DESTROYED, args=[instance_id, host], kwargs={"request_id": request_id})

    def action(self, host: str, instance_id: str, action: str, request_id: str, params: dict[str, Any]) -> None:
        driver = self.driver(host)
        error = None
        try:
            if action == "create_image":
                self._snapshot(host, instance_id, params["image_id"])
            elif action == "rebuild":
                driver.rebuild(self._instance_spec(host, params["spec"]), power_on=params.get("power_on", True))
            elif action == "resize":
                driver.resize(self._instance_spec(host, params["spec"]))
            else:
                _run_power_action(driver, instance_id, action)
        except Exception as exc:
            LOG.exception("[%s] %s of %s failed on %s", request_id, action, instance_id, host)
            error = str(exc)
        self.app.send_task(
            client.ACTION_DONE,
            args=[instance_id, host, action, request_id, self._power_state(host, instance_id)],
            kwargs={"error": error},
        )

    def _snapshot(self, host: str, instance_id: str, image_id: str) -> None:
        with tempfile.TemporaryDirectory(dir=self.settings.effective_instances_path.parent) as tmp:
            target = Path(tmp) / "snapshot.qcow2"
            self.driver(host).snapshot(instance_id, target)
            url = f"{self.image_url()}/v2/images/{image_id}/file"
            with target.open("rb") as data:
                response = self.service_session.put(
                    url,
                    data=data,
                    headers={"Content-Type": "application/octet-stream", **self.signer.headers(host, "PUT", url)},
                    raise_exc=False,
                )
            if response.status_code != 204:
                raise RuntimeError(f"the snapshot upload was refused: HTTP {response.status_code} {response.text}")

    def console_output(self, host: str, instance_id: str, max_bytes: int) -> str:
        return self.driver(host).get_console_output(instance_id, max_bytes)

    def report(self, host: str) -> None:
        driver = self.driver(host)
        resources = driver.get_host_resources()
        instances = {info.uuid: int(info.power_state) for info in driver.list_instances()}
        self.app.send_task(
            client.HOST_REPORT,
            args=[host, {**resources.__dict__, "host_ip": "127.0.0.1"}, instances],
            expires=self.settings.compute_report_interval * 3,
        )


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
