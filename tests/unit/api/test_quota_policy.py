"""Who may read and change quotas, in every API that shows them: admins any project's, a project's members and
readers only their own (and only read), nobody else's."""

from __future__ import annotations

import pytest

from api import policy
from api.context import RequestContext

READ = (
    "compute:quota_sets:show",
    "network:get_quota",
    "image:get_usage",
)
WRITE = (
    "compute:quota_sets:update",
    "compute:quota_sets:delete",
    "compute:quota_class_sets:update",
    "network:update_quota",
    "network:delete_quota",
    "identity:create_limit",
    "identity:update_limit",
    "identity:delete_limit",
    "identity:update_registered_limit",
)


def _ctx(*roles: str, project: str = "p1") -> RequestContext:
    return RequestContext(request_id="req-x", user_id="u1", project_id=project, roles=frozenset(roles))


@pytest.mark.parametrize("action", READ)
def test_members_and_readers_read_their_own_projects_quotas_only(action):
    for roles in (("reader",), ("member", "reader")):
        assert policy.allowed(action, {"project_id": "p1"}, _ctx(*roles))
        assert not policy.allowed(action, {"project_id": "p2"}, _ctx(*roles))
    assert policy.allowed(action, {"project_id": "p2"}, _ctx("admin", "member", "reader"))


@pytest.mark.parametrize("action", WRITE)
def test_only_admins_change_limits(action):
    assert not policy.allowed(action, {"project_id": "p1"}, _ctx("member", "reader"))
    assert policy.allowed(action, {"project_id": "p2"}, _ctx("admin", "member", "reader"))


def test_the_default_class_and_every_projects_limits_are_for_admins():
    assert not policy.allowed("compute:quota_class_sets:show", {}, _ctx("member", "reader"))
    assert not policy.allowed("network:get_quotas", {}, _ctx("member", "reader"))
    assert not policy.allowed("identity:list_limits:all_projects", {}, _ctx("member", "reader"))
    assert policy.allowed("identity:get_registered_limit", {}, _ctx("reader"))
