"""Quota records: a project's own limits, the ``default`` class's limits, and the rows quota checks lock.

A limit that has no row anywhere is the resource's built-in default (``registry``). Usage has no table at
all: it is counted from the resources themselves each time (quotas are counted, not tracked).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, TimestampMixin, UTCDateTime, utcnow

DEFAULT_CLASS = "default"


class ProjectLimit(TimestampMixin, Base):
    """A limit set for one project (Nova's ``quotas``, Neutron's ``quotas``); -1 is unlimited."""

    __tablename__ = "quota_limits"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(BigInteger)


class ClassLimit(TimestampMixin, Base):
    """A limit of a quota class; only ``default`` is used: it is every project's limit unless the project has
    its own (Nova's ``quota_classes``; Keystone's registered limits)."""

    __tablename__ = "quota_class_limits"

    class_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(BigInteger)


class QuotaLock(Base):
    """The row a quota check locks (``SELECT ... FOR UPDATE``) before it counts: one per project, and one per
    user for the per-user ``key_pairs``. It holds nothing else; it is made on a project's first check, by an
    insert that ignores a concurrent twin, so two first checks still agree on one row."""

    __tablename__ = "quota_locks"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
