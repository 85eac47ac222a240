"""Bumping the identity generation on every write, automatically, so no handler can forget it.

Two SQLAlchemy session hooks cover both ways of writing: ORM flushes (add, change, delete of an identity
record) and bulk ``update``/``delete`` statements run through a session. The bump is an ``UPDATE`` in the
same transaction, so a reader can never see the new data with the old generation number.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import Connection, event, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from identity.models import (
    ApplicationCredential,
    CatalogEndpoint,
    CatalogRegion,
    CatalogService,
    Domain,
    Group,
    GroupRoleAssignment,
    IdentityGeneration,
    ImpliedRole,
    InheritedGroupRoleAssignment,
    InheritedRoleAssignment,
    Project,
    RevocationEvent,
    Role,
    RoleAssignment,
    Trust,
    TrustRole,
    User,
    UserGroupMembership,
)

IDENTITY_MODELS = (
    Domain,
    Project,
    User,
    Role,
    ImpliedRole,
    RoleAssignment,
    RevocationEvent,
    Group,
    UserGroupMembership,  # a membership or a group's grant changes the roles tokens carry
    GroupRoleAssignment,
    CatalogRegion,  # tokens carry the catalog: a catalog write must reach every worker's cached one
    CatalogService,
    CatalogEndpoint,
    ApplicationCredential,  # a deleted credential's tokens must stop validating in every worker at once
    Trust,  # likewise a deleted trust's tokens (a use taken is not a change: identity.trusts.consume_use)
    TrustRole,
    InheritedRoleAssignment,  # an inherited grant changes the roles tokens carry on every project below it
    InheritedGroupRoleAssignment,
)
IDENTITY_TABLES = frozenset(m.__table__ for m in IDENTITY_MODELS)
ROW_ID = 1
_BUMPED = "identity_generation_bumped"

CURRENT = select(IdentityGeneration.value).where(IdentityGeneration.id == ROW_ID)
BUMP = update(IdentityGeneration).where(IdentityGeneration.id == ROW_ID).values(value=IdentityGeneration.value + 1)


def read(connection: Connection) -> int:
    value = connection.execute(CURRENT).scalar()
    return -1 if value is None else value


def current(session: Session) -> int:
    """The generation as this session's transaction sees it."""
    return read(session.connection())


def bump(session: Session) -> None:
    """Once per transaction is enough: readers compare numbers, not count changes."""
    if session.info.get(_BUMPED):
        return
    connection = session.connection()
    if connection.execute(BUMP).rowcount == 0:
        connection.execute(insert(IdentityGeneration).values(id=ROW_ID, value=1))
    session.info[_BUMPED] = True


@event.listens_for(Session, "before_flush")
def _bump_on_flush(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(obj, IDENTITY_MODELS) for obj in chain(session.new, session.dirty, session.deleted)):
        bump(session)


@event.listens_for(Session, "do_orm_execute")
def _bump_on_bulk_write(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and getattr(state.statement, "table", None) in (
        IDENTITY_TABLES
    ):
        bump(state.session)


@event.listens_for(Session, "after_transaction_end")
def _reset(session: Session, _transaction: Any) -> None:
    session.info.pop(_BUMPED, None)
