"""The long-lived objects of one API process, built once by ``create_app`` and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from celery import Celery
from flask import current_app

from api.identity.catalog import Catalog
from api.identity.tokens import TokenService
from common.db import Database
from common.queue import make_celery
from common.settings import Settings
from image.store.base import ImageStore


@dataclass
class Runtime:
    settings: Settings
    db: Database
    tokens: TokenService
    catalog: Catalog
    image_store: ImageStore = field(repr=False)

    @cached_property
    def celery(self) -> Celery:
        """The queue client, made on first use: most requests never send a task."""
        return make_celery(self.settings)


def runtime() -> Runtime:
    return current_app.extensions["stratus"]
