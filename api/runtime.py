"""The long-lived objects of one API process, built once by ``create_app`` and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import redis
from celery import Celery
from flask import current_app

from common import signing
from common.db import Database
from common.hostauth import HostVerifier
from common.queue import broker_pinger, make_publisher
from common.settings import Settings
from identity import credentials
from identity.catalog import Catalog
from identity.fernet import KeyRepository
from identity.tokens import TokenService
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
        return make_publisher(self.settings)

    @cached_property
    def host_verifier(self) -> HostVerifier:
        """Tells which compute host a host-role request comes from (``common.hostauth``), with the master key
        the queue client signs task messages with: the API is control side and holds it already."""
        return HostVerifier(signing.ensure_master_key(self.settings.effective_queue_keys_dir / "master.key"))

    @cached_property
    def credential_keys(self) -> KeyRepository:
        """The keys stored credential blobs are encrypted with (``identity.credentials``), not the token keys."""
        return credentials.open_keys(self.settings.effective_credential_key_repository)

    @cached_property
    def broker_pinger(self) -> redis.Redis | None:
        """Asks the broker whether it is there before a request changes anything it would have to send."""
        return broker_pinger(self.settings)


def runtime() -> Runtime:
    return current_app.extensions["stratus"]
