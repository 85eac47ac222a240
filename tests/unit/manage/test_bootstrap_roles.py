"""Bootstrap's default roles are Keystone's (2023.2 on): admin implies manager, manager implies member, member
implies reader. Tempest's admin compute tests (migrations among them) give one of their users the ``manager`` role
and cannot set up without it; a cloud bootstrapped before the role existed gets it, and loses the old direct
admin → member rule, at its next bootstrap, as ``keystone-manage bootstrap`` does."""

from __future__ import annotations

from sqlalchemy import select

from common.db import Database
from identity.models import ImpliedRole, Project, Role, User
from identity.tokens import effective_roles
from manage.bootstrap import Tenant, bootstrap

ADMIN = Tenant("admin", "admin", "admin-secret", "admin")


def rules(db: Database) -> set[tuple[str, str]]:
    with db.session() as session:
        names = dict(session.execute(select(Role.id, Role.name)).all())
        return {(names[p], names[i]) for p, i in session.execute(select(ImpliedRole.prior_role_id,
                                                                          ImpliedRole.implied_role_id))}  # fmt: skip


def role_names_of(db: Database, user: str, project: str) -> set[str]:
    with db.session() as session:
        user_id = session.scalars(select(User.id).filter_by(name=user)).one()
        project_id = session.scalars(select(Project.id).filter_by(name=project)).one()
        return {role.name for role in effective_roles(session, user_id, "project", project_id)}


def test_bootstrap_makes_keystones_admin_manager_member_reader_chain(db):
    bootstrap(db, [ADMIN], rounds=4)

    assert {("admin", "manager"), ("manager", "member"), ("member", "reader")} <= rules(db)
    assert ("admin", "member") not in rules(db)
    assert role_names_of(db, "admin", "admin") >= {"admin", "manager", "member", "reader"}


def test_a_manager_is_a_member_and_reader_but_not_an_admin(db):
    bootstrap(db, [ADMIN, Tenant("tempest", "tempest-manager", "manager-secret", "manager")], rounds=4)

    assert role_names_of(db, "tempest-manager", "tempest") == {"manager", "member", "reader"}


def test_a_cloud_bootstrapped_before_the_manager_role_gets_it_and_loses_the_direct_admin_member_rule(db):
    with db.session() as session:  # what bootstrap made before: admin → member → reader, no manager
        session.add_all([Role(name=name) for name in ("admin", "member", "reader")])
        session.flush()
        ids = dict(session.execute(select(Role.name, Role.id)).all())
        session.add(ImpliedRole(prior_role_id=ids["admin"], implied_role_id=ids["member"]))
        session.add(ImpliedRole(prior_role_id=ids["member"], implied_role_id=ids["reader"]))

    bootstrap(db, [ADMIN], rounds=4)
    again = bootstrap(db, [ADMIN], rounds=4)

    assert rules(db) == {("admin", "manager"), ("manager", "member"), ("member", "reader")}
    assert again == []
    assert role_names_of(db, "admin", "admin") >= {"admin", "manager", "member", "reader"}
