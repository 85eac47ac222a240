"""``/v3/OS-STRATUS/quota_resources`` serves the registry's table, whole and in order, to any authenticated
caller: the one source the portal and the CLI read."""

from __future__ import annotations

from quota import registry
from tests.unit.api.conftest import InProcessCloud

PATH = "/identity/v3/OS-STRATUS/quota_resources"


def test_it_lists_every_registry_resource_with_what_a_client_shows(api_cloud: InProcessCloud) -> None:
    response = api_cloud.client().get(PATH, headers={"X-Auth-Token": api_cloud.demo_token})
    assert response.status_code == 200, response.get_data(as_text=True)
    listed = response.json["quota_resources"]
    assert [r["name"] for r in listed] == [r.name for r in registry.RESOURCES]
    for view, resource in zip(listed, registry.RESOURCES, strict=True):
        shown = (view["service"], view["label"], view["description"], view["unit"], view["scope"], view["per"])
        expected = (resource.service, resource.label, resource.description, resource.unit, resource.scope, resource.per)
        assert shown == expected


def test_its_service_ids_are_the_registered_limits(api_cloud: InProcessCloud) -> None:
    """A client may join the table with ``/v3/registered_limits`` (the defaults) by service id and name."""
    headers = {"X-Auth-Token": api_cloud.demo_token}
    client = api_cloud.client()
    listed = {(r["service_id"], r["name"]) for r in client.get(PATH, headers=headers).json["quota_resources"]}
    registered = client.get("/identity/v3/registered_limits", headers=headers).json["registered_limits"]
    assert listed == {(r["service_id"], r["resource_name"]) for r in registered}


def test_it_needs_a_token(api_cloud: InProcessCloud) -> None:
    assert api_cloud.client().get(PATH).status_code == 401
