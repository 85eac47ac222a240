"""Glance's ``import`` task as the image service runs it: a real HTTP source on 127.0.0.1, real files, SQLite.

What matters most: nothing is fetched from a source the operator did not list (no connection is even made), a
redirect cannot lead elsewhere, and a task that fails leaves no image and no staged data behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from common.db import Database
from common.exceptions import BadRequest
from common.settings import Settings
from image import sources, sweeper, web_import
from image.models import Image, ImageTask
from image.store.filesystem import FilesystemStore

DATA = b"\x00" * (1 << 20)


class Origin:
    """A tiny web server: ``/disk.raw`` serves DATA, ``/elsewhere`` redirects to ``redirect_to``; it counts hits."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.redirect_to = ""
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin.hits.append(self.path)
                if self.path == "/disk.raw":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(DATA)))
                    self.end_headers()
                    self.wfile.write(DATA)
                elif self.path == "/elsewhere":
                    self.send_response(302)
                    self.send_header("Location", origin.redirect_to)
                    self.end_headers()
                else:
                    self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    made = Origin()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "images")


def settings(tmp_path: Path, allowed: str) -> Settings:
    return Settings(state_dir=str(tmp_path), image_import_allowed_sources=allowed)


def task(db: Database, url: str, fmt: str = "raw") -> str:
    with db.session() as session:
        made = ImageTask(
            type="import",
            owner="p1",
            input={
                "import_from": url,
                "import_from_format": fmt,
                "image_properties": {"name": "fetched", "disk_format": fmt, "container_format": "bare", "os": "x"},
            },
        )
        session.add(made)
        session.flush()
        return made.id


def shown(db: Database, task_id: str) -> ImageTask:
    with db.session() as session:
        found = session.get_one(ImageTask, task_id)
        session.expunge(found)
        return found


def images(db: Database) -> list[Image]:
    with db.session() as session:
        found = list(session.scalars(select(Image)))
        session.expunge_all()
        return found


def test_an_allowed_source_becomes_an_active_image_and_a_redelivery_changes_nothing(db, store, tmp_path, origin):
    configured = settings(tmp_path, origin.url)
    task_id = task(db, f"{origin.url}/disk.raw")
    assert web_import.run_task(db, store, configured, task_id) == "success"
    done = shown(db, task_id)
    (image,) = images(db)
    assert done.status == "success" and done.result == {"image_id": image.id} and done.message == ""
    assert done.expires_at is not None and done.expires_at > datetime.now(UTC) + timedelta(hours=47)
    assert (image.status, image.size, image.owner, image.name) == ("active", len(DATA), "p1", "fetched")
    assert image.properties == {"os": "x"} and image.staging_location is None
    assert web_import.run_task(db, store, configured, task_id) == "success"
    assert len(images(db)) == 1


def test_with_no_allowed_source_the_task_fails_before_connecting_and_makes_no_image(db, store, tmp_path, origin):
    before = len(origin.hits)
    task_id = task(db, f"{origin.url}/disk.raw")
    assert web_import.run_task(db, store, settings(tmp_path, ""), task_id) == "failure"
    failed = shown(db, task_id)
    assert failed.status == "failure" and failed.result is None and "no web source" in failed.message
    assert failed.expires_at is not None
    assert images(db) == [] and len(origin.hits) == before


@pytest.mark.parametrize(
    ("path", "allowed_port_offset", "words"),
    [
        ("/disk.raw", 1, "is not one of the sources"),  # the same host on another port
        ("/missing.raw", 0, "HTTP 404"),
    ],
)
def test_an_unlisted_port_or_a_missing_file_fails_and_leaves_no_image(
    db, store, tmp_path, origin, path, allowed_port_offset, words
):
    port = origin.server.server_address[1] + allowed_port_offset
    task_id = task(db, f"{origin.url}{path}")
    assert web_import.run_task(db, store, settings(tmp_path, f"http://127.0.0.1:{port}"), task_id) == "failure"
    assert words in shown(db, task_id).message
    assert [i.status for i in images(db)] in ([], ["deleted"])
    assert list(store.staging.iterdir()) == []


def test_a_redirect_to_an_unlisted_source_is_not_followed(db, store, tmp_path, origin):
    origin.redirect_to = "http://169.254.169.254/latest/meta-data/"
    task_id = task(db, f"{origin.url}/elsewhere")
    assert web_import.run_task(db, store, settings(tmp_path, origin.url), task_id) == "failure"
    assert "169.254.169.254" in shown(db, task_id).message
    assert [i.status for i in images(db)] == ["deleted"]


def test_data_that_is_not_what_it_claims_fails_the_task(db, store, tmp_path, origin):
    task_id = task(db, f"{origin.url}/disk.raw", fmt="qcow2")
    assert web_import.run_task(db, store, settings(tmp_path, origin.url), task_id) == "failure"
    assert "not a valid qcow2 image" in shown(db, task_id).message
    (image,) = images(db)
    assert image.status == "deleted" and image.location is None


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x.img", "gopher://h/", "http:///nohost"])
def test_only_http_and_https_urls_with_a_host_are_import_sources(url):
    with pytest.raises(BadRequest):
        sources.check_shape(url)
    with pytest.raises(sources.SourceNotAllowed):
        sources.check(url, sources.parse_allowed("http://example.org"))


@pytest.mark.parametrize("entry", ["file:///", "https://h/some/path", "h:80", "https://h?x=1"])
def test_an_allowed_source_is_an_origin_or_the_setting_is_refused(entry):
    with pytest.raises(ValueError):
        sources.parse_allowed(entry)
    assert sources.parse_allowed(" https://A.example:8443/ ,http://b") == {
        sources.Source("https", "a.example", 8443),
        sources.Source("http", "b", 80),
    }


def test_the_sweeper_removes_expired_tasks_fails_orphans_and_resends_old_pending_ones(db):
    long_ago = datetime.now(UTC) - timedelta(days=1)
    with db.session() as session:
        for status, expires in (("success", long_ago), ("processing", None), ("pending", None), ("failure", None)):
            session.add(
                ImageTask(id=status, type="import", owner="p", status=status, expires_at=expires, created_at=long_ago)
            )
    assert sweeper.sweep_tasks(db, timedelta(hours=48)) == ["pending"]
    with db.session() as session:
        left = {t.id: (t.status, t.message) for t in session.scalars(select(ImageTask))}
    assert set(left) == {"processing", "pending", "failure"}
    assert left["processing"] == ("failure", "The image service stopped while running this task.")
    assert sweeper.sweep_tasks(db, timedelta(hours=48)) == []  # re-sent once per period
