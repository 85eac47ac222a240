"""Database migrations with Alembic, driven from the settings rather than an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from common.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.effective_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    settings.state_path.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def new_revision(settings: Settings, message: str) -> None:
    """Autogenerate a migration from the models (a developer tool: ``stratus-manage db-revision``)."""
    command.revision(alembic_config(settings), message=message, autogenerate=True)
