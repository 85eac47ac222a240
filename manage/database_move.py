"""A cloud's records moved from its SQLite file to PostgreSQL: what ``make up HA=1`` does to a cloud that ran
``make up`` before, so that going highly available keeps its projects, images, networks and servers.

Both schemas are Alembic's head (the target is migrated first, the source must be at the same revision), so every
table has the same columns on both sides; rows go over table by table in the order of their foreign keys, in one
transaction on the target, which must hold no rows yet (a half-done move is rolled back whole, and a second move
into a database already in use is refused). PostgreSQL's sequences then start after the highest id copied. The
SQLite file is left where it was, renamed, as the operator's copy of the state before the move.
"""

from __future__ import annotations

from pathlib import Path

from alembic.migration import MigrationContext
from sqlalchemy import Integer, delete, func, insert, select, text

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, make_engine
from common.settings import Settings
from manage import migrate

BATCH = 1000
MOVED_SUFFIX = ".moved-to-postgresql"


class MoveRefused(Exception):
    """The move would lose or mix records; the message says why and nothing was written."""


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def move(settings: Settings, sqlite_file: Path, target_url: str) -> dict[str, int]:
    """Copy every row of ``sqlite_file`` into ``target_url`` (migrated to head first); rows per table. The file
    is renamed with :data:`MOVED_SUFFIX` once the copy committed."""
    source_url = f"sqlite:///{sqlite_file}"
    migrate.upgrade(settings.replace(database_url=source_url))  # the file's schema at head, as the target's
    migrate.upgrade(settings.replace(database_url=target_url))
    if _revision(source_url) != _revision(target_url):
        raise MoveRefused("the SQLite file and PostgreSQL are at different schema revisions")
    source, target = make_engine(source_url), make_engine(target_url)
    copied: dict[str, int] = {}
    try:
        with source.connect() as reading, target.begin() as writing:
            users = Base.metadata.tables["users"]
            if writing.execute(select(func.count()).select_from(users)).scalar_one():
                raise MoveRefused("PostgreSQL already holds a cloud (it has users): the move would mix two clouds")
            for table in reversed(Base.metadata.sorted_tables):
                writing.execute(delete(table))
            for table in Base.metadata.sorted_tables:
                rows = reading.execute(select(table)).mappings()
                count = 0
                while batch := rows.fetchmany(BATCH):
                    writing.execute(insert(table), [dict(row) for row in batch])
                    count += len(batch)
                copied[table.name] = count
            for table in Base.metadata.sorted_tables:
                for column in table.primary_key.columns:
                    if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                        _restart_sequence(writing, table.name, column.name)
    finally:
        source.dispose()
        target.dispose()
    sqlite_file.rename(sqlite_file.with_name(sqlite_file.name + MOVED_SUFFIX))
    return copied


def _restart_sequence(connection: object, table: str, column: str) -> None:
    """The column's sequence (serial or identity) continues after the highest id copied; none: nothing to do."""
    sequence = connection.execute(  # type: ignore[attr-defined]
        text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table, "column": column}
    ).scalar_one()
    if sequence is None:
        return
    highest = connection.execute(text(f'SELECT max("{column}") FROM "{table}"')).scalar_one()  # type: ignore[attr-defined]
    if highest is not None:
        connection.execute(text("SELECT setval(:sequence, :value)"), {"sequence": sequence, "value": highest})  # type: ignore[attr-defined]
