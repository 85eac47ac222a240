"""The libvirt secret of the cephx key: the key read from a keyring, the secret's XML, strict settings."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from common.settings import load_host
from compute.host.virt.base import DriverError
from compute.host.virt.libvirt.ceph_secret import CephSecret, read_key, secret_xml

KEY = base64.b64encode(b"\x01\x00" + bytes(range(26))).decode()
UUID = "5b7c1f9e-3f0e-4a51-9d7a-2f2f6c1f0a11"


def test_read_key_takes_the_users_section_only(tmp_path: Path) -> None:
    keyring = tmp_path / "keyring"
    other = base64.b64encode(b"other key bytes").decode()
    keyring.write_text(
        f'[client.admin]\n\tkey = {other}\n[client.stratus]\n\tkey = {KEY}\n\tcaps mon = "profile rbd"\n'
    )
    assert read_key(keyring, "stratus") == base64.b64decode(KEY)
    with pytest.raises(DriverError, match="no key of the Ceph user nobody"):
        read_key(keyring, "nobody")


def test_read_key_errors_name_neither_path_nor_key(tmp_path: Path) -> None:
    with pytest.raises(DriverError) as missing:
        read_key(tmp_path / "secret-place" / "keyring", "stratus")
    assert "secret-place" not in missing.value.message


def test_secret_xml_is_a_private_ceph_secret_with_the_uuid_in_its_usage() -> None:
    root = ET.fromstring(secret_xml(UUID, "stratus"))
    assert root.get("private") == "yes" and root.get("ephemeral") == "no"
    assert root.findtext("uuid") == UUID
    assert root.find("usage").get("type") == "ceph"
    assert root.findtext("usage/name") == f"client.stratus {UUID}"


def test_settings_without_a_uuid_define_nothing(tmp_path: Path) -> None:
    assert CephSecret.from_settings(load_host({}, state_dir=str(tmp_path))) is None
    secret = CephSecret.from_settings(load_host({}, state_dir=str(tmp_path), ceph_secret_uuid=UUID))
    assert secret is not None and secret.keyring == tmp_path / "ceph" / "ceph.client.stratus.keyring"


@pytest.mark.parametrize("bad", ["not-a-uuid", UUID.upper(), f"{UUID}<x/>"])
def test_a_malformed_uuid_is_refused(bad: str) -> None:
    with pytest.raises(DriverError):
        CephSecret(bad, "stratus", Path("/nonexistent"))


def test_a_malformed_user_is_refused() -> None:
    with pytest.raises(DriverError):
        CephSecret(UUID, "stratus</name>", Path("/nonexistent"))
