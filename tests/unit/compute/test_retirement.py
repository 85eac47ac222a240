"""Retiring hosts a machine no longer runs: they leave the lists, unless servers still point at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from compute.control import retirement
from compute.models import ComputeHost, Instance
from network.models import NetworkHost


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'retire.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as session:
        for name in ("empty", "busy", "kept"):
            session.add(ComputeHost(name=name))
            session.add(NetworkHost(host=name, underlay_ip="198.18.0.1", networks=[]))
        session.add(
            Instance(name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor={},
                     image_ref="i", host="busy", requested_networks=[])
        )  # fmt: skip
    yield database
    database.dispose()


def test_a_retired_host_without_servers_leaves_the_compute_and_network_lists(db):
    with db.session() as session:
        assert retirement.retire(session, ["empty", "nowhere"]) == {"empty": "removed", "nowhere": "unknown"}
    with db.session() as session:
        assert session.get(ComputeHost, "empty") is None and session.get(NetworkHost, "empty") is None
        assert session.get(ComputeHost, "kept") is not None


def test_a_retired_host_that_holds_servers_is_forced_down_and_disabled_not_deleted(db):
    with db.session() as session:
        assert retirement.retire(session, ["busy"]) == {"busy": "kept down: 1 servers"}
    with db.session() as session:
        host = session.get_one(ComputeHost, "busy")
        assert host.forced_down and not host.enabled and host.disabled_reason == retirement.RETIRED_REASON
        session.query(Instance).delete()
    with db.session() as session:  # its servers are gone: retiring it again removes it
        assert retirement.retire(session, ["busy"]) == {"busy": "removed"}
