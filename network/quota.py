"""Where the network quotas will be checked: a later change builds the quota engine behind this one function.

Every create in the service layer calls ``check`` inside its own transaction, after the write transaction
has begun and before the new rows are added, which is where a counted quota must look (DESIGN.md section 3:
count the project's rows under a lock on its quota row, in the transaction that creates the resource, so
concurrent creates cannot exceed the limit).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

RESOURCES = ("network", "subnet", "port", "security_group", "security_group_rule")


def check(session: Session, project_id: str, resource: str, count: int = 1) -> None:
    """Raise if ``project_id`` may not have ``count`` more ``resource``; today every request is within quota."""
    if resource not in RESOURCES:
        raise ValueError(f"unknown network quota resource {resource!r}")
