"""A host may read the image of a server moving to it while the move prepares the guest there (the target is not
the server's host until the move finishes), and of no other move's: not before it is picked, not once it is done,
never another target's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

import manage.models  # noqa: F401 - every table on the metadata
from api.image.access import needed_by_host
from common.db import Database
from compute.models import Instance, Migration
from image.models import Image
from tests.unit.conftest import fresh_database

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}


def _moving(db: Database, status: str) -> str:
    """A tenant's private image, its server on h1 and a move of it to h2 at ``status``; the image's id."""
    with db.session() as session:
        image = Image(owner="tenant", visibility="private", status="active")
        session.add(image)
        session.flush()
        instance = Instance(
            name="vm", project_id="tenant", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            image_ref=image.id, host="h1", vm_state="active", task_state="resize_migrating", requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        session.add(
            Migration(instance_id=instance.id, migration_type="migration", status=status, source_compute="h1",
                      dest_compute="h2")
        )  # fmt: skip
        return image.id


def _readable(db: Database, host: str) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(Image.id).where(needed_by_host(host))))


@pytest.mark.parametrize(
    ("status", "target_reads"),
    [("pre-migrating", True), ("migrating", True), ("post-migrating", True), ("preparing", True),
     ("finished", False), ("confirmed", False), ("error", False), ("accepted", False)],
)  # fmt: skip
def test_only_the_target_of_a_move_that_prepares_there_reads_its_image(tmp_path: Path, status, target_reads):
    for db in fresh_database(tmp_path / "access.db"):
        image = _moving(db, status)
        assert (image in _readable(db, "h2")) is target_reads
        assert image not in _readable(db, "h3")
        assert image not in _readable(db, "h1")  # the source is not fetching: its task is no build's
