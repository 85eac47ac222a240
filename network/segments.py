"""VXLAN segment (VNI) allocation for tenant networks.

A network's VNI is its ``segmentation_id`` column, unique across the table: a VNI is in use exactly while a
network holds it, and is free again once the network is deleted. Tenant networks get a random free VNI from
the configured range (``network_vni_min``..``network_vni_max``); admins may ask for any valid VNI, in the
range or not. Concurrent creates may pick the same value; the unique constraint refuses all but one, and
the losers pick again (see ``network.db``). Random picks keep such collisions rare even under load.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.exceptions import ConfigError
from common.settings import Settings
from network.db import insert_with_retry
from network.exceptions import InvalidInput, NoNetworkAvailable, TunnelIdInUse
from network.models import Network

VNI_MIN = 1
VNI_MAX = (1 << 24) - 1
ATTEMPTS = 20
_rng = random.SystemRandom()


@dataclass(frozen=True)
class VniRange:
    low: int
    high: int

    @classmethod
    def from_settings(cls, settings: Settings) -> VniRange:
        low, high = settings.network_vni_min, settings.network_vni_max
        if not VNI_MIN <= low <= high <= VNI_MAX:
            raise ConfigError(
                setting="network_vni_min/network_vni_max",
                reason=f"need {VNI_MIN} <= min <= max <= {VNI_MAX}, got {low}..{high}",
            )
        return cls(low, high)

    @property
    def size(self) -> int:
        return self.high - self.low + 1


def pick_free(used: set[int], vnis: VniRange, rng: random.Random = _rng) -> int | None:
    """A random VNI of the range not in ``used``, or None when the range is full.

    Sparse ranges (the usual case: millions of VNIs, thousands of networks) are sampled; dense ones are
    enumerated, which then costs at most about twice the number of networks.
    """
    taken = {vni for vni in used if vnis.low <= vni <= vnis.high}
    if len(taken) >= vnis.size:
        return None
    if len(taken) * 2 < vnis.size:
        while True:
            candidate = rng.randint(vnis.low, vnis.high)
            if candidate not in taken:
                return candidate
    return rng.choice([vni for vni in range(vnis.low, vnis.high + 1) if vni not in taken])


def used_vnis(session: Session, vnis: VniRange) -> set[int]:
    query = select(Network.segmentation_id).where(Network.segmentation_id.between(vnis.low, vnis.high))
    return set(session.scalars(query))


def check_requested(value: int) -> int:
    if not VNI_MIN <= value <= VNI_MAX:
        raise InvalidInput(error_message=f"provider:segmentation_id {value} is out of range {VNI_MIN}..{VNI_MAX}")
    return value


def insert_network(session: Session, network: Network, vnis: VniRange, requested: int | None = None) -> Network:
    """Add ``network`` with a VNI: ``requested`` (409 ``TunnelIdInUse`` if taken) or a free one from ``vnis``
    (503 ``NoNetworkAvailable`` when the range is exhausted). Runs inside the caller's transaction."""
    if requested is not None:
        network.segmentation_id = check_requested(requested)
        if insert_with_retry(session, 1, _flusher(session, network, lambda: requested)) is None:
            raise TunnelIdInUse(tunnel_id=requested)
        return network

    def choose() -> int:
        vni = pick_free(used_vnis(session, vnis), vnis)
        if vni is None:
            raise NoNetworkAvailable()
        return vni

    if insert_with_retry(session, ATTEMPTS, _flusher(session, network, choose)) is None:
        raise NoNetworkAvailable()
    return network


def _flusher(session: Session, network: Network, choose: Callable[[], int]) -> Callable[[int], Network]:
    def attempt(_number: int) -> Network:
        network.segmentation_id = choose()
        session.add(network)
        session.flush()
        return network

    return attempt
