"""The quota engine: effective limits (project, then the default class, then built in), counting, the
over-quota figures, per-item limits, Nova's min/max count rule, and limits refused below usage."""

from __future__ import annotations

import pytest

from compute.states import TaskState
from quota import engine, limits
from quota.exceptions import InvalidLimit, LimitBelowUsage, OverQuota, UnknownResource
from tests.unit.quota.conftest import instance


def test_a_project_limit_wins_over_the_default_class_which_wins_over_the_built_in(db):
    with db.session() as session:
        assert limits.limits(session, "p1", ["instances", "cores"]) == {"instances": 10, "cores": 20}
        limits.set_defaults(session, {"instances": 4})
        limits.set_project_limits(session, "p1", {"instances": 7})
    with db.session() as session:
        assert limits.limits(session, "p1", ["instances", "cores"]) == {"instances": 7, "cores": 20}
        assert limits.limits(session, "p2", ["instances"]) == {"instances": 4}
        limits.reset_project(session, "p1")
        limits.reset_defaults(session, ["instances"])
    with db.session() as session:
        assert limits.limits(session, "p1", ["instances"]) == {"instances": 10}


def test_the_image_defaults_are_the_settings(db, settings):
    with db.session() as session:
        found = limits.limits(session, "p1", ["image_count_total", "image_size_total"], settings)
    assert found == {"image_count_total": 5, "image_size_total": 1000}


def test_limits_below_minus_one_and_unknown_resources_are_refused(db):
    with db.session() as session:
        with pytest.raises(InvalidLimit, match="must be -1 or greater"):
            limits.set_project_limits(session, "p1", {"port": -2})
        with pytest.raises(UnknownResource):
            limits.set_project_limits(session, "p1", {"gpus": 1})
        with pytest.raises(InvalidLimit):
            limits.set_defaults(session, {"instances": True})


def test_enforce_counts_what_the_project_holds_and_names_the_figures(db):
    with db.session() as session:
        limits.set_project_limits(session, "p1", {"instances": 2, "cores": 3})
        session.add_all([instance(vcpus=1), instance(vcpus=1), instance("p2", vcpus=8)])
    with db.session() as session, pytest.raises(OverQuota) as raised:
        engine.enforce(session, "p1", {"instances": 1, "cores": 2, "ram": 512})
    error = raised.value
    assert error.resources == ["instances", "cores"]
    assert error.message == (
        "Quota exceeded for instances, cores: Requested 1, 2, but already used 2, 2 of 2, 3 instances, cores"
    )


def test_unlimited_resources_are_not_even_counted(db, monkeypatch):
    with db.session() as session:
        limits.set_project_limits(session, "p1", {"instances": -1, "cores": -1, "ram": -1})
    monkeypatch.setattr(engine, "count", lambda *a, **k: pytest.fail("counted an unlimited resource"))
    with db.session() as session:
        engine.enforce(session, "p1", {"instances": 1000, "cores": 1000, "ram": 10**9})


def test_deleted_and_deleting_servers_no_longer_count_but_error_ones_do(db):
    with db.session() as session:
        session.add_all(
            [
                instance(vcpus=2, ram=100, vm_state="error"),
                instance(vcpus=4, ram=200, deleted=True),
                instance(vcpus=8, ram=400, task_state=TaskState.DELETING.value),
            ]
        )
    with db.session() as session:
        used = engine.count(session, "p1", ["instances", "cores", "ram"])
    assert used == {"instances": 1, "cores": 2, "ram": 100}


def test_allowed_count_admits_as_many_servers_as_fit_between_min_and_max(db):
    with db.session() as session:
        limits.set_project_limits(session, "p1", {"instances": 10, "cores": 5})
        session.add(instance(vcpus=1))
    per_server = {"instances": 1, "cores": 2, "ram": 512}
    with db.session() as session:
        assert engine.allowed_count(session, "p1", per_server, 1, 10) == 2
        with pytest.raises(OverQuota) as raised:
            engine.allowed_count(session, "p1", per_server, 3, 10)
    assert raised.value.overs[0].resource == "cores" and raised.value.overs[0].requested == 6


def test_per_item_limits_compare_one_item_with_the_limit(db):
    with db.session() as session:
        engine.check_item(session, "p1", "metadata_items", 0, 128)
        with pytest.raises(OverQuota, match="metadata_items: Requested 129, but already used 0 of 128"):
            engine.check_item(session, "p1", "metadata_items", 0, 129)
        limits.set_project_limits(session, "p1", {"server_group_members": 3})
        engine.check_item(session, "p1", "server_group_members", 2, 1, lock_project=True)
        with pytest.raises(OverQuota):
            engine.check_item(session, "p1", "server_group_members", 3, 1)


def test_a_limit_below_usage_is_refused_unless_forced(db):
    with db.session() as session:
        session.add_all([instance(), instance()])
    with db.session() as session, pytest.raises(LimitBelowUsage, match="already used and reserved 2"):
        engine.set_limits(session, "p1", {"instances": 1})
    with db.session() as session:
        engine.set_limits(session, "p1", {"instances": 1}, force=True)
        engine.set_limits(session, "p1", {"cores": -1})
    with db.session() as session:
        assert limits.overrides(session, "p1") == {"instances": 1, "cores": -1}
        with pytest.raises(OverQuota):
            engine.enforce(session, "p1", {"instances": 1})


def test_usage_reports_every_resource_with_its_limit(db, settings):
    with db.session() as session:
        session.add(instance(vcpus=3, ram=1024))
    with db.session() as session:
        usage = engine.usage(session, "p1", "u1", settings=settings)
    assert usage["cores"] == engine.Usage(20, 3) and usage["ram"] == engine.Usage(51200, 1024)
    assert usage["port"] == engine.Usage(500, 0) and usage["metadata_items"] == engine.Usage(128, 0)
    assert usage["image_size_total"] == engine.Usage(1000, 0)
