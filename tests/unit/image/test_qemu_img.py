"""The one runner of qemu-img on tenant data, against the real qemu-img: every trick that names a host file is refused
before QEMU opens anything, no byte of the canary it names ever reaches an output, clean images still convert, and
the limits and the json: description hold even where inspection is not asked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from common.exceptions import StratusError
from image import qemu_img
from image.inspector import InspectionError
from tests.harness import wait_until
from tests.hostile_images import hostile_images, hostile_labels, leaks, make_canary

MiB = 1 << 20


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[Path, str]]]:
    directory = tmp_path_factory.mktemp("hostile")
    canary = make_canary(directory)
    return canary, hostile_images(directory, canary)


@pytest.mark.parametrize("label", hostile_labels())
@pytest.mark.parametrize("target_format", ["raw", "qcow2"])
def test_conversion_of_an_image_naming_a_host_file_is_refused_and_reads_none_of_it(
    hostile: tuple[Path, dict[str, tuple[Path, str]]], tmp_path: Path, label: str, target_format: str
) -> None:
    canary, images = hostile
    source, claim = images[label]
    target = tmp_path / f"out.{target_format}"
    with pytest.raises(InspectionError):
        qemu_img.convert(source, claim, target, target_format)
    assert not target.exists() or not leaks(target.read_bytes(), canary)


@pytest.mark.parametrize("label", hostile_labels())
def test_size_and_overlay_of_an_image_naming_a_host_file_are_refused(
    hostile: tuple[Path, dict[str, tuple[Path, str]]], tmp_path: Path, label: str
) -> None:
    _, images = hostile
    source, claim = images[label]
    with pytest.raises(StratusError):
        qemu_img.virtual_size(source, claim)
    with pytest.raises(StratusError):
        qemu_img.create_overlay(tmp_path / "disk", source, claim if claim in ("raw", "qcow2") else "raw", MiB)
    assert not (tmp_path / "disk").exists()


def test_a_backing_file_is_not_opened_even_where_inspection_is_skipped(
    hostile: tuple[Path, dict[str, tuple[Path, str]]], tmp_path: Path
) -> None:
    # The json: description is the second wall: QEMU is told the image has no backing, whatever its header says.
    canary, images = hostile
    source, _ = images["qcow2 with a backing file"]
    target = tmp_path / "out.raw"
    qemu_img.run(
        ["convert", *qemu_img.source_args(source, "qcow2"), "-O", "raw", str(target)], "test", qemu_img.INFO_LIMITS
    )
    data = target.read_bytes()
    assert len(data) == 64 * 1024 and data == bytes(len(data)) and not leaks(data, canary)


def test_qemu_img_runs_under_its_limits(tmp_path: Path) -> None:
    image = tmp_path / "a.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1M"], check=True, timeout=60)
    starved = qemu_img.Limits(address_space=8 * MiB, cpu_seconds=1, wall_seconds=30.0)
    with pytest.raises(qemu_img.QemuImgError, match="reading"):
        qemu_img.run(["info", *qemu_img.source_args(image, "qcow2")], "reading", starved)
    assert "virtual size: 1 MiB" in qemu_img.run(
        ["info", *qemu_img.source_args(image, "qcow2")], "x", qemu_img.INFO_LIMITS
    )


@pytest.mark.parametrize(
    ("driver", "options", "disk_format"),
    [
        ("qcow2", (), "qcow2"),
        ("vmdk", ("-o", "subformat=streamOptimized"), "vmdk"),
        ("vmdk", (), "vmdk"),
        ("vpc", (), "vhd"),
        ("vdi", (), "vdi"),
        ("raw", (), "raw"),
    ],
)
def test_clean_images_convert_with_their_data(
    tmp_path: Path, driver: str, options: tuple[str, ...], disk_format: str
) -> None:
    data = (b"stratus" * 1000)[:4096] + bytes(MiB - 4096)
    plain = tmp_path / "plain.raw"
    plain.write_bytes(data)
    source = tmp_path / f"source.{driver}"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", driver, *options, str(plain), str(source)], check=True)
    for target_format in qemu_img.CONVERTIBLE_TARGETS:
        target = tmp_path / f"target.{target_format}"
        qemu_img.convert(source, disk_format, target, target_format)
        back = tmp_path / "back.raw"
        subprocess.run(["qemu-img", "convert", "-f", target_format, "-O", "raw", str(target), str(back)], check=True)
        assert back.read_bytes()[: len(data)] == data, target_format
    assert qemu_img.virtual_size(source, disk_format) >= MiB


def test_flatten_copies_the_overlay_and_its_base_and_refuses_an_unsafe_base(
    hostile: tuple[Path, dict[str, tuple[Path, str]]], tmp_path: Path
) -> None:
    canary, images = hostile
    base = tmp_path / "base.raw"
    base.write_bytes(b"base data" * 100 + bytes(MiB - 900))
    overlay = tmp_path / "disk"
    qemu_img.create_overlay(overlay, base, "raw", 2 * MiB)
    snapshot = tmp_path / "snap.qcow2"
    qemu_img.flatten(overlay, snapshot)
    flat = tmp_path / "flat.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(snapshot), str(flat)], check=True)
    assert flat.read_bytes()[:900] == base.read_bytes()[:900]

    for label in ("qcow2 with a backing file", "descriptor after a blank line, as raw"):
        hostile_base, claim = images[label]
        on_hostile = tmp_path / "hostile-disk"
        on_hostile.unlink(missing_ok=True)
        # An overlay made behind our back (the base changed after the disk was made): flatten checks it again.
        subprocess.run(
            [
                "qemu-img",
                "create",
                "-q",
                "-u",
                "-f",
                "qcow2",
                "-F",
                claim,
                "-b",
                str(hostile_base),
                str(on_hostile),
                "1M",
            ],
            check=True,
        )
        target = tmp_path / "hostile-snap.qcow2"
        with pytest.raises(InspectionError):
            qemu_img.flatten(on_hostile, target)
        assert not target.exists() or not leaks(target.read_bytes(), canary)


def test_flatten_with_force_share_reads_a_disk_that_a_paused_qemu_holds(tmp_path: Path) -> None:
    # The driver snapshots a paused guest: QEMU holds its disk's lock, and every read of the chain must share it.
    base = tmp_path / "base.raw"
    base.write_bytes(b"guest data" * 1000 + bytes(MiB - 10000))
    overlay = tmp_path / "disk"
    qemu_img.create_overlay(overlay, base, "raw", 2 * MiB)
    machine = ["qemu-system-x86_64", "-S", "-display", "none", "-nodefaults", "-monitor", "none", "-serial", "none"]
    drive = ["-drive", f"file={overlay},format=qcow2,if=virtio"]
    guest = subprocess.Popen([*machine, *drive], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def locked() -> bool:
            assert guest.poll() is None, "QEMU exited before it took the disk's lock"
            info = subprocess.run(["qemu-img", "info", "-f", "qcow2", str(overlay)], capture_output=True)
            return info.returncode != 0

        wait_until(locked, 30, message="QEMU never took the disk's lock")
        with pytest.raises(qemu_img.QemuImgError, match="another process"):
            qemu_img.flatten(overlay, tmp_path / "refused.qcow2")
        qemu_img.flatten(overlay, tmp_path / "snap.qcow2", force_share=True)
    finally:
        guest.kill()
        guest.wait(timeout=30)
    flat = tmp_path / "flat.raw"
    subprocess.run(
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(tmp_path / "snap.qcow2"), str(flat)], check=True
    )
    assert flat.read_bytes()[:MiB] == base.read_bytes()
