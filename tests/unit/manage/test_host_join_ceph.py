"""A host joined to a cloud whose root disks or volumes live in Ceph gets the cluster as its clients need it: the
bundle carries checked values (fsid, monitors, user, key), the host writes its own ceph.conf and keyring from them,
and a bundle whose values would smuggle a line into either is refused with nothing written
(``manage.ceph_client``, ``manage.host_join``)."""

from __future__ import annotations

import re
import tarfile
import tomllib

import pytest

from common.exceptions import ConfigError
from common.settings import load
from manage import ceph_client, host_join

CONTROL = "192.0.2.10"
FSID = "7ff662cb-d1fe-4b1f-9eff-bb4fb102d7d6"
KEY = "AQBgxVRnAAAAABAAk7gk1Xk4mMnZzKxkD6cW3Q=="
CONTROL_CONF = f"""[global]
fsid = {FSID}
mon_host = [v2:{CONTROL}:3300,v1:{CONTROL}:6789]
public_addr = {CONTROL}
keyring = /srv/control/ceph/$cluster.$name.keyring

[osd]
osd_data = /srv/control/ceph/osd/$cluster-$id
"""


def control_settings(tmp_path, extra=""):
    state = tmp_path / "control"
    (state / "ceph").mkdir(parents=True)
    (state / "stratus.toml").write_text(
        f'broker_bind = "127.0.0.1 {CONTROL}"\npublic_url = "http://{CONTROL}:8000"\n{extra}'
    )
    (state / "ceph" / "ceph.conf").write_text(CONTROL_CONF)
    (state / "ceph" / "ceph.client.stratus.keyring").write_text(f"[client.stratus]\n\tkey = {KEY}\n")
    return load(environ={"STRATUS_STATE_DIR": str(state)})


def paths(tmp_path):
    return host_join.HostPaths(tmp_path / "host", tmp_path / "pki", None, None, None)


def test_a_host_of_a_cloud_with_ceph_volumes_gets_its_own_ceph_conf_and_keyring_and_nothing_of_the_daemons(tmp_path):
    settings = control_settings(tmp_path, 'volume_backends = "file,rbd"\n')
    bundle, _ = host_join.join(settings, "node-1", "10.0.0.5", tmp_path / "b.tar")
    host_join.setup(bundle, paths(tmp_path))

    conf = (tmp_path / "host" / "ceph" / "ceph.conf").read_text()
    assert f"fsid = {FSID}\n" in conf and f"mon_host = [v2:{CONTROL}:3300,v1:{CONTROL}:6789]\n" in conf
    assert "/srv/control" not in conf and "osd_data" not in conf
    keyring = tmp_path / "host" / "ceph" / "ceph.client.stratus.keyring"
    assert keyring.read_text() == f"[client.stratus]\n\tkey = {KEY}\n"
    assert keyring.stat().st_mode & 0o777 == 0o600


def test_root_disks_in_ceph_are_enough_for_a_host_to_get_the_cluster(tmp_path):
    settings = control_settings(tmp_path, 'images_type = "rbd"\n')
    bundle, _ = host_join.join(settings, "node-1", "10.0.0.5", tmp_path / "b.tar")
    manifest = tomllib.loads(host_join.read_bundle(bundle)["bundle.toml"].decode())
    assert manifest["ceph"] == {"fsid": FSID, "mon_host": f"[v2:{CONTROL}:3300,v1:{CONTROL}:6789]",
                                "user": "stratus", "key": KEY}  # fmt: skip


def test_a_host_of_a_cloud_without_ceph_gets_no_cluster(tmp_path):
    settings = control_settings(tmp_path)
    bundle, _ = host_join.join(settings, "node-1", "10.0.0.5", tmp_path / "b.tar")
    host_join.setup(bundle, paths(tmp_path))
    assert "ceph" not in tomllib.loads(host_join.read_bundle(bundle)["bundle.toml"].decode())
    assert not (tmp_path / "host" / "ceph").exists()


def test_join_says_to_start_ceph_first_when_hosts_use_it_and_its_conf_is_missing(tmp_path):
    settings = control_settings(tmp_path, 'volume_backends = "file,rbd"\n')
    settings.effective_ceph_conf.unlink()
    with pytest.raises(ConfigError, match="start Ceph before joining hosts"):
        host_join.join(settings, "node-1", "10.0.0.5", tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mon_host", f"{CONTROL}:6789\\nkeyring = /etc/shadow"),
        ("mon_host", f"{CONTROL}:6789 ; x"),
        ("mon_host", ""),
        ("fsid", "not-a-uuid"),
        ("fsid", FSID.upper()),
        ("user", "stratus]\\n[client.admin"),
        ("key", "not base64!"),
        ("key", f"{KEY}\\n\\tcaps mon = allow *"),
    ],
)
def test_setup_refuses_a_ceph_table_that_would_put_another_line_into_the_hosts_files(tmp_path, field, value):
    settings = control_settings(tmp_path, 'volume_backends = "file,rbd"\n')
    bundle, _ = host_join.join(settings, "node-1", "10.0.0.5", tmp_path / "b.tar")
    members = host_join.read_bundle(bundle)
    text = re.sub(rf'(?m)^{field} = ".*"$', f'{field} = "{value}"', members["bundle.toml"].decode())
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(tampered, "w") as tar:
        for name, data in (members | {"bundle.toml": text.encode()}).items():
            host_join._tar_add(tar, name, data)
    with pytest.raises(ConfigError):
        host_join.setup(tampered, paths(tmp_path))
    assert not (tmp_path / "host").exists()


@pytest.mark.parametrize(
    "table",
    [
        {"fsid": FSID, "mon_host": f"{CONTROL}:6789", "user": "stratus"},
        {"fsid": FSID, "mon_host": f"{CONTROL}:6789", "user": "stratus", "key": KEY, "keyring": "/etc/shadow"},
        {"fsid": FSID, "mon_host": 6789, "user": "stratus", "key": KEY},
        "fsid",
    ],
)
def test_a_ceph_table_must_hold_exactly_the_four_strings(table):
    with pytest.raises(ConfigError):
        ceph_client.CephClient.from_table(table)


@pytest.mark.parametrize(
    "mon_host",
    [
        "10.0.0.1:6789",
        "10.0.0.1:6789,10.0.0.2:6789 10.0.0.3:6789",
        "[v2:10.0.0.1:3300,v1:10.0.0.1:6789],[v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0]",
        "[v2:[fd00::1]:3300,v1:[fd00::1]:6789]",
        "mon-a.example.org:6789",
        "10.0.0.1,10.0.0.2",
    ],
)
def test_monitor_lists_as_ceph_writes_them_are_taken(mon_host):
    assert ceph_client.CephClient(FSID, mon_host, "stratus", KEY).mon_host == mon_host


def test_an_operators_ceph_conf_with_spaced_keys_and_comments_is_read(tmp_path):
    settings = control_settings(tmp_path, 'volume_backends = "rbd"\n')
    settings.effective_ceph_conf.write_text(
        f"; an operator's file\n[global]\n  fsid = {FSID}  # ours\n  mon host = 10.1.0.1:6789, 10.1.0.2:6789\n"
    )
    client = ceph_client.of_control(settings)
    assert client is not None and client.mon_host == "10.1.0.1:6789, 10.1.0.2:6789" and client.fsid == FSID
