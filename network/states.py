"""The states a network resource shows in Neutron's ``status`` attribute, as the network service sets them.

Public: the API, the control side and compute may import this module (it imports nothing). The values are
Neutron's strings, stored as they are in the ``status`` columns and shown unchanged in the API, so clients that
filter on ``status=ACTIVE`` keep working.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["NetworkStatus", "PortStatus"]


class PortStatus(StrEnum):
    """Whether a port carries traffic on its host: Neutron's "port up", the signal compute waits for.

    A port moves only between these two, and only the network control side moves it
    (``network.control.sync.ports_wired`` from the host agent's report; binding, a DHCP server's move and a
    release put it back to DOWN). Neutron's BUILD and ERROR are not declared because no Stratus port passes
    through them: a port being wired is DOWN, and a host that fails to wire it leaves it DOWN and fails the
    server's build instead (compute's ``network_failed``).
    """

    ACTIVE = "ACTIVE"
    """Bound to a host whose agent reported it wired and filtered: the guest's traffic flows."""
    DOWN = "DOWN"
    """Not wired: unbound, just bound or rebound and waiting for its host's agent, or its host failed to wire
    it. New ports start here."""


class NetworkStatus(StrEnum):
    """A network's status. Stratus has no provisioning step for a network (its VXLAN segment exists on a host as
    soon as a port there needs it), so a network is ACTIVE from its creation; Neutron's BUILD, DOWN and ERROR do
    not occur."""

    ACTIVE = "ACTIVE"
    """Usable: ports may be created on it."""
