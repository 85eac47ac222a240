"""OS-OAUTH1 consumers (Keystone's extension): admin-only, the secret shown once at creation and stored hashed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from common.db import Database
from common.settings import load
from identity.models import OAuth1Consumer

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

CONSUMERS = "/identity/v3/OS-OAUTH1/consumers"


def _create(cloud, token: str, **fields) -> dict:
    response = cloud.request("POST", CONSUMERS, token, json={"consumer": fields})
    assert response.status_code == 201, response.text
    return response.json()["consumer"]


def test_a_consumer_is_created_shown_listed_updated_and_deleted(cloud, unique):
    token = cloud.admin_token()
    consumer = _create(cloud, token, description=unique, team="ops")

    shown = cloud.request("GET", f"{CONSUMERS}/{consumer['id']}", token).json()["consumer"]
    listed = cloud.request("GET", CONSUMERS, token).json()["consumers"]
    updated = cloud.request("PATCH", f"{CONSUMERS}/{consumer['id']}", token, json={"consumer": {"description": "new"}})
    deleted = cloud.request("DELETE", f"{CONSUMERS}/{consumer['id']}", token)
    gone = cloud.request("GET", f"{CONSUMERS}/{consumer['id']}", token)

    assert len(consumer["secret"]) >= 32 and consumer["description"] == unique and consumer["team"] == "ops"
    assert consumer["links"]["self"].endswith(f"{CONSUMERS}/{consumer['id']}")
    assert shown == {k: v for k, v in consumer.items() if k != "secret"}
    assert consumer["id"] in {c["id"] for c in listed} and all("secret" not in c for c in listed)
    assert updated.status_code == 200 and updated.json()["consumer"]["description"] == "new"
    assert updated.json()["consumer"]["team"] == "ops"
    assert deleted.status_code == 204
    assert gone.status_code == 404 and gone.json()["error"]["message"] == f"Could not find consumer: {consumer['id']}."
    assert cloud.request("DELETE", f"{CONSUMERS}/{consumer['id']}", token).status_code == 404


def test_the_secret_is_stored_only_as_a_hash(cloud, unique):
    consumer = _create(cloud, cloud.admin_token(), description=unique)
    database = Database(load(cloud.server.env).effective_database_url)
    try:
        with database.session() as session:
            stored = session.scalars(select(OAuth1Consumer).where(OAuth1Consumer.id == consumer["id"])).one()
            assert consumer["secret"] not in stored.secret_hash and consumer["secret"] not in json.dumps(stored.extra)
            assert stored.secret_hash.startswith("bcrypt-sha256$")
    finally:
        database.dispose()


def test_only_admins_manage_consumers_and_bad_bodies_are_400(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    consumer = _create(cloud, admin, description=unique)

    assert cloud.request("POST", CONSUMERS, demo, json={"consumer": {"description": "x"}}).status_code == 403
    assert cloud.request("GET", CONSUMERS, demo).status_code == 403
    assert cloud.request("DELETE", f"{CONSUMERS}/{consumer['id']}", demo).status_code == 403
    assert cloud.request("GET", CONSUMERS).status_code == 401
    for body in ({"consumer": {"secret": "mine"}}, {"consumer": {"description": 5}}, {"description": "x"}):
        refused = cloud.request("PATCH", f"{CONSUMERS}/{consumer['id']}", admin, json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 400
    assert cloud.request("POST", CONSUMERS, admin, json={"consumer": {"id": "chosen"}}).status_code == 400


@pytest.mark.one_database
def test_openstack_cli_manages_consumers(cloud, unique):
    created = json.loads(
        cloud.openstack("stratus-admin", "consumer", "create", "--description", unique, "-f", "json").stdout
    )
    cloud.openstack("stratus-admin", "consumer", "set", "--description", f"{unique}-new", created["id"])
    shown = json.loads(cloud.openstack("stratus-admin", "consumer", "show", created["id"], "-f", "json").stdout)
    listed = json.loads(cloud.openstack("stratus-admin", "consumer", "list", "-f", "json").stdout)
    cloud.openstack("stratus-admin", "consumer", "delete", created["id"])
    after = json.loads(cloud.openstack("stratus-admin", "consumer", "list", "-f", "json").stdout)

    assert created["description"] == unique and created["secret"]
    assert shown["description"] == f"{unique}-new" and "secret" not in shown
    assert {"ID": created["id"], "Description": f"{unique}-new"} in listed
    assert created["id"] not in {row["ID"] for row in after}
