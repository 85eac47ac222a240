from __future__ import annotations

import ast
from pathlib import Path

import pytest

from api import policy
from api.context import RequestContext

API_ROOT = Path(__file__).resolve().parents[3] / "api"


def _is_policy_call(func: ast.expr) -> bool:
    """``policy.enforce(...)``/``policy.allowed(...)``, or a bare ``enforce(...)`` (other ``allowed`` functions,
    such as the compute state table's, are not policy checks)."""
    if isinstance(func, ast.Attribute):
        return func.attr in ("enforce", "allowed") and getattr(func.value, "id", "") == "policy"
    return isinstance(func, ast.Name) and func.id == "enforce"


def _actions_used_in_handlers() -> set[str]:
    found = set()
    for path in API_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and _is_policy_call(node.func)
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_every_action_a_handler_enforces_has_a_rule():
    used = _actions_used_in_handlers()
    assert used, "no enforce() calls found"
    assert used <= set(policy.RULES)


def test_unknown_action_is_a_programming_error():
    with pytest.raises(LookupError, match="no policy rule"):
        policy.rule_for("identity:no_such_thing")


def _ctx(*roles: str, project: str | None = "p1", user: str = "u1") -> RequestContext:
    return RequestContext(request_id="req-x", user_id=user, project_id=project, roles=frozenset(roles))


@pytest.mark.parametrize(
    ("roles", "target", "expected"),
    [
        (("reader",), {"project_id": "p1"}, True),
        (("reader",), {"project_id": "p2"}, False),
        (("admin", "member", "reader"), {"project_id": "p2"}, True),
    ],
)
def test_get_project_is_for_admins_and_the_project_itself(roles, target, expected):
    assert policy.allowed("identity:get_project", target, _ctx(*roles)) is expected


def test_member_and_reader_rules_need_the_role_in_the_target_project():
    member, reader = _ctx("member", "reader"), _ctx("reader")
    assert policy.PROJECT_MEMBER(member, {"project_id": "p1"})
    assert not policy.PROJECT_MEMBER(reader, {"project_id": "p1"})
    assert not policy.PROJECT_MEMBER(member, {"project_id": "p2"})
    assert policy.PROJECT_READER(reader, {"project_id": "p1"})


def test_only_admins_create_projects():
    assert not policy.allowed("identity:create_project", {}, _ctx("member", "reader"))
    assert policy.allowed("identity:create_project", {}, _ctx("admin"))


def test_a_password_change_is_authorised_by_the_original_password_not_by_policy():
    """As Keystone: the handler checks the original password; no token or role is asked for."""
    assert policy.allowed("identity:change_password", {"user_id": "u1"}, _ctx("reader"))
    assert policy.allowed("identity:change_password", {"user_id": "u2"}, _ctx("admin"))
    assert policy.rule_for("identity:change_password") is policy.PUBLIC


def test_unscoped_tokens_cannot_use_key_pairs():
    """Nova requires a project-scoped token: a key pair counts against the key_pairs quota of that project."""
    assert not policy.allowed("compute:keypairs", {}, _ctx(project=None))
    assert policy.allowed("compute:keypairs", {}, _ctx("reader"))


ADMIN_ONLY_ACROSS_PROJECTS = [
    ("compute:servers:index:all_tenants", {}),
    ("compute:servers:delete", {"project_id": "p2"}),
    ("compute:quota_sets:update", {"project_id": "p2"}),
    ("network:update_network", {"project_id": "p2"}),
    ("image:delete_image", {"project_id": "p2"}),
    ("identity:create_grant", {}),
    ("identity:list_projects", {}),
    ("compute:hypervisors", {}),
]


@pytest.mark.parametrize(("action", "target"), ADMIN_ONLY_ACROSS_PROJECTS)
def test_the_admin_role_on_one_project_is_cloud_wide_by_policy(action, target):
    """Decided, not accidental: as in OpenStack, ``admin`` on project p1 administers p2 and the whole cloud; the
    same user as a member of p1 reaches nothing of p2."""
    assert set(policy.CLOUD_WIDE_ROLES) == {"admin"}
    assert policy.allowed(action, target, _ctx("admin", "member", "reader", project="p1"))
    assert not policy.allowed(action, target, _ctx("member", "reader", project="p1"))
    assert "cloud-wide" in policy.ADMIN.description and "Which roles are cloud-wide" in (policy.__doc__ or "")
