"""The one SQLAlchemy declarative base, engine construction and session handling.

SQLite is opened in WAL mode with foreign keys on and a busy timeout, so several API workers and Celery
workers can share it on one machine; PostgreSQL is used as is.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import orjson
from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """Keystone's ids: 32 hex characters."""
    return uuid.uuid4().hex


def new_uuid() -> str:
    """Nova, Neutron and Glance ids: dashed UUIDs."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored naive in UTC and returned timezone-aware, identically on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, onupdate=utcnow)


def IdColumn() -> Mapped[str]:
    return mapped_column(String(64), primary_key=True, default=new_id)


def begin_write(session: Session) -> None:
    """Make sure ``session`` is inside a real write transaction (no-op if it already is).

    Python's sqlite3 driver opens a transaction only before the first INSERT, UPDATE or DELETE, so reads made
    before it are not isolated from concurrent writers. On SQLite this issues ``BEGIN IMMEDIATE``, which takes
    the database's single write lock at once: every read that follows sees every committed write, and no
    other writer commits until this transaction ends (savepoints nest inside it, and a counted quota check
    relies on it). PostgreSQL transactions are always open; callers take row locks there.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


UNREACHABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "25006"})
"""Server answers that mean "not here, not now" rather than "this statement is wrong": the server shutting down
(admin or crash shutdown), not accepting connections yet, or a read-only (standby) server asked to write."""


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or lost the connection, not that a statement failed.

    True for a connection the pool found broken (SQLAlchemy's ``connection_invalidated``: the server died under
    it), for a connection that could not be made (psycopg's client-side failures carry no SQLSTATE: refused, timed
    out, no server of a multi-host URL accepting writes while a standby is being promoted), and for the server
    answers in :data:`UNREACHABLE_SQLSTATES` or of class 08 (connection exception). The API answers these with
    503 and the workers retry the task: the next connection may well find a (new) primary. SQLite's errors are
    never this: its "database is locked" is a statement that waited too long, not an absent server.
    """
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if not type(original).__module__.startswith("psycopg"):
        return False
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:  # raised by the client itself, not answered by a server
        return isinstance(error, OperationalError)
    return sqlstate.startswith("08") or sqlstate in UNREACHABLE_SQLSTATES


def json_loads(text: str | bytes) -> object:
    """JSON columns decoded by orjson: the standard library's decoder was a fifth of a 1,000-server listing's time.
    What orjson refuses and Python's own ``json`` wrote (NaN, integers beyond 64 bits) is decoded as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_deserializer=json_loads
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10, json_deserializer=json_loads)
    _ping_when_idle(engine)
    return engine


PING_IDLE_AFTER = 2.0
"""Seconds a pooled connection may sit unused before its next checkout pings the server first."""


def _ping_when_idle(engine: Engine) -> None:
    """A connection that sat in the pool is pinged before use, one in steady use is not.

    Why: SQLAlchemy's ``pool_pre_ping`` pings at every checkout, a round trip more for every transaction: 18% of
    an API process's time under a boot-and-delete load. What the ping is for is a connection the server closed
    while it sat unused (a PostgreSQL restart or promotion); one used in the last two seconds that fails anyway
    is a disconnect SQLAlchemy notices on use, invalidating the pool (``common.db.database_unreachable`` makes
    that request a 503, the next one connects afresh)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: object, record: object) -> None:
        record.info["idle_since"] = time.monotonic()  # type: ignore[attr-defined]

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: object, record: object, _proxy: object) -> None:
        since = record.info.get("idle_since")  # type: ignore[attr-defined]
        if since is None or time.monotonic() - since < PING_IDLE_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: the pool drops it and connects afresh (up to three times)
            raise DisconnectionError(str(exc)) from exc


class Database:
    """An engine and its session factory; one per process, built from the settings."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
