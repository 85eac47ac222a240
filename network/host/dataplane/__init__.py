"""Network dataplane drivers, chosen by the ``network_dataplane`` setting: ``linux`` (the real one: bridges,
VXLAN, nftables and dnsmasq on the host's kernel) or ``fake`` (in memory, for control-side tests and benchmarks).

Only this package runs ``ip``, ``bridge``, ``tc``, ``nft``, ``dnsmasq`` and ``sysctl``; everything else asks it.

Run by the network host agent (``network.host``) and by the admin CLI's host teardown (``manage``), on the host
whose kernel it changes. It imports ``common`` (settings, exceptions), ``network.wire``, ``network.devicenames``
and ``network.addresses``, never the database nor the control side; only this package may import its ``linux``
driver (callers use ``driver_for``), and only ``linux/runner`` starts processes.
"""

from __future__ import annotations

from common.exceptions import ConfigError
from common.settings import Settings
from network.host.dataplane.base import DataplaneDriver, HostUnderlay, checked_bridges


def driver_for(settings: Settings) -> DataplaneDriver:
    """A new driver for the host named by ``settings.host``; call ``init_host(underlay_for(settings))`` next."""
    if settings.network_dataplane == "fake":
        from network.host.dataplane.fake import FakeDataplane

        return FakeDataplane(settings.effective_host)
    if settings.network_dataplane == "linux":
        from network.host.dataplane.linux.driver import LinuxDataplane

        return LinuxDataplane(settings.effective_host, settings.state_path)
    raise ConfigError(
        setting="network_dataplane", reason=f"unknown driver {settings.network_dataplane!r} (linux, fake)"
    )


def underlay_for(settings: Settings) -> HostUnderlay:
    """The host's underlay from the settings. A real host with no ``network_underlay_ip`` uses the address the
    kernel would send from on its default route; a namespaced host must be given its address."""
    address = settings.network_underlay_ip
    if not address:
        if settings.network_namespace:
            raise ConfigError(setting="network_underlay_ip", reason="a namespaced host needs an explicit address")
        if settings.network_dataplane == "fake":
            address = "127.0.0.1"
        else:
            from network.host.dataplane.linux.inspect import default_route_address

            address = default_route_address()
    try:
        bridges = physical_bridges(settings.network_physical_bridges)
    except ValueError as exc:
        raise ConfigError(setting="network_physical_bridges", reason=str(exc)) from None
    try:
        return _underlay(settings, address, bridges)
    except ValueError as exc:
        raise ConfigError(setting="network_external_host_address", reason=str(exc)) from None


def physical_bridges(text: str) -> tuple[tuple[str, str], ...]:
    """``physnet:bridge[,physnet:bridge...]`` as pairs ("" is none); names are checked by ``HostUnderlay``."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        physnet, colon, bridge = item.partition(":")
        if not colon or not physnet or not bridge:
            raise ValueError(f"not 'physnet:bridge': {item!r}")
        pairs.append((physnet, bridge))
    return checked_bridges(pairs)


def _underlay(settings: Settings, address: str, bridges: tuple[tuple[str, str], ...]) -> HostUnderlay:
    return HostUnderlay(
        underlay_ip=address,
        namespace=settings.network_namespace or None,
        underlay_prefix=settings.network_underlay_prefix,
        underlay_bridge=settings.network_underlay_bridge,
        underlay_device=settings.network_underlay_device,
        underlay_mtu=settings.network_underlay_mtu,
        physical_bridges=bridges,
        external_host_address=settings.network_external_host_address,
    )
