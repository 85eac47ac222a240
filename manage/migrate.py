"""Database migrations with Alembic, driven from the settings rather than an alembic.ini."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from common.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.effective_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    settings.state_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database and not os.path.exists(url.database):
        # It holds password hashes: only its owner may read it (SQLite gives -wal/-shm the same mode).
        os.close(os.open(url.database, os.O_WRONLY | os.O_CREAT, 0o600))
    command.upgrade(alembic_config(settings), revision)


def new_revision(settings: Settings, message: str) -> None:
    """Autogenerate a migration from the models (a developer tool: ``stratus-manage db-revision``)."""
    command.revision(alembic_config(settings), message=message, autogenerate=True)
