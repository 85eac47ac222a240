"""Server names reach the domain XML (in Stratus's metadata element): the schema refuses what XML 1.0 cannot hold,
so a hostile name is a 400 naming the field instead of a build that fails on its host."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.compute.schemas import SERVER_CREATE
from api.validation import validate
from common.exceptions import ValidationError
from compute.host.virt.libvirt import config
from tests.hostile import SETTINGS, hostile_names


def _server(name: str) -> dict[str, object]:
    return {"server": {"name": name, "flavorRef": "1", "imageRef": "i"}}


@pytest.mark.parametrize("name", ["web\ufffe1", "web\uffff", "web\x0b1", "web\n1", " web"])
def test_a_server_name_xml_cannot_hold_is_a_400_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError, match=r"server\.name"):
        validate(_server(name), SERVER_CREATE)


def test_ordinary_names_with_markup_characters_pass() -> None:
    assert validate(_server("web-1 <&\"'> \u00e9\U0001f600"), SERVER_CREATE)


@SETTINGS
@given(st.one_of(hostile_names(), st.text(min_size=1, max_size=60)))
def test_every_server_name_the_api_accepts_can_be_written_in_domain_xml(name: str) -> None:
    try:
        validate(_server(name), SERVER_CREATE)
    except ValidationError:
        return
    domain = config.DomainConfig(
        uuid="6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10", display_name=name, virt_type="qemu", memory_mb=64, vcpus=1,
        console_log=Path("/srv/console.log"),
    )  # fmt: skip
    assert ET.fromstring(config.domain_xml(domain)).find("name") is not None
