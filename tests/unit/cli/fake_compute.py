"""A hand-written fake of the compute API's host and move calls, as ``cli.client.Cloud`` sees them: hosts
(``os-hypervisors/detail``, ``os-services``), servers, ``os-migrations`` and the move actions. A move advances
one step each time the CLI reads its server, so a test runs a whole drain without a clock; a server named
``stuck-...`` fails its live migration, as the cloud reports it (migration ``failed``, the reason in the
instance action). With ``placement`` set, the catalog has a placement endpoint that serves each host as a resource
provider with its ``VCPU`` and ``MEMORY_MB`` inventory (the host's size, reserve and allocation ratios)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from cli.client import CliError, Exit

LIVE_STEPS = ("queued", "preparing", "running", "completed")
COLD_STEPS = ("pre-migrating", "migrating", "post-migrating", "finished")


@dataclass
class FakeHost:
    name: str
    vcpus: int = 16
    memory_mb: int = 65536
    up: bool = True
    enabled: bool = True
    reason: str | None = None
    cpu_ratio: float = 4.0
    ram_ratio: float = 1.0
    reserved_mb: int = 0


@dataclass
class Answer:
    headers: dict[str, str]
    content: bytes = b""


@dataclass
class FakeCompute:
    hosts: dict[str, FakeHost] = field(default_factory=dict)
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    migrations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Every server action the CLI sent: (server id, body)."""
    messages: dict[str, str] = field(default_factory=dict)
    placement: bool = False
    placement_calls: list[tuple[str, str | None]] = field(default_factory=list)
    """Every placement request: (path, microversion)."""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- the scene --------------------------------------------------------------------------------------------

    def add_host(self, name: str, **values: Any) -> None:
        self.hosts[name] = FakeHost(name, **values)

    def add_server(self, name: str, host: str, status: str = "ACTIVE", vcpus: int = 1, ram: int = 1024) -> str:
        server_id = f"00000000-0000-0000-0000-{next(self._ids):012d}"
        self.servers[server_id] = {
            "id": server_id, "name": name, "status": status, "OS-EXT-STS:task_state": None,
            "OS-EXT-SRV-ATTR:host": host, "flavor": {"vcpus": vcpus, "ram": ram},
            "created": f"2026-12-07T00:{len(self.servers):02d}:00Z",
        }  # fmt: skip
        return server_id

    def on(self, host: str) -> list[str]:
        return sorted(s["name"] for s in self.servers.values() if s["OS-EXT-SRV-ATTR:host"] == host)

    # --- Cloud's interface ------------------------------------------------------------------------------------

    def call(self, method: str, service: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,),
             version: str | None = None) -> Any:  # fmt: skip
        if service == "placement":
            assert self.placement and method == "GET", (method, path)
            self.placement_calls.append((path, version))
            return self._placement(path.strip("/").split("/"))
        assert service == "compute"
        parsed = urlparse(path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        parts = parsed.path.strip("/").split("/")
        if method == "GET":
            return self._get(parts, query)
        if method == "PUT" and parts[0] == "os-services":
            return self._switch(parts[1], body)
        if method == "POST" and parts[0] == "servers" and parts[2] == "action":
            return self._action(parts[1], body)
        raise AssertionError(f"unexpected {method} {path}")

    def send(self, method: str, service: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,),
             version: str | None = None) -> Answer:  # fmt: skip
        request_id = self.call(method, service, path, body, expect, version)
        return Answer({"x-openstack-request-id": request_id})

    def has_service(self, service: str) -> bool:
        return service == "compute" or (service == "placement" and self.placement)

    def _placement(self, parts: list[str]) -> Any:
        providers = {f"rp-{h.name}": h for h in self.hosts.values()}
        if parts == ["resource_providers"]:
            return {"resource_providers": [{"uuid": u, "name": h.name, "generation": 1} for u, h in providers.items()]}
        host = providers[parts[1]]
        assert parts[2:] == ["inventories"], parts
        return {"inventories": {
            "VCPU": {"total": host.vcpus, "reserved": 0, "allocation_ratio": host.cpu_ratio},
            "MEMORY_MB": {"total": host.memory_mb, "reserved": host.reserved_mb, "allocation_ratio": host.ram_ratio},
        }, "resource_provider_generation": 1}  # fmt: skip

    # --- GET --------------------------------------------------------------------------------------------------

    def _get(self, parts: list[str], query: dict[str, str]) -> Any:
        if parts == ["os-hypervisors", "detail"]:
            return {"hypervisors": [self._hypervisor(h) for h in self.hosts.values()]}
        if parts == ["servers", "detail"]:
            assert query.get("all_tenants") == "1"
            found = [s for s in self.servers.values() if query.get("host") in (None, s["OS-EXT-SRV-ATTR:host"])]
            return {"servers": [dict(s) for s in found]}
        if parts[0] == "servers" and len(parts) == 2:
            self._advance(parts[1])
            return {"server": dict(self.servers[parts[1]])}
        if parts[0] == "servers" and parts[2] == "os-instance-actions":
            return {"instanceAction": {"message": self.messages.get(parts[3], ""), "events": []}}
        if parts == ["os-migrations"]:
            found = [m for m in self.migrations if all(m.get(k) == v for k, v in query.items() if k != "limit")]
            return {"migrations": [dict(m) for m in reversed(found)]}
        raise AssertionError(f"unexpected GET {parts}")

    def _hypervisor(self, host: FakeHost) -> dict[str, Any]:
        mine = [s for s in self.servers.values() if s["OS-EXT-SRV-ATTR:host"] == host.name]
        return {
            "hypervisor_hostname": host.name, "state": "up" if host.up else "down",
            "status": "enabled" if host.enabled else "disabled", "service": {"disabled_reason": host.reason},
            "vcpus": host.vcpus, "memory_mb": host.memory_mb, "running_vms": len(mine),
            "vcpus_used": sum(s["flavor"]["vcpus"] for s in mine),
            "memory_mb_used": sum(s["flavor"]["ram"] for s in mine),
        }  # fmt: skip

    # --- changes ----------------------------------------------------------------------------------------------

    def _switch(self, action: str, body: dict[str, Any]) -> Any:
        host = self.hosts[body["host"]]
        assert body["binary"] == "nova-compute"
        host.enabled, host.reason = action == "enable", body.get("disabled_reason")
        return {"service": {"host": host.name, "status": "enabled" if host.enabled else "disabled"}}

    def _action(self, server_id: str, body: dict[str, Any]) -> str:
        self.actions.append((server_id, body))
        server = self.servers[server_id]
        request_id = f"req-{next(self._ids)}"
        if "confirmResize" in body:
            record = self._record(server_id)
            record["status"], server["status"], server["OS-EXT-STS:task_state"] = "confirmed", "SHUTOFF", None
            return request_id
        live = "os-migrateLive" in body
        wanted = (body.get("os-migrateLive") or body.get("migrate") or {}).get("host")
        if server["status"] not in (("ACTIVE", "PAUSED") if live else ("ACTIVE", "SHUTOFF")):
            raise CliError(f"compute API: 409 Cannot '{'os-migrateLive' if live else 'migrate'}' instance "
                           f"{server_id} while it is in vm_state {server['status'].lower()}")  # fmt: skip
        target = wanted or self._scheduled(server)
        if target is None:
            raise CliError("compute API: 400 No valid host was found.", Exit.ERROR)
        self.migrations.append({
            "uuid": f"mig-{next(self._ids)}", "id": len(self.migrations) + 1, "instance_uuid": server_id,
            "migration_type": "live-migration" if live else "migration", "status": "accepted",
            "source_compute": server["OS-EXT-SRV-ATTR:host"], "dest_compute": target, "request_id": request_id,
            "created_at": f"2026-12-07T01:{len(self.migrations):02d}:00",
        })  # fmt: skip
        server["OS-EXT-STS:task_state"] = "migrating" if live else "resize_prep"
        if live:
            server["status"] = "MIGRATING"
        return request_id

    def _scheduled(self, server: dict[str, Any]) -> str | None:
        """The enabled, up host other than the server's with the most free RAM (the scheduler's spread)."""
        here = server["OS-EXT-SRV-ATTR:host"]
        choices = [self._hypervisor(h) for h in self.hosts.values() if h.enabled and h.up and h.name != here]
        choices = [h for h in choices if h["memory_mb"] - h["memory_mb_used"] >= server["flavor"]["ram"]]
        if not choices:
            return None
        return max(choices, key=lambda h: (h["memory_mb"] - h["memory_mb_used"], h["hypervisor_hostname"]))[
            "hypervisor_hostname"
        ]

    def _record(self, server_id: str) -> dict[str, Any]:
        return [m for m in self.migrations if m["instance_uuid"] == server_id][-1]

    def _advance(self, server_id: str) -> None:
        """One step of the server's move in flight: its migration's next status, its end."""
        mine = [m for m in self.migrations if m["instance_uuid"] == server_id]
        if not mine or mine[-1]["status"] in ("completed", "failed", "finished", "confirmed"):
            return
        record, server = mine[-1], self.servers[server_id]
        live = record["migration_type"] == "live-migration"
        steps = LIVE_STEPS if live else COLD_STEPS
        status = steps[steps.index(record["status"]) + 1] if record["status"] in steps else steps[0]
        if live and status == "running" and server["name"].startswith("stuck"):
            record["status"], server["status"], server["OS-EXT-STS:task_state"] = "failed", "ACTIVE", None
            self.messages[record["request_id"]] = "Live migration failed: the target refused the guest's CPU model"
            return
        record["status"] = status
        if status == "completed":
            server["status"], server["OS-EXT-STS:task_state"] = "ACTIVE", None
            server["OS-EXT-SRV-ATTR:host"] = record["dest_compute"]
        elif status == "finished":
            server["status"], server["OS-EXT-STS:task_state"] = "VERIFY_RESIZE", None
            server["OS-EXT-SRV-ATTR:host"] = record["dest_compute"]
