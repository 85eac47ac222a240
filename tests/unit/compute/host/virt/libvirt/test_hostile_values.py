"""No user string becomes syntax in what a compute host writes: the domain XML (names, MACs, taps, bridges, paths)
and the config drive (metadata, keys, user data). Hostile values are refused with ``InvalidDomainValue`` or
written as data, never as elements, attributes, directives or file names."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compute.host.virt.base import ConfigDrive
from compute.host.virt.libvirt import config, disks
from tests.hostile import INJECTIONS, SETTINGS, hostile_names

UUID = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"
NIC = config.InterfaceConfig("fa:16:3e:00:00:01", "tap6f1c0f1e-3b", 1450, bridge="qbr6f1c0f1e-3b")
DISK = config.DiskConfig(Path("/srv/stratus/instances/x/disk"), "vda", "virtio")
ILLEGAL_IN_XML = ("\x01", "\x0b", "\x1b", "\ufffe", "\uffff", "\ud800")


def _domain(**changes: Any) -> config.DomainConfig:
    fields: dict[str, Any] = {
        "uuid": UUID,
        "display_name": "web-1",
        "virt_type": "qemu",
        "memory_mb": 256,
        "vcpus": 1,
        "console_log": Path("/srv/stratus/instances/x/console.log"),
        "host": "node-1",
        "disks": (DISK,),
        "interfaces": (NIC,),
    }
    return config.DomainConfig(**{**fields, **changes})


def _forged(value: Any, **fields: Any) -> Any:
    copy = dataclasses.replace(value)
    for name, field_value in fields.items():
        object.__setattr__(copy, name, field_value)
    return copy


def _shape(xml: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(element.tag, tuple(sorted(element.attrib))) for element in ET.fromstring(xml).iter()]


BASELINE = _shape(config.domain_xml(_domain()))


@pytest.mark.parametrize("value", [*INJECTIONS, "fa:16:3e:00:00:01\n", "FA:16:3E:00:00:01", "tap x", "-tap"])
def test_macs_taps_and_bridges_are_plain_or_refused(value: str) -> None:
    for fields in ({"mac": value}, {"tap": value}, {"bridge": value}):
        with pytest.raises(config.InvalidDomainValue):
            dataclasses.replace(NIC, **fields)


@SETTINGS
@given(hostile_names())
def test_a_hostile_interface_value_is_refused_or_written_as_one_attribute(value: str) -> None:
    for fields in ({"mac": value}, {"tap": value}, {"bridge": value}, {"model": value}):
        try:
            nic = dataclasses.replace(NIC, **fields)
        except config.InvalidDomainValue:
            continue
        assert _shape(config.domain_xml(_domain(interfaces=(nic,)))) == BASELINE


@pytest.mark.parametrize("character", ILLEGAL_IN_XML)
def test_a_name_with_a_character_xml_cannot_hold_is_refused_before_any_document(character: str) -> None:
    with pytest.raises(config.InvalidDomainValue, match="instance name"):
        _domain(display_name=f"web{character}1")
    with pytest.raises(config.InvalidDomainValue):  # forced past the type: the document check still refuses it
        config.domain_xml(_forged(_domain(), display_name=f"web{character}1"))
    with pytest.raises(config.InvalidDomainValue):
        config.domain_xml(_domain(interfaces=(_forged(NIC, tap=f"tap{character}"),)))


@SETTINGS
@given(st.one_of(hostile_names(), st.text(max_size=80)))
def test_any_name_is_refused_or_kept_as_the_text_of_one_element(name: str) -> None:
    try:
        domain = _domain(display_name=name, host=name or "node-1")
    except config.InvalidDomainValue:
        return
    xml = config.domain_xml(domain)
    assert _shape(xml) == BASELINE
    written = ET.fromstring(xml).find(f"./metadata/{{{config.NAMESPACE}}}instance/{{{config.NAMESPACE}}}name")
    assert written is not None and (written.text or "") == name.replace("\r\n", "\n").replace("\r", "\n")


def test_uuids_paths_and_words_are_checked_too() -> None:
    for changes in (
        {"uuid": UUID.upper()},
        {"uuid": "../../etc/passwd"},
        {"virt_type": "kvm'/><devices>"},
        {"console_log": Path("/srv/x\n/console.log")},
        {"memory_mb": True},
        {"vcpus": 0},
    ):
        with pytest.raises(config.InvalidDomainValue):
            _domain(**changes)
    for changes in ({"target": "vda\n"}, {"bus": "virtio bus"}, {"path": Path("/srv/\x00x")}, {"cache": ""}):
        with pytest.raises(config.InvalidDomainValue):
            dataclasses.replace(DISK, **changes)


# --- config drive ------------------------------------------------------------------------------------------

FILES = ["openstack/latest/meta_data.json", "openstack/latest/network_data.json", "openstack/latest/vendor_data.json"]


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@SETTINGS
@given(
    st.dictionaries(hostile_names(), st.one_of(hostile_names(), st.integers(), st.none()), max_size=4),
    st.one_of(st.none(), st.binary(max_size=64)),
)
def test_hostile_metadata_stays_json_in_the_fixed_files(meta: dict[str, Any], user_data: bytes | None) -> None:
    drive = ConfigDrive(
        meta_data={"name": next(iter(meta), "x"), "meta": meta, "public_keys": {"k\n../x": "ssh-ed25519 A\n"}},
        user_data=user_data,
    )
    with _staging() as root:
        disks.stage_config_drive(drive, root)
        assert _tree(root) == sorted(FILES + (["openstack/latest/user_data"] if user_data is not None else []))
        text = (root / FILES[0]).read_text(encoding="ascii")
        assert "\n" not in text and json.loads(text) == drive.meta_data
        if user_data is not None:
            assert (root / "openstack/latest/user_data").read_bytes() == user_data


def test_metadata_that_is_not_json_refuses_the_drive_instead_of_writing_it(tmp_path: Path) -> None:
    for meta in ({"x": float("nan")}, {"x": object()}):
        with pytest.raises(disks.DriverError, match=r"meta_data\.json"):
            disks.stage_config_drive(ConfigDrive(meta_data=meta), tmp_path / str(len(list(tmp_path.iterdir()))))


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="isoinfo (genisoimage package) missing")
def test_a_hostile_config_drive_image_holds_only_the_fixed_files(tmp_path: Path) -> None:
    hostile = {name: name for name in (*INJECTIONS[:4], "../../../etc/passwd", "a/b", "\u202e", "x" * 300)}
    drive = ConfigDrive(meta_data={"name": "../etc\n", "meta": hostile}, user_data=b"\x00\xff../\n")
    iso = tmp_path / "disk.config"
    disks.build_config_drive(drive, iso)
    listing = subprocess.run(["isoinfo", "-i", str(iso), "-f", "-R"], capture_output=True, text=True, check=True)
    assert sorted(listing.stdout.split()) == sorted(
        ["/openstack", "/openstack/latest", *(f"/{name}" for name in FILES), "/openstack/latest/user_data"]
    )


class _staging:
    """A fresh directory per Hypothesis example (function-scoped fixtures are shared across examples)."""

    def __enter__(self) -> Path:
        import tempfile

        self._directory = tempfile.TemporaryDirectory(prefix="stage-")
        return Path(self._directory.name)

    def __exit__(self, *exc: object) -> None:
        self._directory.cleanup()
