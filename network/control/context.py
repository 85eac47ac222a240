"""What the network control side's workflows share: the database, the queue, the settings. Built once per
``stratus-network`` worker (``network.control.tasks``) and passed to every workflow."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from common.db import Database
from common.settings import Settings


@dataclass(frozen=True)
class NetworkControl:
    db: Database
    app: Celery
    settings: Settings
