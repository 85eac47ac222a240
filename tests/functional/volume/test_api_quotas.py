"""Block storage quotas (``os-quota-sets``, ``/limits``, ``openstack quota show``), the availability zone, and
Cinder's 413 when a create would pass a limit."""

from __future__ import annotations

import pytest

from tests.functional.volume.api_support import (
    block_storage,
    call,
    cli_json,
    create_volume,
    fault,
    member_of_new_project,
    sdk,
)

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage")


def test_quota_set_show_usage_update_and_the_413(cloud, unique):
    member, project = member_of_new_project(cloud, unique)
    admin = cloud.admin_token()
    shown = call(cloud, "GET", f"/os-quota-sets/{project}", member).json()["quota_set"]
    assert shown == {"id": project, "volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10,
                     "backup_gigabytes": 1000, "per_volume_gigabytes": -1, "groups": 0}  # fmt: skip
    update = {"quota_set": {"volumes": 2, "gigabytes": 3}}
    fault(call(cloud, "PUT", f"/os-quota-sets/{project}", member, json=update), "forbidden", 403)
    assert call(cloud, "PUT", f"/os-quota-sets/{project}", admin, json=update).json()["quota_set"]["volumes"] == 2
    create_volume(cloud, member, f"{unique}-1", size=2)
    too_big = call(cloud, "POST", "/volumes", member, json={"volume": {"size": 2}})
    assert "exceeds allowed gigabytes quota" in fault(too_big, "overLimit", 413)
    create_volume(cloud, member, f"{unique}-2", size=1)
    too_many = call(cloud, "POST", "/volumes", member, json={"volume": {"size": 1}})
    assert "Maximum number of volumes allowed (2) exceeded" in fault(too_many, "overLimit", 413)
    usage = call(cloud, "GET", f"/os-quota-sets/{project}?usage=true", member).json()["quota_set"]
    assert usage["volumes"] == {"limit": 2, "in_use": 2, "reserved": 0}
    assert usage["gigabytes"] == {"limit": 3, "in_use": 3, "reserved": 0}
    limits = call(cloud, "GET", "/limits", member).json()["limits"]["absolute"]
    assert (limits["maxTotalVolumes"], limits["totalVolumesUsed"], limits["totalGigabytesUsed"]) == (2, 2, 3)
    other = call(cloud, "GET", f"/os-quota-sets/{project}", cloud.demo().get_token())
    fault(other, "forbidden", 403)
    assert call(cloud, "DELETE", f"/os-quota-sets/{project}", admin).status_code == 200
    assert call(cloud, "GET", f"/os-quota-sets/{project}", admin).json()["quota_set"]["volumes"] == 10


def test_sdk_and_cli_quota_limits_and_zones(cloud):
    conn = sdk(cloud, admin=True)
    project = conn.identity.find_project("demo").id
    quota = conn.block_storage.get_quota_set(project, usage=True)
    assert quota.volumes == -1 and quota.usage["volumes"] >= 0 and quota.reservation["volumes"] == 0
    defaults = conn.block_storage.get_quota_set_defaults(project)
    assert defaults.volumes == 10 and defaults.snapshots == 10
    limits = conn.block_storage.get_limits()
    assert limits.absolute.max_total_volumes == -1
    assert [z.name for z in conn.block_storage.availability_zones()] == ["nova"]
    shown = cli_json(cloud, "stratus-admin", "quota", "show", "--volume", "demo")
    rows = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) else shown
    assert rows["volumes"] == -1 and rows["snapshots"] == -1
    zones = cli_json(cloud, "stratus", "availability", "zone", "list", "--volume")
    assert [z["Zone Name"] for z in zones] == ["nova"]
