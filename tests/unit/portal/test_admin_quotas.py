"""The quota page: every limit of compute, network and image in one form with the usage beside it (exactly the
resources of ``quota.registry``, as the API lists them); a change reaches the API that holds it; a limit below
usage is refused next to its field unless forced; a value that is not a limit is refused next to its field,
and nothing is written."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from portal.admin.quota_page import refused_field
from quota import registry
from tests.unit.portal.admin_support import Tenant, admin_fixture, admin_token, call, make_tenant  # noqa: F401 - fixture

RESOURCES = tuple(r.name for r in registry.RESOURCES)


def _server_groups(client: FlaskClient, tenant: Tenant, count: int) -> None:
    member = tenant.token(client)
    for number in range(count):
        body = {"server_group": {"name": f"g{number}", "policies": ["affinity"]}}
        call(client, "POST", "/compute/v2.1/os-server-groups", member, json=body)


def _limits(client: FlaskClient, project_id: str) -> dict[str, int]:
    auth = admin_token(client)
    nova = call(client, "GET", f"/compute/v2.1/os-quota-sets/{project_id}", auth)["quota_set"]
    neutron = call(client, "GET", f"/network/v2.0/quotas/{project_id}", auth)["quota"]
    glance = call(client, "GET", f"/image/v2/info/usage?project_id={project_id}", auth)["usage"]
    return {**nova, **neutron, **{name: value["limit"] for name, value in glance.items()}}


def _form(html: str) -> dict[str, str]:
    """The limit inputs' values as the page shows them."""
    return dict(re.findall(r'name="([a-z_]+)" type="number"[^>]*?\s+value="([^"]*)"', html, re.S))


def _error(html: str, field: str) -> str:
    found = re.search(rf'id="quota-{field}-error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def test_every_limit_is_an_input_with_its_usage_beside_it(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    tenant = make_tenant(client)
    _server_groups(client, tenant, 2)
    html = client.get(f"/admin/quotas/{tenant.project_id}").get_data(as_text=True)
    values = _form(html)
    assert tuple(values) == RESOURCES
    assert values["instances"] == "10" and values["port"] == "500" and values["image_count_total"] == "-1"
    for name in RESOURCES:
        assert f'<label for="quota-{name}">' in html
    assert re.search(r'id="quota-server_groups-usage"[^>]*>.*?<span>2 in use \(20 %\)</span>', html, re.S)
    assert "a limit on each user, nothing summed" in html  # key pairs
    assert f"Quotas of project {tenant.name}" in html


def test_the_page_shows_exactly_the_registrys_resources_in_its_words(admin: tuple[FlaskClient, str]) -> None:
    """Labels, units, what a per-item limit is on, and one section per service in the registry's order."""
    client, _ = admin
    html = client.get(f"/admin/quotas/{make_tenant(client).project_id}").get_data(as_text=True)
    labels = [pair for pair in re.findall(r'<label for="quota-([a-z_]+)">([^<]*)</label>', html) if pair[0] != "force"]
    assert labels == [(r.name, f"{r.label} ({r.unit})" if r.unit else r.label) for r in registry.RESOURCES]
    for resource in registry.RESOURCES:
        if resource.scope is not registry.Scope.PROJECT:
            assert f"a limit on each {resource.per}, nothing summed" in html
    sections = re.findall(r'<th scope="rowgroup"[^>]*>([^<]*)</th>', html)
    assert sections == [s.capitalize() for s in dict.fromkeys(r.service for r in registry.RESOURCES)]


def test_an_edit_is_written_to_each_api(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    values = _form(client.get(f"/admin/quotas/{tenant.project_id}").get_data(as_text=True))
    changed = values | {"instances": "20", "ram": "-1", "port": "40", "image_count_total": "5",
                        "image_size_total": "1000000"}  # fmt: skip
    response = client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, **changed})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "saved: Instances 10 → 20, RAM 51,200 → no limit, Ports 500 → 40, Images no limit → 5" in page
    limits = _limits(client, tenant.project_id)
    assert (limits["instances"], limits["ram"], limits["port"], limits["image_count_total"]) == (20, -1, 40, 5)
    assert limits["image_size_total"] == 1000000 and limits["cores"] == 20
    # An image limit the project has already is changed in place (Keystone has one limit per resource).
    again = _form(page) | {"image_count_total": "7"}
    assert client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, **again}).status_code == 303
    assert _limits(client, tenant.project_id)["image_count_total"] == 7


def test_a_limit_below_usage_is_refused_next_to_its_field_unless_forced(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    _server_groups(client, tenant, 3)
    values = _form(client.get(f"/admin/quotas/{tenant.project_id}").get_data(as_text=True))
    lowered = values | {"server_groups": "1", "instances": "4"}
    response = client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, **lowered})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "below what the project holds now (3 in use)" in _error(html, "server_groups")
    assert _error(html, "instances") == ""
    assert 'aria-describedby="quota-server_groups-usage quota-server_groups-error" aria-invalid="true"' in html
    assert _form(html)["server_groups"] == "1"  # what the admin typed is kept
    assert _limits(client, tenant.project_id)["instances"] == 10  # nothing was written, not even the valid one

    forced = client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, "force": "1", **lowered})
    assert forced.status_code == 303
    assert (_limits(client, tenant.project_id)["server_groups"], _limits(client, tenant.project_id)["instances"]) == (
        1, 4)  # fmt: skip
    # The forced limit below usage does not stand in the way of changing another one later.
    later = _form(client.get(f"/admin/quotas/{tenant.project_id}").get_data(as_text=True)) | {"instances": "6"}
    assert client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, **later}).status_code == 303
    assert _limits(client, tenant.project_id)["instances"] == 6


def test_values_that_are_not_limits_are_refused_next_to_their_field(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    values = _form(client.get(f"/admin/quotas/{tenant.project_id}").get_data(as_text=True))
    bad = values | {"cores": "lots", "port": "-5", "ram": "", "network": "99999999999", "subnet": '"><b>x</b>'}
    response = client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, **bad})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Enter a whole number" in _error(html, "cores") and "Enter a whole number" in _error(html, "ram")
    assert "0 or more, or -1" in _error(html, "port")
    assert "at most 2,147,483,647" in _error(html, "network")
    assert "<b>x</b>" not in html and "&#34;&gt;&lt;b&gt;x&lt;/b&gt;" in html  # echoed back, escaped
    assert "Nothing was saved" in html
    assert _limits(client, tenant.project_id)["cores"] == 20


def test_saving_nothing_changed_and_the_project_picker(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    values = _form(client.get(f"/admin/quotas/{tenant.project_id}").get_data(as_text=True))
    response = client.post(f"/admin/quotas/{tenant.project_id}", data={"csrf_token": csrf, **values})
    assert "Nothing changed." in client.get(response.headers["Location"]).get_data(as_text=True)
    picker = client.get("/admin/quotas").get_data(as_text=True)
    assert '<label for="pick-project">Project</label>' in picker and tenant.name in picker
    chosen = client.get(f"/admin/quotas?project={tenant.project_id}")
    assert chosen.status_code == 303 and chosen.headers["Location"] == f"/admin/quotas/{tenant.project_id}"


def test_an_unknown_project_is_a_readable_404(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    for response in (
        client.get("/admin/quotas/no-such-project"),
        client.post("/admin/quotas/no-such-project", data={"csrf_token": csrf, "instances": "1"}),
    ):
        assert response.status_code == 404
        html = response.get_data(as_text=True)
        assert "no-such-project" in html and "Traceback" not in html


def test_an_api_refusal_goes_to_the_field_it_names() -> None:
    nova = "Quota limit 1 for instances must be greater than or equal to already used and reserved 2."
    assert refused_field(nova, {"instances": 1, "port": 3}) == "instances"
    assert refused_field("Quota limit 0 for port must be greater than ...", {"port": 0}) == "port"
    assert refused_field("Something else went wrong.", {"port": 0}) == ""
    assert refused_field(nova, {"port": 3}) == ""  # not a field this request changed
