"""image.service, the API's in-process entry to the image service: image records made in the caller's transaction."""

from __future__ import annotations

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.exceptions import Conflict
from common.settings import Settings
from image import service
from image.models import Image
from image.states import ImageStatus


def test_an_image_id_is_never_reused_even_after_its_image_was_deleted(db):
    attrs = {"id": "6b0c7e1e-0d7e-4c57-9a53-4a2f1f0d3c11", "name": "one", "tags": ["a", "a", "b"]}
    with db.session() as session:
        image = service.create_image(session, Settings(), "p1", "private", attrs, {"os_distro": "debian"})
        assert (image.status, image.tags, image.properties) == ("queued", ["a", "b"], {"os_distro": "debian"})
        image.status = ImageStatus.DELETED.value
    with db.session() as session, pytest.raises(Conflict):
        service.create_image(session, Settings(), "p1", "private", attrs, {})


def test_a_snapshot_is_a_private_queued_qcow2_image_and_discarding_it_twice_is_harmless(db):
    with db.session() as session:
        image_id = service.create_snapshot(session, "p1", "snap", 1, 64, {"image_type": "snapshot"})
    with db.session() as session:
        found = session.get_one(Image, image_id)
        assert (found.visibility, found.status, found.disk_format, found.min_disk) == ("private", "queued", "qcow2", 1)
        service.discard_snapshot(session, image_id)
    with db.session() as session:
        service.discard_snapshot(session, image_id)
        assert session.get(Image, image_id) is None
