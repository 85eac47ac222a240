"""The tenant's overview: quota usage of the current project (used against limit) as bar charts."""

from __future__ import annotations

from flask import Response

from portal.blueprint import api, bp, render, session, signed_in
from portal.charts import quota_bars
from portal.errors import ApiError


@bp.get("/")
@signed_in
def overview() -> Response:
    project = session().project_id
    client = api()
    problems: list[str] = []

    def fetch(path: str, key: str) -> dict:
        try:
            return client.get(path)[key]
        except ApiError as exc:  # one API refusing (a reader role, say) leaves the other charts
            problems.append(exc.message)
            return {}

    compute = fetch(f"/compute/v2.1/os-quota-sets/{project}/detail", "quota_set")
    network = fetch(f"/network/v2.0/quotas/{project}/details", "quota")
    image = fetch("/image/v2/info/usage", "usage")
    return render("portal/overview.html", title="Overview", bars=quota_bars(compute, network, image), problems=problems)
