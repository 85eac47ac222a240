"""An in-memory dataplane, shipped in the product: control-side tests and scale benchmarks use it.

It keeps the last applied state per host (routers included), honours the same generation rule as the real
driver, reports every port wired (routers' ports too) and every router applied, and can be told to fail for given
networks so callers can exercise their error paths. It never replaces the Linux driver in end-to-end tests.
"""

from __future__ import annotations

import threading
import time

from network.host.dataplane.base import ApplyResult, DataplaneDriver, DataplaneError, HostUnderlay
from network.wire import BandwidthLimit, HostWiring


class FakeDataplane(DataplaneDriver):
    def __init__(self, host: str, delay: float = 0.0, failing_networks: dict[str, str] | None = None) -> None:
        self.host = host
        self.delay = delay
        self.failing_networks: dict[str, str] = dict(failing_networks or {})
        """network id -> the error message ``apply`` reports for it (its ports are then not wired)."""
        self.underlay: HostUnderlay | None = None
        self.state: HostWiring | None = None
        """The state in effect: the last one applied and not stale."""
        self.applied: list[HostWiring] = []
        """Every state applied, stale ones included, in order (for assertions on what the control side sent)."""
        self._lock = threading.Lock()

    def fail_network(self, network_id: str, message: str = "injected failure") -> None:
        with self._lock:
            self.failing_networks[network_id] = message

    def init_host(self, underlay: HostUnderlay) -> None:
        self.underlay = underlay

    def apply(self, wiring: HostWiring) -> ApplyResult:
        if self.underlay is None:
            raise DataplaneError(reason=f"host {self.host}: apply before init_host")
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.applied.append(wiring)
            if self.state is not None and wiring.generation < self.state.generation:
                return ApplyResult(
                    generation=self.state.generation,
                    wired=self._wired(self.state),
                    stale=True,
                    routers=tuple(r.router_id for r in self.state.routers),
                )
            self.state = wiring
            errors = {
                n.network_id: self.failing_networks[n.network_id]
                for n in wiring.networks
                if n.network_id in self.failing_networks
            }
            routers = tuple(r.router_id for r in wiring.routers)
            return ApplyResult(generation=wiring.generation, wired=self._wired(wiring), errors=errors, routers=routers)

    def _wired(self, wiring: HostWiring) -> tuple[str, ...]:
        wired: list[str] = []
        for network in wiring.networks:
            if network.network_id in self.failing_networks:
                continue
            wired.extend(port.port_id for port in network.ports)
            if network.dhcp is not None and network.dhcp.port_id not in wired:
                wired.append(network.dhcp.port_id)
        for router in wiring.routers:  # as the real driver: a router's ports are wired with it
            wired.extend(i.port_id for i in router.interfaces)
            wired.extend([router.gateway.port_id] if router.gateway is not None else [])
        return tuple(wired)

    def bandwidth(self, port_id: str) -> tuple[BandwidthLimit, ...]:
        """The QoS limits the state in effect shapes a port with (what the Linux driver puts on its veth ends)."""
        with self._lock:
            state = self.state
        for network in state.networks if state is not None else ():
            for port in network.ports:
                if port.port_id == port_id:
                    return port.bandwidth
        return ()

    def retire(self) -> None:
        self.teardown()  # nothing of a fake host outlives its process

    def teardown(self) -> None:
        with self._lock:
            self.state = None
