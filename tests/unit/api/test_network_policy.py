"""The Network API's rules follow Neutron's defaults: admins everything, members in their project, readers read."""

from __future__ import annotations

import pytest

from api import policy
from api.context import RequestContext

MEMBER = RequestContext(request_id="req-x", user_id="u", project_id="p1", roles=frozenset({"member", "reader"}))
READER = RequestContext(request_id="req-x", user_id="u", project_id="p1", roles=frozenset({"reader"}))
ADMIN = RequestContext(
    request_id="req-x", user_id="a", project_id="admin", roles=frozenset({"admin", "member", "reader"})
)
RESOURCES = ("network", "subnet", "port", "security_group")


@pytest.mark.parametrize("resource", RESOURCES)
def test_members_write_in_their_project_readers_only_read(resource):
    own, other = {"project_id": "p1"}, {"project_id": "p2"}
    for verb in ("create", "update", "delete"):
        action = f"network:{verb}_{resource}"
        assert policy.allowed(action, own, MEMBER) and not policy.allowed(action, other, MEMBER)
        assert not policy.allowed(action, own, READER)
        assert policy.allowed(action, other, ADMIN)
    assert policy.allowed(f"network:get_{resource}", own, READER)


@pytest.mark.parametrize(
    "action",
    ["network:network:shared", "network:network:router:external", "network:network:provider", "network:port:binding"],
)
def test_admin_only_attributes(action):
    assert policy.allowed(action, {}, ADMIN)
    assert not policy.allowed(action, {"project_id": "p1"}, MEMBER)


def test_only_the_networks_project_chooses_addresses_and_macs():
    assert policy.allowed("network:port:network_owner_fields", {"project_id": "p1"}, MEMBER)
    assert not policy.allowed("network:port:network_owner_fields", {"project_id": "p2"}, MEMBER)
