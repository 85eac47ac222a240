"""What the compute host agent's work shares: its settings, its queue, a driver per host it serves, and its way to
the image API. One per ``stratus-compute`` process (``compute.host.agent``), passed to every handler of
``compute.host.work``, as ``compute.control.context.ComputeControl`` is on the control side.

There is no database here, by design: the settings are :class:`common.settings.HostSettings`, and images come over
the image API with a service token, each request signed as the host it is for (``common.hostauth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from celery import Celery
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from common import signing
from common.accounts import SERVICE_PROJECT, SERVICE_USER
from common.hostauth import HostSigner
from common.hostnames import served_hosts
from common.settings import HostSettings
from compute.host.imagecache import ImageCache
from compute.host.virt import driver_for
from compute.host.virt.base import ComputeDriver
from image import client as image_client


@dataclass(frozen=True)
class ComputeAgent:
    settings: HostSettings
    app: Celery
    drivers: Mapping[str, ComputeDriver]
    """A driver per host name this process serves (several only with the fake driver's simulated hosts)."""

    @classmethod
    def start(cls, settings: HostSettings, app: Celery) -> ComputeAgent:
        """The agent of this process, its drivers ready (``init_host``) for every host it serves."""
        drivers = {host: driver_for(settings, host) for host in served_hosts(settings)}
        for host, driver in drivers.items():
            driver.init_host(host)
        return cls(settings, app, drivers)

    @property
    def hosts(self) -> list[str]:
        return list(self.drivers)

    def driver(self, host: str) -> ComputeDriver:
        try:
            return self.drivers[host]
        except KeyError:
            raise LookupError(f"this agent does not serve host {host}") from None

    # Made on first use (a fake-driver agent never fetches an image); cached_property writes the instance's
    # __dict__ directly, so it works on a frozen dataclass.

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
