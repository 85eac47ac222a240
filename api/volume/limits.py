"""``GET /limits``: the caller's project's absolute block storage limits and usage (admins: any project's with
``project_id``, 3.39), the quota engine's figures under Cinder's names; ``rate`` is always empty."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.quotas import project_usage
from api.runtime import runtime
from api.volume import routing
from api.volume.microversions import at_least
from api.volume.quota_sets import COUNTED

bp = Blueprint("volume_limits", __name__)

NAMES = {
    "volumes": ("maxTotalVolumes", "totalVolumesUsed"),
    "gigabytes": ("maxTotalVolumeGigabytes", "totalGigabytesUsed"),
    "snapshots": ("maxTotalSnapshots", "totalSnapshotsUsed"),
    "backups": ("maxTotalBackups", "totalBackupsUsed"),
    "backup_gigabytes": ("maxTotalBackupGigabytes", "totalBackupGigabytesUsed"),
}


@routing.get(bp, "/limits")
def show_limits() -> Response:
    ctx = policy.enforce("volume:limits")
    project_id = ctx.project_id
    asked = request.args.get("project_id") if at_least("3.39") else None
    if asked and asked != ctx.project_id:
        policy.enforce("volume:limits:other_project", {"project_id": asked})
        project_id = asked
    with runtime().db.session() as session:
        usage = project_usage(session, str(project_id or ""), COUNTED)
    absolute = {}
    for resource, (limit_name, used_name) in NAMES.items():
        absolute[limit_name] = usage[resource].limit
        absolute[used_name] = usage[resource].in_use
    return jsonify({"limits": {"rate": [], "absolute": absolute}})
