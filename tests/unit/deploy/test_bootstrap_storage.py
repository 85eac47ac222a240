"""What ``make up VOLUMES=ceph|file`` writes into the settings file, and when ``make up`` runs the local Ceph."""

from __future__ import annotations

from pathlib import Path

from common.settings import load
from deploy.bootstrap import ceph_address, local_ceph, set_volumes
from manage import host_machine


def settings_of(config: Path):
    return load({"STRATUS_CONFIG": str(config)}, state_dir=str(config.parent))


def test_volumes_ceph_puts_new_images_root_disks_and_backups_in_ceph_and_file_leaves_them_there(tmp_path):
    config = tmp_path / "stratus.toml"
    config.write_text('image_store = "filesystem"\nregion = "RegionOne"\n')
    set_volumes(config, "ceph")
    settings = settings_of(config)
    assert (settings.volume_backends, settings.image_store, settings.region) == ("file,rbd", "rbd", "RegionOne")
    assert (settings.images_type, settings.backup_store) == ("rbd", "rbd")
    secret = settings.ceph_secret_uuid
    assert secret and local_ceph(settings)

    set_volumes(config, "file")
    settings = settings_of(config)
    assert (settings.volume_backends, settings.image_store, settings.images_type) == ("file", "rbd", "rbd")
    assert settings.backup_store == "rbd"
    assert settings.ceph_secret_uuid == secret
    assert local_ceph(settings), "the images and root disks in Ceph need the cluster even without Ceph volumes"
    assert config.read_text().count("image_store") == 1


def test_no_local_ceph_without_rbd_or_with_a_cluster_of_ones_own(tmp_path):
    config = tmp_path / "stratus.toml"
    set_volumes(config, "file")
    assert not local_ceph(settings_of(config))
    config.write_text(config.read_text() + 'image_store = "rbd"\nceph_conf = "/etc/ceph/ceph.conf"\n')
    assert not local_ceph(settings_of(config))


def test_ceph_binds_loopback_unless_the_hosts_are_host_machines_which_reach_only_the_underlay(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(host_machine, "ensure_control_address", lambda settings: made.append(settings.hosts))
    config = tmp_path / "stratus.toml"
    set_volumes(config, "ceph")
    assert ceph_address(settings_of(config)) == "127.0.0.1" and not made
    config.write_text(
        config.read_text() + 'hosts = 3\nhost_machines = true\nnetwork_simulated_underlay = "10.77.0.0/24"\n'
    )
    assert ceph_address(settings_of(config)) == "10.77.0.1"
    assert made == [3], "the address is made on the underlay bridge before Ceph binds it"
