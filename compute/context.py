"""What the control-side workflows share: the database, the queue, the settings. Built once per worker."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from common.db import Database
from common.settings import Settings


@dataclass(frozen=True)
class Control:
    db: Database
    app: Celery
    settings: Settings
