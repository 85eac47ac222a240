"""The service catalog: every Stratus API, on the one public URL, under its path prefix.

It is computed from the settings rather than stored, so it can never disagree with where the APIs really
are; ids are derived from the service type and interface, identical in every worker and across restarts.
The network endpoint is the unversioned root because clients append ``v2.0`` themselves; the compute one
carries ``v2.1`` as Nova's does. Block storage is listed twice, as ``block-storage`` (the type clients look for
first) and ``volumev3`` (what older clients and Tempest ask for), both at ``/volume/v3`` without a project id.

Beside these built-in entries, admins add regions, services and endpoints through ``/v3/regions``,
``/v3/services`` and ``/v3/endpoints`` (rows of ``identity.models``). The built-in entries stay read-only, so
nobody can break the cloud's own catalog; an API-made endpoint may still belong to a built-in service or
region. A token's catalog is both together, memoised per identity generation: every catalog write bumps
the generation (``identity.generation``), so every worker rebuilds it on its next request.

An API-made endpoint's URL may name the token's project or user as Keystone's do, ``$(project_id)s`` (or
``$(tenant_id)s``, ``$(user_id)s``, and the ``%(...)s`` spelling): each token's catalog fills them in, and leaves
out an endpoint whose URL needs a project for a token that has none, as Keystone does.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from common.db import Database
from identity.cache import Snapshot
from identity.models import CatalogEndpoint, CatalogService

INTERFACES = ("public", "internal", "admin")
URL_SUBSTITUTIONS = ("project_id", "tenant_id", "user_id")
_SUBSTITUTION = re.compile(r"[$%]\((\w+)\)s")
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
    Service("placement", "placement", "/placement", "Stratus placement (the compute hosts' capacity, read only)"),
)


def url_substitutions(url: str) -> set[str]:
    """The names a URL template substitutes; the API refuses any outside ``URL_SUBSTITUTIONS``."""
    return set(_SUBSTITUTION.findall(url))


def _fill(url: str, values: dict[str, str | None]) -> str | None:
    """``url`` with its substitutions filled in; None when one has no value (the endpoint is then left out)."""
    if any(values.get(name) is None for name in url_substitutions(url)):
        return None
    return _SUBSTITUTION.sub(lambda match: values[match.group(1)] or "", url)


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

    def token_catalog(
        self, db: Database, snapshot: Snapshot | None, project_id: str | None, user_id: str | None
    ) -> list[dict[str, Any]]:
        """The ``catalog`` of a token body: the built-in services, then the enabled API-made ones, each with its
        enabled endpoints (an enabled service without any is listed with none, as Keystone does), URL templates
        filled in for this project and user. Shared and read-only: callers must not mutate it."""
        if snapshot is None:
            catalog, templated = self._load_token_catalog(db)
        else:
            loaded = snapshot.lookups.get_or_load(("catalog",), lambda: self._load_token_catalog(db))
            catalog, templated = loaded  # type: ignore[misc]
        if not templated:
            return catalog
        values = {"project_id": project_id, "tenant_id": project_id, "user_id": user_id}
        filled = []
        for entry in catalog:
            endpoints = [{**e, "url": url} for e in entry["endpoints"] if (url := _fill(e["url"], values)) is not None]
            filled.append({**entry, "endpoints": endpoints})
        return filled

    def _load_token_catalog(self, db: Database) -> tuple[list[dict[str, Any]], bool]:
        """The catalog with URL templates as stored, and whether any URL has one."""
        with db.session() as session:
            services = [
                {"id": s.id, "type": s.type, "name": s.name, "endpoints": []}
                for s in session.scalars(
                    select(CatalogService).where(CatalogService.enabled).order_by(CatalogService.created_at)
                )
            ]
            added: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for e in session.scalars(
                select(CatalogEndpoint).where(CatalogEndpoint.enabled).order_by(CatalogEndpoint.created_at)
            ):
                added[e.service_id].append(
                    {
                        "id": e.id,
                        "interface": e.interface,
                        "region": e.region_id,
                        "region_id": e.region_id,
                        "url": e.url,
                    }
                )
        if not services and not added:
            return self._token_catalog, False
        templated = any(url_substitutions(e["url"]) for endpoints in added.values() for e in endpoints)
        catalog = [
            {**entry, "endpoints": entry["endpoints"] + added.get(entry["id"], [])} for entry in self._token_catalog
        ] + [{**entry, "endpoints": added.get(entry["id"], [])} for entry in services]
        return catalog, templated

    def is_builtin_service(self, service_id: str) -> bool:
        return any(s.id == service_id for s in SERVICES)

    def is_builtin_endpoint(self, endpoint_id_: str) -> bool:
        return any(endpoint_id(s, i) == endpoint_id_ for s in SERVICES for i in INTERFACES)

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
