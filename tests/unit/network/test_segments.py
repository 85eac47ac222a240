from __future__ import annotations

import random
import threading

import pytest

from common.exceptions import ConfigError
from common.settings import Settings
from network import segments
from network.exceptions import InvalidInput, NoNetworkAvailable, TunnelIdInUse
from network.models import Network
from tests.unit.network.records import network_row

RANGE = segments.VniRange(1001, 1010)


def test_range_comes_from_the_settings_and_is_checked():
    assert segments.VniRange.from_settings(Settings()) == segments.VniRange(1001, 16_000_000)
    for low, high in ((0, 10), (20, 10), (1, 1 << 24)):
        with pytest.raises(ConfigError):
            segments.VniRange.from_settings(Settings(network_vni_min=low, network_vni_max=high))


def test_pick_free_never_returns_a_used_vni_sparse_or_dense():
    rng = random.Random(3)
    big = segments.VniRange(1, 1 << 20)
    used = set(range(1, 5000))
    assert all(segments.pick_free(used, big, rng) not in used for _ in range(200))
    used = {1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010}
    assert {segments.pick_free(used, RANGE, rng) for _ in range(20)} == {1004}
    assert segments.pick_free(used | {1004}, RANGE, rng) is None
    assert segments.pick_free({1, 2, 99999}, RANGE, rng) in range(1001, 1011)  # outside values do not count


def test_networks_get_distinct_vnis_until_the_range_is_exhausted(db):
    with db.session() as session:
        for _ in range(RANGE.size):
            segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE)
        with pytest.raises(NoNetworkAvailable) as raised:
            segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE)
        assert raised.value.code == 503
        vnis = [n.segmentation_id for n in session.query(Network)]
    assert sorted(vnis) == list(range(1001, 1011))


def test_deleted_networks_free_their_vni(db):
    with db.session() as session:
        networks = [segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE) for _ in range(10)]
        freed = networks[3].segmentation_id
        session.delete(networks[3])
        session.flush()
        again = segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE)
        assert again.segmentation_id == freed


def test_requested_vni_in_use_is_a_409_and_out_of_range_a_400(db):
    with db.session() as session:
        session.add(network_row(vni=4242))
        session.flush()
        with pytest.raises(TunnelIdInUse, match="4242"):
            segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE, requested=4242)
        with pytest.raises(InvalidInput):
            segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE, requested=1 << 24)
        # an admin may pick a VNI outside the tenant range
        chosen = segments.insert_network(session, Network(project_id="p", mtu=1450), RANGE, requested=77)
        assert chosen.segmentation_id == 77


def test_concurrent_creates_never_share_a_vni(db):
    small = segments.VniRange(2000, 2039)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            for _ in range(5):
                with db.session() as session:
                    segments.insert_network(session, Network(project_id="p", mtu=1450), small)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with db.session() as session:
        vnis = [n.segmentation_id for n in session.query(Network)]
    assert sorted(vnis) == list(range(2000, 2040))
