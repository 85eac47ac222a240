"""What the control-side workflows share: the database, the queue, the settings, the scheduler's host cache.
Built once per worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import Celery

from common.db import Database
from common.settings import Settings
from compute.control.host_cache import HostStateCache


@dataclass(frozen=True)
class ComputeControl:
    db: Database
    app: Celery
    settings: Settings
    hosts: HostStateCache = field(default_factory=HostStateCache)
