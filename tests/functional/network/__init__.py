"""Helpers of the Network API's functional tests: Neutron fault checks, resources by raw HTTP, SDK and CLI."""

from __future__ import annotations

import json
from typing import Any

import openstack

BASE = "/network/v2.0"


def fault(response: Any, fault_type: str, code: int) -> str:
    """Assert a Neutron fault body (``{"NeutronError": {"type", "message", "detail"}}``); return its message."""
    assert response.status_code == code, response.text
    body = response.json()
    assert list(body) == ["NeutronError"], body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}, body
    assert body["NeutronError"]["type"] == fault_type, body
    return body["NeutronError"]["message"]


def create(cloud: Any, token: str, resource: str, collection: str, **attrs: Any) -> dict[str, Any]:
    response = cloud.request("POST", f"{BASE}/{collection}", token, json={resource: attrs})
    assert response.status_code == 201, response.text
    return response.json()[resource]


def network(cloud: Any, token: str, name: str, **attrs: Any) -> dict[str, Any]:
    return create(cloud, token, "network", "networks", name=name, **attrs)


def subnet(cloud: Any, token: str, network_id: str, cidr: str, **attrs: Any) -> dict[str, Any]:
    return create(cloud, token, "subnet", "subnets", network_id=network_id, cidr=cidr, ip_version=4, **attrs)


def port(cloud: Any, token: str, network_id: str, **attrs: Any) -> dict[str, Any]:
    return create(cloud, token, "port", "ports", network_id=network_id, **attrs)


def get(cloud: Any, token: str, path: str) -> Any:
    response = cloud.request("GET", f"{BASE}{path}", token)
    assert response.status_code == 200, response.text
    return response.json()


def delete(cloud: Any, token: str, collection: str, resource_id: str) -> None:
    response = cloud.request("DELETE", f"{BASE}/{collection}/{resource_id}", token)
    assert response.status_code == 204, response.text


def sdk(cloud: Any, admin: bool = False) -> openstack.connection.Connection:
    """An openstacksdk connection on a keystoneauth session, as the admin or the demo member."""
    return openstack.connection.Connection(session=cloud.admin() if admin else cloud.demo(), region_name="RegionOne")


def cli_json(cloud: Any, cloud_name: str, *args: str) -> Any:
    return json.loads(cloud.openstack(cloud_name, *args, "-f", "json").stdout)
