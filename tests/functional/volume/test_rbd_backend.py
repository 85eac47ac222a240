"""The rbd volume backend against a real single-node Ceph, brought up by ``deploy/ceph/up.sh`` in a temporary state
directory (which installs Debian's Ceph packages first when they are missing) on free monitor ports, once for the
module, and stopped at its end with no Ceph process left behind.

QEMU reads a volume through librbd with the cephx user alone (a client directory holding only the monitors and
client.stratus's keyring), as the hosts' QEMU does; the libvirt secret of that key is defined when libvirtd runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings, load
from compute.host.virt.base import VolumeConnection
from volume.backends.base import BackendError, ImageSource
from volume.backends.rbd import GiB, RbdBackend, monitor_addresses

pytestmark = [pytest.mark.functional, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
CEPH = REPO / "deploy" / "ceph"
MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ceph_processes(conf: Path) -> list[int]:
    """Live (not zombie) processes whose command line names this cluster's ceph.conf."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if str(conf) in cmdline and "Z" not in state.split()[1]:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A state directory with a running cluster; yields it, then stops the cluster and checks nothing is left."""
    state = tmp_path_factory.mktemp("ceph-state")
    env = dict(os.environ, STRATUS_CEPH_MON_V2_PORT=str(free_port()), STRATUS_CEPH_MON_V1_PORT=str(free_port()))
    env["STRATUS_CEPH_OSD_GB"] = "8"
    conf = state / "ceph" / "ceph.conf"
    try:
        subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], check=True, env=env, timeout=600)
        # install.sh may have just given the virtualenv Debian's rados/rbd modules: this process sees them too
        bindings = str(Path(sys.prefix) / "ceph-bindings")
        if bindings not in sys.path:
            sys.path.append(bindings)
            importlib.invalidate_caches()
        yield state
    finally:
        subprocess.run(["bash", str(CEPH / "down.sh"), str(state)], check=False, timeout=120)
        assert ceph_processes(conf) == [], "Ceph daemons outlived down.sh"


@pytest.fixture(scope="module")
def settings(cluster: Path) -> Settings:
    return load(state_dir=str(cluster), ceph_secret_uuid=str(uuid.uuid4()))


@pytest.fixture(scope="module")
def backend(settings: Settings) -> Iterator[RbdBackend]:
    made = RbdBackend(settings)
    yield made
    made.close()


def admin(cluster: Path, *args: str) -> str:
    conf = str(cluster / "ceph" / "ceph.conf")
    return subprocess.run(["rbd", "-c", conf, *args], check=True, capture_output=True, text=True).stdout


def rbd_info(cluster: Path, location: str) -> dict:
    return json.loads(admin(cluster, "info", "--format", "json", location))


def new_id() -> str:
    return str(uuid.uuid4())


def patterned_image(path: Path, size: int, patterns: dict[int, int], disk_format: str = "qcow2") -> Path:
    """A ``disk_format`` image of ``size`` bytes holding 1 MiB of byte ``value`` at each ``offset``."""
    subprocess.run(["qemu-img", "create", "-q", "-f", disk_format, str(path), str(size)], check=True)
    for offset, value in patterns.items():
        command = ["qemu-io", "-f", disk_format, "-c", f"write -P {value:#x} {offset} 1M", str(path)]
        subprocess.run(command, check=True, capture_output=True)
    return path


def test_backend_construction_does_no_io(tmp_path: Path) -> None:
    backend = RbdBackend(load(state_dir=str(tmp_path / "nowhere")))
    assert backend._cluster is None
    with pytest.raises(BackendError, match="not a location"):
        backend.connection("volumes/../../etc")


def test_create_is_thin_idempotent_and_named_from_our_id(backend: RbdBackend, cluster: Path) -> None:
    volume_id = new_id()
    location = backend.create(volume_id, 2)
    assert location == f"volumes/volume-{volume_id}"
    assert backend.create(volume_id, 2) == location
    assert backend.exists(location) and backend.size_gb(location) == 2
    usage = json.loads(admin(cluster, "du", "--format", "json", location))
    assert usage["images"][0]["used_size"] == 0
    with pytest.raises(BackendError, match="UUID"):
        backend.create("../x", 1)
    backend.delete(location)
    assert not backend.exists(location)
    backend.delete(location)  # a missing volume: done


def test_from_image_and_export_round_trip(backend: RbdBackend, tmp_path: Path) -> None:
    image = patterned_image(tmp_path / "tiny.qcow2", 64 * MiB, {0: 0xAB, 40 * MiB: 0x5C})
    source = ImageSource("img", "qcow2", 64 * MiB, path=image)
    location = backend.create_from_image(new_id(), 1, source)
    assert backend.size_gb(location) == 1
    raw, qcow2 = tmp_path / "out.raw", tmp_path / "out.qcow2"
    backend.export(location, raw, "raw")
    backend.export(location, qcow2, "qcow2")
    expected = tmp_path / "expected.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image), str(expected)], check=True)
    data = raw.read_bytes()
    assert len(data) == GiB
    assert data[: 64 * MiB] == expected.read_bytes()
    assert data[64 * MiB :].count(0) == GiB - 64 * MiB
    compared = subprocess.run(
        ["qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(raw), str(qcow2)], capture_output=True, text=True
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    backend.delete(location)


def test_image_larger_than_the_volume_is_refused_and_leaves_nothing(backend: RbdBackend, tmp_path: Path) -> None:
    image = patterned_image(tmp_path / "big.qcow2", 2 * GiB, {0: 0x11})
    volume_id = new_id()
    with pytest.raises(BackendError, match="needs 2 GiB"):
        backend.create_from_image(volume_id, 1, ImageSource("img", "qcow2", 2 * GiB, path=image))
    assert not backend.exists(f"volumes/volume-{volume_id}")


def test_clone_from_snapshot_is_copy_on_write(backend: RbdBackend, cluster: Path, tmp_path: Path) -> None:
    image = patterned_image(tmp_path / "first.raw", 8 * MiB, {0: 0x01}, disk_format="raw")
    source = backend.create_from_image(new_id(), 1, ImageSource("img", "raw", 8 * MiB, path=image))
    snapshot = backend.create_snapshot(source, new_id())
    assert backend.create_snapshot(source, snapshot.rsplit("@snapshot-", 1)[1]) == snapshot
    clone = backend.create_from_snapshot(new_id(), 2, snapshot)
    info = rbd_info(cluster, clone)
    assert info["parent"]["image"] == source.split("/")[1]
    assert info["parent"]["snapshot"] == snapshot.rsplit("@", 1)[1]
    assert info["size"] == 2 * GiB
    assert json.loads(admin(cluster, "snap", "ls", "--format", "json", source))[0]["protected"] == "true"
    exported = tmp_path / "clone.raw"
    backend.export(clone, exported, "raw")
    with exported.open("rb") as data:
        assert data.read(MiB) == b"\x01" * MiB

    # The volume with a snapshot is refused; deleting the snapshot flattens its clone, which keeps its data.
    with pytest.raises(BackendError, match="snapshots"):
        backend.delete(source)
    backend.delete_snapshot(snapshot)
    backend.delete_snapshot(snapshot)  # a missing snapshot: done
    assert "parent" not in rbd_info(cluster, clone)
    backend.delete(source)
    backend.export(clone, exported, "raw")
    with exported.open("rb") as data:
        assert data.read(MiB) == b"\x01" * MiB
    backend.delete(clone)


def test_volume_from_a_snapshot_of_a_volume_grown_since_has_the_snapshots_size(
    backend: RbdBackend, cluster: Path
) -> None:
    """Regression: the size check read the volume's size now (2 GiB after an extend), not the snapshot's (1 GiB),
    so a volume of the snapshot's size was refused and ended in error."""
    source = backend.create(new_id(), 1)
    snapshot = backend.create_snapshot(source, new_id())
    backend.extend(source, 2)
    clone = backend.create_from_snapshot(new_id(), 1, snapshot)
    assert rbd_info(cluster, clone)["size"] == GiB
    backend.delete_snapshot(snapshot)
    backend.delete(clone)
    backend.delete(source)


def test_volume_from_volume_is_an_independent_copy(backend: RbdBackend, cluster: Path, tmp_path: Path) -> None:
    image = patterned_image(tmp_path / "src.raw", 8 * MiB, {MiB: 0x77}, disk_format="raw")
    source = backend.create_from_image(new_id(), 1, ImageSource("img", "raw", 8 * MiB, path=image))
    copy = backend.create_from_volume(new_id(), 1, source)
    assert "parent" not in rbd_info(cluster, copy)
    backend.delete(source)
    exported = tmp_path / "copy.raw"
    backend.export(copy, exported, "raw")
    assert exported.read_bytes()[: 8 * MiB] == image.read_bytes()
    backend.delete(copy)


def test_extend_grows_and_never_shrinks(backend: RbdBackend) -> None:
    location = backend.create(new_id(), 1)
    backend.extend(location, 3)
    backend.extend(location, 3)
    assert backend.size_gb(location) == 3
    with pytest.raises(BackendError, match="only grow"):
        backend.extend(location, 2)
    backend.delete(location)


def test_half_made_volume_is_made_again(backend: RbdBackend, cluster: Path) -> None:
    volume_id = new_id()
    admin(cluster, "create", "--size", "1M", f"volumes/volume-{volume_id}")  # a create that died half-way
    location = backend.create(volume_id, 1)
    assert backend.size_gb(location) == 1
    backend.delete(location)


def test_connection_is_what_hosts_accept(backend: RbdBackend, settings: Settings) -> None:
    location = backend.create(new_id(), 1)
    info = backend.connection(location).as_dict()
    port = monitor_addresses(settings.effective_ceph_conf.read_text())[0][1]
    assert info["driver_volume_type"] == "rbd"
    assert info["data"]["name"] == location
    assert info["data"]["hosts"] == ["127.0.0.1"] and info["data"]["ports"] == [str(port)]
    assert info["data"]["auth_username"] == "stratus" and info["data"]["secret_uuid"] == settings.ceph_secret_uuid
    read = VolumeConnection.from_dict(info)
    assert read.name == location and read.hosts == (("127.0.0.1", port),)
    backend.delete(location)


def test_qemu_reads_a_volume_with_the_cephx_user_alone(backend: RbdBackend, settings: Settings, tmp_path: Path) -> None:
    image = patterned_image(tmp_path / "q.raw", 4 * MiB, {2 * MiB: 0xC3}, disk_format="raw")
    location = backend.create_from_image(new_id(), 1, ImageSource("img", "raw", 4 * MiB, path=image))
    client = tmp_path / "client"
    client.mkdir()
    (host, port) = monitor_addresses(settings.effective_ceph_conf.read_text())[0]
    (client / "ceph.conf").write_text(f"[global]\nmon_host = {host}:{port}\n")
    (client / "keyring").write_bytes(settings.effective_ceph_keyring.read_bytes())
    target = f"rbd:{location}:id=stratus:conf={client / 'ceph.conf'}:keyring={client / 'keyring'}"
    env = {"PATH": os.environ["PATH"], "CEPH_ARGS": ""}
    info = subprocess.run(["qemu-img", "info", "--output", "json", target], capture_output=True, text=True, env=env)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["virtual-size"] == GiB
    read = subprocess.run(
        ["qemu-io", "-r", "-f", "raw", "-c", f"read -P 0xc3 {2 * MiB} 1M", target],
        capture_output=True,
        text=True,
        env=env,
    )
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read.stdout + read.stderr
    backend.delete(location)


def test_libvirt_secret_holds_the_users_key(settings: Settings) -> None:
    if not Path("/run/libvirt/libvirt-sock").exists():
        pytest.skip("libvirtd is not running")
    import libvirt

    from compute.host.virt.libvirt.ceph_secret import CephSecret

    secret = CephSecret.from_settings(settings)
    assert secret is not None
    connection = libvirt.open("qemu:///system")
    try:
        secret.define(connection)
        secret.define(connection)  # idempotent
        found = connection.secretLookupByUUIDString(settings.ceph_secret_uuid)
        assert found.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_CEPH
        assert found.usageID() == f"client.stratus {settings.ceph_secret_uuid}"
        found.undefine()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ("[global]\nmon_host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]\n", [("127.0.0.1", 6789)]),
        ("[global]\nmon host = 10.0.0.1, 10.0.0.2:6790\n", [("10.0.0.1", 6789), ("10.0.0.2", 6790)]),
        ("[global]\nmon-host = [v2:10.0.0.3:3300]\n", [("10.0.0.3", 3300)]),
        ("[client]\nmon_host = 10.0.0.1\n", []),
        ("[global]\nmon_host = $(reboot)\n", []),
    ],
)
def test_monitor_addresses_from_ceph_conf(conf: str, expected: list[tuple[str, int]]) -> None:
    assert monitor_addresses(conf) == expected


def test_backups_track_changes_with_rbd_snapshots_and_restore_block_for_block(backend):
    """A full backup reads the volume's allocated extents from its backup snapshot; the next one lists only what
    changed between the two snapshots (diff_iterate), even while the volume is written meanwhile, and drops the
    older snapshot when told; a restore writes the chain back identically; deleting the volume takes the
    backup snapshots with it."""
    from volume.backends.rbd_blocks import RbdBlocks

    blocks = RbdBlocks(backend)
    location = backend.create(str(uuid.uuid4()), 1)
    with blocks.writer(location) as writer:
        writer.write(0, b"\x11" * (8 * MiB))
        writer.write(512 * MiB, b"\x12" * MiB)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with blocks.reader(location, backup_id=first, since=None) as reader:
        assert not reader.tracked
        full = [(r.offset, r.length) for r in reader.ranges()]
        assert sum(length for _, length in full) == 9 * MiB
        assert reader.read(512 * MiB, 4) == b"\x12" * 4
    with blocks.writer(location) as writer:
        writer.write(4 * MiB, b"\x21" * 65536)
    with blocks.reader(location, backup_id=second, since=reader.checkpoint) as incremental:
        assert incremental.tracked
        assert sum(r.length for r in incremental.ranges()) == 65536
        assert incremental.read(4 * MiB, 2) == b"\x21\x21"
    blocks.forget(location, str(reader.checkpoint))
    blocks.forget(location, str(reader.checkpoint))  # idempotent
    with blocks.reader(location, backup_id=str(uuid.uuid4()), since=str(reader.checkpoint)) as untracked:
        assert not untracked.tracked  # its checkpoint is gone: every allocated extent is listed
    target = backend.create(str(uuid.uuid4()), 1)
    with blocks.writer(target) as writer:
        writer.write(0, b"\x99" * MiB)
        writer.zero(0, writer.size)
        writer.write(4 * MiB, b"\x21" * 65536)
    with blocks.reader(target, backup_id=str(uuid.uuid4()), since=None) as restored:
        assert [(r.offset, r.length) for r in restored.ranges()] == [(4 * MiB, 65536)]
    backend.delete(location)  # the backup snapshots go with it
    backend.delete(target)
    assert not backend.exists(location)


def test_backups_kept_in_a_ceph_pool_hold_only_their_chunks_and_restore_block_for_block(settings):
    """The rbd backup store: a backup is an image of 64 KiB objects in the backups pool plus its manifest object,
    invisible until committed; an aborted one leaves nothing; a chain written back through the rbd blocks is the
    volume again; delete removes image and manifest."""
    from volume.backends.rbd_blocks import RbdBlocks
    from volume.backup_jobs import _back_up, write_chain
    from volume.backup_store.base import BackupStoreError
    from volume.backup_store.rbd import RbdStore

    store_settings = dataclasses.replace(settings, backup_store="rbd")
    backend, store = RbdBackend(store_settings), RbdStore(store_settings)
    blocks = RbdBlocks(backend)
    try:
        location = backend.create(str(uuid.uuid4()), 1)
        with blocks.writer(location) as writer:
            writer.write(0, b"\x31" * (3 * MiB))
            writer.write(700 * MiB, b"\x32" * 65536)

        class Record:  # what _back_up reads of a backup record
            def __init__(self, backup_id: str, parent: Record | None = None) -> None:
                self.id, self.checkpoint = backup_id, None
                self.parent = parent

        full = Record(str(uuid.uuid4()))
        copied = _back_up(blocks, store, location, full, None, [], None)
        full.checkpoint = copied.checkpoint
        assert copied.stored_bytes == 3 * MiB + 65536 == store.stored_bytes(full.id)
        with blocks.writer(location) as writer:
            writer.write(MiB, b"\x41" * 65536)
        incremental = Record(str(uuid.uuid4()))
        copied = _back_up(blocks, store, location, incremental, full, [full.id], None)
        assert copied.tracked and copied.stored_bytes == 65536

        aborted = store.open(str(uuid.uuid4()), GiB)
        aborted.put(0, b"x" * 65536)
        aborted.abort()
        with pytest.raises(BackupStoreError):
            store.manifest(aborted.backup_id)

        target = backend.create(str(uuid.uuid4()), 1)
        assert write_chain(blocks, store, target, [full.id, incremental.id]) == 3 * MiB + 65536
        with blocks.reader(target, backup_id=str(uuid.uuid4()), since=None) as restored:
            assert restored.read(MiB, 4) == b"\x41" * 4 and restored.read(2 * MiB, 4) == b"\x31" * 4
            assert restored.read(700 * MiB, 4) == b"\x32" * 4
        for backup_id in (incremental.id, full.id):
            store.delete(backup_id)
            with pytest.raises(BackupStoreError):
                store.manifest(backup_id)
        backend.delete(location)
        backend.delete(target)
    finally:
        store.close()
