"""An instance's counted cores and RAM follow its flavors on every write: at create, through the resize's
compare-and-swap updates (the larger flavor while a resize waits), after confirm and after revert."""

from __future__ import annotations

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Database
from compute import service
from compute.models import Instance
from tests.unit.quota.conftest import flavor, instance


def _counted(db: Database, instance_id: str) -> tuple[int, int]:
    with db.session() as session:
        found = session.get_one(Instance, instance_id)
        return found.quota_vcpus, found.quota_memory_mb


def test_counted_resources_follow_create_resize_confirm_and_revert(db):
    small, large = flavor(1, 512, "small"), flavor(4, 4096, "large")
    with db.session() as session:
        server = instance(vcpus=1, ram=512)
        session.add(server)
    assert _counted(db, server.id) == (1, 512)

    with db.session() as session:  # resize down: the old, larger flavor still counts until confirmed
        service.swap(session, server.id, {}, old_flavor=large, flavor=small)
    assert _counted(db, server.id) == (4, 4096)
    with db.session() as session:  # confirm keeps the new flavor
        service.swap(session, server.id, {}, old_flavor=None)
    assert _counted(db, server.id) == (1, 512)

    with db.session() as session:  # resize up, then revert (resize.undo's columns)
        service.swap(session, server.id, {}, old_flavor=small, flavor=large)
    assert _counted(db, server.id) == (4, 4096)
    with db.session() as session:
        service.swap(session, server.id, {}, flavor=small, old_flavor=None)
    assert _counted(db, server.id) == (1, 512)


def test_an_orm_change_of_the_flavor_is_counted_too(db):
    with db.session() as session:
        server = instance(vcpus=1, ram=512)
        session.add(server)
    with db.session() as session:
        session.get_one(Instance, server.id).flavor = flavor(2, 2048)
    assert _counted(db, server.id) == (2, 2048)
