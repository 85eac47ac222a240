"""What ``make up VOLUMES=ceph|file`` writes into the settings file, and when ``make up`` runs the local Ceph."""

from __future__ import annotations

from pathlib import Path

from common.settings import load
from deploy.bootstrap import local_ceph, set_volumes


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
