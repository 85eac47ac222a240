"""The service catalog: every Stratus API, on the one public URL, under its path prefix.

It is computed from the settings rather than stored, so it can never disagree with where the APIs really
are; ids are derived from the service type and interface, identical in every worker and across restarts.
The network endpoint is the unversioned root because clients append ``v2.0`` themselves; the compute one
carries ``v2.1`` as Nova's does. Block storage is listed twice, as ``block-storage`` (the type clients look for
first) and ``volumev3`` (what older clients and Tempest ask for), both at ``/volume/v3`` without a project id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

INTERFACES = ("public", "internal", "admin")
_NAMESPACE = uuid.UUID("5b3f0a54-3c0e-4a8e-9a2f-7f8c1b6d2e10")


@dataclass(frozen=True)
class Service:
    type: str
    name: str
    path: str
    description: str

    @property
    def id(self) -> str:
        return uuid.uuid5(_NAMESPACE, f"service:{self.type}").hex


SERVICES = (
    Service("identity", "keystone", "/identity", "Stratus identity (Keystone v3)"),
    Service("compute", "nova", "/compute/v2.1", "Stratus compute (Nova v2.1)"),
    Service("network", "neutron", "/network", "Stratus network (Neutron v2.0)"),
    Service("image", "glance", "/image", "Stratus image (Glance v2)"),
    Service("block-storage", "cinder", "/volume/v3", "Stratus block storage (Cinder v3)"),
    Service("volumev3", "cinderv3", "/volume/v3", "Stratus block storage (Cinder v3), by its older type"),
)


def endpoint_id(service: Service, interface: str) -> str:
    return uuid.uuid5(_NAMESPACE, f"endpoint:{service.type}:{interface}").hex


class Catalog:
    def __init__(self, public_url: str, region: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.region = region
        self._token_catalog = [self._token_entry(s) for s in SERVICES]

    def endpoint_url(self, service: Service) -> str:
        return self.public_url + service.path

    def _endpoint(self, service: Service, interface: str) -> dict[str, Any]:
        return {
            "id": endpoint_id(service, interface),
            "interface": interface,
            "region": self.region,
            "region_id": self.region,
            "url": self.endpoint_url(service),
        }

    def _token_entry(self, service: Service) -> dict[str, Any]:
        return {
            "id": service.id,
            "type": service.type,
            "name": service.name,
            "endpoints": [self._endpoint(service, i) for i in INTERFACES],
        }

    def token_catalog(self) -> list[dict[str, Any]]:
        """The ``catalog`` of a token body. Shared and read-only: callers must not mutate it."""
        return self._token_catalog

    def services(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "type": s.type,
                "name": s.name,
                "description": s.description,
                "enabled": True,
                "links": {"self": f"{self.public_url}/identity/v3/services/{s.id}"},
            }
            for s in SERVICES
        ]

    def endpoints(self) -> list[dict[str, Any]]:
        return [
            {
                **self._endpoint(s, i),
                "service_id": s.id,
                "enabled": True,
                "links": {"self": f"{self.public_url}/identity/v3/endpoints/{endpoint_id(s, i)}"},
            }
            for s in SERVICES
            for i in INTERFACES
        ]

    def regions(self) -> list[dict[str, Any]]:
        return [
            {
                "id": self.region,
                "description": "",
                "parent_region_id": None,
                "links": {"self": f"{self.public_url}/identity/v3/regions/{self.region}"},
            }
        ]
