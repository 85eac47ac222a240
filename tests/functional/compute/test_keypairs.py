"""Key pairs over real HTTP: import (fingerprints checked against ssh-keygen) and generation, the fields and
status codes of each microversion, admins acting for other users (2.10), pages (2.35), x509 (2.2), errors;
through raw HTTP, the openstack CLI and openstacksdk."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.functional.compute import BASE, cli_json, fault, sdk, version
from tests.functional.conftest import DEMO_PASSWORD

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

LIST_FIELDS = {"name", "public_key", "fingerprint"}
CREATE_FIELDS = LIST_FIELDS | {"user_id"}
SHOW_FIELDS = CREATE_FIELDS | {"created_at", "deleted", "deleted_at", "id", "updated_at"}


@pytest.fixture
def ssh_key(tmp_path: Path) -> tuple[Path, str]:
    """A fresh ed25519 key made by ssh-keygen, and its MD5 fingerprint as ssh-keygen computes it."""
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True)
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", f"{path}.pub"], check=True, capture_output=True)
    return path, listed.stdout.decode().split()[1].removeprefix("MD5:")


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_cli_imports_lists_shows_and_deletes_a_key(cloud, unique, ssh_key):
    path, fingerprint = ssh_key
    created = cli_json(cloud, "stratus", "keypair", "create", "--public-key", f"{path}.pub", unique)
    assert created["name"] == unique and created["fingerprint"] == fingerprint and created["type"] == "ssh"
    assert unique in [k["Name"] for k in cli_json(cloud, "stratus", "keypair", "list")]
    shown = cli_json(cloud, "stratus", "keypair", "show", unique)
    assert shown["fingerprint"] == fingerprint and shown["user_id"] == cloud.demo().get_user_id()
    public = cloud.openstack("stratus", "keypair", "show", "--public-key", unique).stdout
    assert public.strip() == Path(f"{path}.pub").read_text().strip()
    cloud.openstack("stratus", "keypair", "delete", unique)
    assert cloud.openstack("stratus", "keypair", "show", unique, check=False).returncode != 0


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_cli_generates_a_key_whose_private_half_matches(cloud, unique, tmp_path):
    private = tmp_path / "generated"
    created = cli_json(cloud, "stratus", "keypair", "create", "--private-key", str(private), unique)
    private.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], check=True, capture_output=True).stdout.decode()
    stored = cli_json(cloud, "stratus", "keypair", "show", unique)
    shown_key = cloud.openstack("stratus", "keypair", "show", "--public-key", unique).stdout
    assert derived.split()[:2] == shown_key.split()[:2]  # the CLI makes the key itself and imports it
    assert stored["fingerprint"] == created["fingerprint"]
    cloud.openstack("stratus", "keypair", "delete", unique)


@pytest.mark.parametrize(
    ("microversion", "create_status", "delete_status", "typed"),
    [(None, 200, 202, False), ("2.2", 201, 204, True), ("2.37", 201, 204, True)],
)
def test_fields_and_status_codes_per_microversion(
    cloud, unique, ssh_key, microversion, create_status, delete_status, typed
):
    token = cloud.demo().get_token()
    headers = version(microversion) if microversion else {}
    extra = {"type"} if typed else set()
    public_key = Path(f"{ssh_key[0]}.pub").read_text()
    body = {"keypair": {"name": unique, "public_key": public_key}}
    imported = cloud.request("POST", f"{BASE}/os-keypairs", token, json=body, headers=headers)
    assert imported.status_code == create_status, imported.text
    assert set(imported.json()["keypair"]) == CREATE_FIELDS | extra

    generated = cloud.request(
        "POST", f"{BASE}/os-keypairs", token, json={"keypair": {"name": unique + "-g"}}, headers=headers
    )
    assert generated.status_code == create_status
    assert set(generated.json()["keypair"]) == CREATE_FIELDS | extra | {"private_key"}
    assert generated.json()["keypair"]["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")

    listed = cloud.request("GET", f"{BASE}/os-keypairs", token, headers=headers).json()
    mine = [k["keypair"] for k in listed["keypairs"] if k["keypair"]["name"] in (unique, unique + "-g")]
    assert len(mine) == 2 and all(set(k) == LIST_FIELDS | extra for k in mine)
    shown = cloud.request("GET", f"{BASE}/os-keypairs/{unique}", token, headers=headers).json()["keypair"]
    assert set(shown) == SHOW_FIELDS | extra
    assert shown["deleted"] is False and shown["deleted_at"] is None and isinstance(shown["id"], int)
    assert shown["fingerprint"] == ssh_key[1] and shown["public_key"] == public_key

    for name in (unique, unique + "-g"):
        assert (
            cloud.request("DELETE", f"{BASE}/os-keypairs/{name}", token, headers=headers).status_code == delete_status
        )
    fault(cloud.request("GET", f"{BASE}/os-keypairs/{unique}", token, headers=headers), "itemNotFound", 404)


@pytest.mark.parametrize(
    ("keypair", "headers", "text"),
    [
        ({"name": "x", "public_key": "ssh-rsa not-base64"}, {}, "Keypair data is invalid"),
        ({"name": "x", "public_key": "hello world"}, {}, "public_key"),
        ({"name": "bad/name"}, {}, "unsafe characters"),
        ({"name": ""}, {}, "keypair.name"),
        ({"name": "x" * 256}, {}, "keypair.name"),
        ({"name": " padded"}, {}, "keypair.name"),
        ({}, {}, "keypair.name"),
        ({"name": "x", "type": "ssh"}, {}, "keypair.type"),  # no type before 2.2
        ({"name": "x", "type": "pgp"}, version("2.2"), "keypair.type"),
        ({"name": "x", "user_id": "u"}, version("2.9"), "keypair.user_id"),  # no user_id before 2.10
        ({"name": "x", "type": "x509", "public_key": "not a certificate"}, version("2.2"), "X509"),
    ],
)
def test_bad_keypairs_are_400(cloud, keypair, headers, text):
    response = cloud.request(
        "POST", f"{BASE}/os-keypairs", cloud.demo().get_token(), json={"keypair": keypair}, headers=headers
    )
    assert text in fault(response, "badRequest", 400)


def test_duplicates_are_409_and_keys_belong_to_their_user(cloud, unique, ssh_key):
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    body = {"keypair": {"name": unique, "public_key": Path(f"{ssh_key[0]}.pub").read_text()}}
    assert cloud.request("POST", f"{BASE}/os-keypairs", demo, json=body).status_code == 200
    assert unique in fault(cloud.request("POST", f"{BASE}/os-keypairs", demo, json=body), "conflictingRequest", 409)
    # the same name is free for another user, and one user's key is invisible to the other
    assert cloud.request("POST", f"{BASE}/os-keypairs", admin, json=body).status_code == 200
    assert cloud.request("DELETE", f"{BASE}/os-keypairs/{unique}", admin).status_code == 202
    fault(cloud.request("GET", f"{BASE}/os-keypairs/{unique}", admin), "itemNotFound", 404)
    assert cloud.request("GET", f"{BASE}/os-keypairs/{unique}", demo).status_code == 200
    cloud.request("DELETE", f"{BASE}/os-keypairs/{unique}", demo)


def test_admins_manage_other_users_keys_from_2_10(cloud, unique, ssh_key):
    demo_session = cloud.demo()
    demo, demo_user = demo_session.get_token(), demo_session.get_user_id()
    admin = cloud.admin_token()
    body = {"keypair": {"name": unique, "public_key": Path(f"{ssh_key[0]}.pub").read_text(), "user_id": demo_user}}
    created = cloud.request("POST", f"{BASE}/os-keypairs", admin, json=body, headers=version("2.10"))
    assert created.status_code == 201 and created.json()["keypair"]["user_id"] == demo_user
    assert cloud.request("GET", f"{BASE}/os-keypairs/{unique}", demo).status_code == 200
    as_admin = cloud.request("GET", f"{BASE}/os-keypairs/{unique}?user_id={demo_user}", admin, headers=version("2.10"))
    assert as_admin.json()["keypair"]["user_id"] == demo_user
    # before 2.10 the parameter is not there: the admin's own keys are meant
    fault(cloud.request("GET", f"{BASE}/os-keypairs/{unique}?user_id={demo_user}", admin), "itemNotFound", 404)

    admin_user = cloud.admin().get_user_id()
    listing = cloud.request("GET", f"{BASE}/os-keypairs?user_id={admin_user}", demo, headers=version("2.10"))
    fault(listing, "forbidden", 403)
    body["keypair"]["user_id"] = admin_user
    fault(cloud.request("POST", f"{BASE}/os-keypairs", demo, json=body, headers=version("2.10")), "forbidden", 403)
    gone = cloud.request("DELETE", f"{BASE}/os-keypairs/{unique}?user_id={demo_user}", admin, headers=version("2.10"))
    assert gone.status_code == 204
    fault(cloud.request("GET", f"{BASE}/os-keypairs/{unique}", demo), "itemNotFound", 404)


def test_listing_pages_from_2_35(cloud, unique, ssh_key):
    admin = cloud.admin_token()
    owner = f"user-{unique}"  # Nova does not check that the user exists; a private one keeps the list stable
    public_key = Path(f"{ssh_key[0]}.pub").read_text()
    for suffix in "abc":
        body = {"keypair": {"name": f"k-{suffix}", "public_key": public_key, "user_id": owner}}
        assert (
            cloud.request("POST", f"{BASE}/os-keypairs", admin, json=body, headers=version("2.35")).status_code == 201
        )
    listing = f"{BASE}/os-keypairs?user_id={owner}"
    first = cloud.request("GET", f"{listing}&limit=2", admin, headers=version("2.35")).json()
    assert [k["keypair"]["name"] for k in first["keypairs"]] == ["k-a", "k-b"]
    href = first["keypairs_links"][0]["href"]
    assert first["keypairs_links"][0]["rel"] == "next" and "/compute/v2.1/os-keypairs?" in href
    assert parse_qs(urlparse(href).query) == {"user_id": [owner], "limit": ["2"], "marker": ["k-b"]}
    rest = cloud.request("GET", f"{listing}&limit=2&marker=k-b", admin, headers=version("2.35")).json()
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["k-c"] and "keypairs_links" not in rest
    # before 2.35 paging parameters are ignored
    old = cloud.request("GET", f"{listing}&limit=1", admin, headers=version("2.34")).json()
    assert len(old["keypairs"]) == 3 and "keypairs_links" not in old
    fault(cloud.request("GET", f"{listing}&marker=nope", admin, headers=version("2.35")), "badRequest", 400)
    for suffix in "abc":
        cloud.request("DELETE", f"{BASE}/os-keypairs/k-{suffix}?user_id={owner}", admin, headers=version("2.35"))


def test_x509_certificates_from_2_2(cloud, unique):
    token = cloud.demo().get_token()
    body = {"keypair": {"name": unique, "type": "x509"}}
    generated = cloud.request("POST", f"{BASE}/os-keypairs", token, json=body, headers=version("2.2")).json()["keypair"]
    assert generated["type"] == "x509" and "PRIVATE KEY" in generated["private_key"]
    certificate = x509.load_pem_x509_certificate(generated["public_key"].encode())
    expected = certificate.fingerprint(hashes.SHA1()).hex()
    assert generated["fingerprint"].replace(":", "") == expected

    body = {"keypair": {"name": unique + "-i", "type": "x509", "public_key": generated["public_key"]}}
    imported = cloud.request("POST", f"{BASE}/os-keypairs", token, json=body, headers=version("2.2")).json()["keypair"]
    assert imported["fingerprint"] == generated["fingerprint"] and "private_key" not in imported
    for name in (unique, unique + "-i"):
        cloud.request("DELETE", f"{BASE}/os-keypairs/{name}", token)


def test_openstacksdk_imports_and_generates_keys(cloud, unique, ssh_key):
    conn = sdk(cloud)
    public_key = Path(f"{ssh_key[0]}.pub").read_text()
    imported = conn.compute.create_keypair(name=unique, public_key=public_key)
    assert imported.fingerprint == ssh_key[1] and imported.type == "ssh"
    generated = conn.compute.create_keypair(name=unique + "-g")
    assert generated.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    blob = generated.public_key.split()[1].encode()
    assert generated.fingerprint.replace(":", "") == hashlib.md5(base64.b64decode(blob)).hexdigest()
    assert {unique, unique + "-g"} <= {k.name for k in conn.compute.keypairs()}
    assert conn.compute.get_keypair(unique).public_key == public_key
    conn.compute.delete_keypair(unique)
    conn.compute.delete_keypair(unique + "-g")
    assert conn.compute.find_keypair(unique) is None


def test_an_unscoped_token_cannot_create_or_read_key_pairs(cloud, unique):
    """Nova requires a project-scoped token: a key pair counts against the key_pairs quota of that project, and an
    unscoped token has none (before, it created key pairs outside every project's quota)."""
    user = {"name": "demo", "domain": {"id": "default"}, "password": DEMO_PASSWORD}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}, "scope": "unscoped"}}
    unscoped = cloud.request("POST", "/identity/v3/auth/tokens", json=body).headers["X-Subject-Token"]

    created = cloud.request("POST", f"{BASE}/os-keypairs", unscoped, json={"keypair": {"name": unique}})
    assert "The token is unscoped: ask for a project-scoped one." in fault(created, "forbidden", 403)
    fault(cloud.request("GET", f"{BASE}/os-keypairs", unscoped), "forbidden", 403)
    demo = cloud.demo().get_token()
    assert cloud.request("GET", f"{BASE}/os-keypairs/{unique}", demo).status_code == 404  # nothing was made
