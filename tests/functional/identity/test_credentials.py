"""Credentials and EC2 credentials over real HTTP and the ``openstack`` CLI, with Keystone's shapes and policy; blobs
encrypted at rest with the credential keys and still readable across their rotations."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from common.db import Database
from common.settings import load
from identity.models import Credential
from tests.functional.identity import create

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

PASSWORD = "cred-secret"


def _member(cloud, name: str) -> tuple[dict, dict, str]:
    """A new user with the member role on a new project of the same name, and a token of theirs for it."""
    token = cloud.admin_token()
    project = create(cloud, "project", {"name": name}, token)
    user = create(cloud, "user", {"name": name, "password": PASSWORD}, token)
    member = cloud.request("GET", "/identity/v3/roles?name=member", token).json()["roles"][0]
    grant = f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{member['id']}"
    assert cloud.request("PUT", grant, token).status_code == 204
    return user, project, cloud.session(name, PASSWORD, project=name).get_token()


def _credential(cloud, token: str, **body) -> dict:
    return create(cloud, "credential", body, token)


def _ec2_blob(access: str, secret: str = "s3cr3t") -> str:
    return json.dumps({"access": access, "secret": secret})


def test_ec2_credential_id_is_the_sha256_of_its_access_key_and_only_the_blob_changes_on_update(cloud, unique):
    token = cloud.admin_token()
    user, project, _ = _member(cloud, unique)
    created = _credential(
        cloud, token, user_id=user["id"], project_id=project["id"], type="ec2", blob=_ec2_blob(f"{unique}-a")
    )
    path = f"/identity/v3/credentials/{created['id']}"

    updated = cloud.request("PATCH", path, token, json={"credential": {"blob": _ec2_blob(f"{unique}-b", "new")}})
    shown = cloud.request("GET", path, token).json()["credential"]
    by_type = cloud.request("GET", f"/identity/v3/credentials?type=ec2&user_id={user['id']}", token).json()
    deleted = cloud.request("DELETE", path, token)

    assert created["id"] == hashlib.sha256(f"{unique}-a".encode()).hexdigest()
    assert created["links"]["self"].endswith(path) and created["type"] == "ec2"
    assert (created["user_id"], created["project_id"]) == (user["id"], project["id"])
    assert isinstance(created["blob"], str) and json.loads(created["blob"])["access"] == f"{unique}-a"
    assert updated.status_code == 200 and updated.json()["credential"]["id"] == created["id"]
    assert json.loads(shown["blob"]) == {"access": f"{unique}-b", "secret": "new"}
    assert [c["id"] for c in by_type["credentials"]] == [created["id"]]
    assert deleted.status_code == 204
    assert cloud.request("GET", path, token).status_code == 404


def test_bad_credentials_are_refused_with_keystone_faults(cloud, unique):
    token = cloud.admin_token()
    user, project, _ = _member(cloud, unique)
    base = {"user_id": user["id"], "project_id": project["id"], "type": "ec2"}
    blob = _ec2_blob(unique)
    _credential(cloud, token, **base, blob=blob)

    def post(body: dict) -> tuple[int, dict]:
        response = cloud.request("POST", "/identity/v3/credentials", token, json={"credential": body})
        return response.status_code, response.json()["error"]

    no_project = post({"user_id": user["id"], "type": "ec2", "blob": _ec2_blob(unique + "x")})
    not_json = post({**base, "blob": "access=x"})
    no_access = post({**base, "blob": json.dumps({"secret": "x"})})
    duplicate = post({**base, "blob": blob})
    no_type = post({"user_id": user["id"], "blob": "x"})
    unknown_user = post({"user_id": "nobody", "type": "cert", "blob": "x"})
    unknown_project = post({**base, "project_id": "nowhere", "blob": _ec2_blob(unique + "y")})

    assert no_project[0] == 400 and "project_id" in no_project[1]["message"]
    assert not_json[0] == 400 and no_access[0] == 400 and "access" in no_access[1]["message"]
    assert duplicate[0] == 409 and duplicate[1]["title"] == "Conflict"
    assert no_type[0] == 400 and "type" in no_type[1]["message"]
    assert unknown_user[0] == 404 and unknown_project[0] == 404


def test_a_user_sees_and_manages_only_their_own_credentials(cloud, unique):
    admin = cloud.admin_token()
    user, project, token = _member(cloud, unique)
    other, _, other_token = _member(cloud, unique + "-o")
    own = _credential(cloud, token, user_id=user["id"], type="cert", blob="my-cert")
    others = _credential(cloud, other_token, user_id=other["id"], type="totp", blob="their-seed")

    for_another = cloud.request(
        "POST", "/identity/v3/credentials", token, json={"credential": {"user_id": other["id"], "type": "cert"}}
    )
    listed = cloud.request("GET", "/identity/v3/credentials", token).json()["credentials"]
    asked_for_other = cloud.request("GET", f"/identity/v3/credentials?user_id={other['id']}", token).json()
    read_other = cloud.request("GET", f"/identity/v3/credentials/{others['id']}", token)
    hand_over = cloud.request(
        "PATCH", f"/identity/v3/credentials/{own['id']}", token, json={"credential": {"user_id": other["id"]}}
    )
    delete_other = cloud.request("DELETE", f"/identity/v3/credentials/{others['id']}", token)
    missing = cloud.request("GET", "/identity/v3/credentials/does-not-exist", token)
    by_admin = cloud.request("GET", f"/identity/v3/credentials?user_id={other['id']}", admin).json()["credentials"]
    changed = cloud.request("PATCH", f"/identity/v3/credentials/{own['id']}", token, json={"credential": {"blob": "b"}})

    assert for_another.status_code == 403 and for_another.json()["error"]["code"] == 403
    assert [c["id"] for c in listed] == [own["id"]] and asked_for_other["credentials"] == []
    assert read_other.status_code == 403 and hand_over.status_code == 403 and delete_other.status_code == 403
    assert missing.status_code == 403  # a non-admin never learns whether someone's credential id exists
    assert [c["id"] for c in by_admin] == [others["id"]] and by_admin[0]["blob"] == "their-seed"
    assert changed.status_code == 200 and changed.json()["credential"]["blob"] == "b"
    assert project["id"]


def test_os_ec2_credentials_of_a_user_are_created_listed_shown_and_deleted_by_their_access_key(cloud, unique):
    user, project, token = _member(cloud, unique)
    other, _, _ = _member(cloud, unique + "-o")
    base = f"/identity/v3/users/{user['id']}/credentials/OS-EC2"

    created = cloud.request("POST", base, token, json={"tenant_id": project["id"]})
    credential = created.json()["credential"]
    listed = cloud.request("GET", base, token).json()["credentials"]
    shown = cloud.request("GET", f"{base}/{credential['access']}", token).json()["credential"]
    as_v3 = cloud.request(
        "GET", f"/identity/v3/credentials/{hashlib.sha256(credential['access'].encode()).hexdigest()}", token
    )
    for_other = cloud.request(
        "POST", f"/identity/v3/users/{other['id']}/credentials/OS-EC2", token, json={"tenant_id": project["id"]}
    )
    no_tenant = cloud.request("POST", base, token, json={})
    deleted = cloud.request("DELETE", f"{base}/{credential['access']}", token)
    gone = cloud.request("GET", f"{base}/{credential['access']}", token)

    assert created.status_code == 201
    assert (credential["user_id"], credential["tenant_id"], credential["trust_id"]) == (user["id"], project["id"], None)
    assert credential["access"] and credential["secret"]
    assert credential["links"]["self"].endswith(f"{base}/{credential['access']}")
    assert [c["access"] for c in listed] == [credential["access"]]
    assert {k: shown[k] for k in ("access", "secret", "user_id", "tenant_id")} == {
        k: credential[k] for k in ("access", "secret", "user_id", "tenant_id")
    }
    assert as_v3.status_code == 200 and as_v3.json()["credential"]["type"] == "ec2"
    assert for_other.status_code == 403 and no_tenant.status_code == 400
    assert deleted.status_code == 204 and gone.status_code == 404


def test_deleting_a_user_or_a_project_deletes_their_credentials(cloud, unique):
    token = cloud.admin_token()
    user, project, _ = _member(cloud, unique)
    keeper, _, _ = _member(cloud, unique + "-k")
    of_project = _credential(
        cloud, token, user_id=keeper["id"], project_id=project["id"], type="ec2", blob=_ec2_blob(unique)
    )
    of_user = _credential(cloud, token, user_id=user["id"], type="cert", blob="c")
    kept = _credential(cloud, token, user_id=keeper["id"], type="cert", blob="k")

    assert cloud.request("DELETE", f"/identity/v3/projects/{project['id']}", token).status_code == 204
    assert cloud.request("DELETE", f"/identity/v3/users/{user['id']}", token).status_code == 204

    assert cloud.request("GET", f"/identity/v3/credentials/{of_project['id']}", token).status_code == 404
    assert cloud.request("GET", f"/identity/v3/credentials/{of_user['id']}", token).status_code == 404
    assert cloud.request("GET", f"/identity/v3/credentials/{kept['id']}", token).status_code == 200


def test_blobs_are_encrypted_at_rest_and_stay_readable_across_credential_key_rotations(cloud, unique):
    token = cloud.admin_token()
    user, _, _ = _member(cloud, unique)
    secret = f"totp-seed-{unique}"
    credential = _credential(cloud, token, user_id=user["id"], type="totp", blob=secret)
    db = Database(load(cloud.server.env).effective_database_url)

    def stored() -> str:
        with db.session() as session:
            return session.scalars(select(Credential.encrypted_blob).where(Credential.id == credential["id"])).one()

    try:
        before = stored()
        for _ in range(4):  # more rotations than the repository keeps keys: every blob is re-encrypted each time
            cloud.server.manage("credential-rotate")
        after = stored()
    finally:
        db.dispose()
    shown = cloud.request("GET", f"/identity/v3/credentials/{credential['id']}", token).json()["credential"]

    assert secret not in before and secret not in after and before != after
    assert shown["blob"] == secret


@pytest.mark.one_database
def test_openstack_cli_manages_credentials_and_ec2_credentials(cloud, unique):
    def cli(*args: str) -> object:
        result = cloud.openstack("stratus-admin", *args, "-f", "json")
        return json.loads(result.stdout)

    token = cloud.admin_token()
    user, project, _ = _member(cloud, unique)

    created = cli("credential", "create", "--type", "cert", user["id"], "cert-data")
    cloud.openstack(
        "stratus-admin", "credential", "set", "--user", user["id"], "--type", "cert", "--data", "renewed", created["id"]
    )
    shown = cli("credential", "show", created["id"])
    listed = cli("credential", "list", "--user", user["id"], "--type", "cert")
    cloud.openstack("stratus-admin", "credential", "delete", created["id"])
    after_delete = cloud.request("GET", f"/identity/v3/credentials/{created['id']}", token)

    ec2 = cli("ec2", "credentials", "create", "--user", user["id"], "--project", project["id"])
    ec2_listed = cli("ec2", "credentials", "list", "--user", user["id"])
    ec2_shown = cli("ec2", "credentials", "show", "--user", user["id"], ec2["access"])
    cloud.openstack("stratus-admin", "ec2", "credentials", "delete", "--user", user["id"], ec2["access"])
    ec2_after = cli("ec2", "credentials", "list", "--user", user["id"])

    assert created["type"] == "cert" and created["user_id"] == user["id"]
    assert shown["blob"] == "renewed"
    assert [c["ID"] for c in listed] == [created["id"]]
    assert after_delete.status_code == 404
    assert ec2["secret"] and ec2["project_id"] == project["id"] and ec2["user_id"] == user["id"]
    assert [c["Access"] for c in ec2_listed] == [ec2["access"]]
    assert ec2_shown["secret"] == ec2["secret"]
    assert ec2_after == []
