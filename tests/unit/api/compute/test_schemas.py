"""Server names reach the domain XML (in Stratus's metadata element): the schema refuses what XML 1.0 cannot hold,
so a hostile name is a 400 naming the field instead of a build that fails on its host."""

from __future__ import annotations

import pytest

from api.compute.schemas import SERVER_CREATE
from api.validation import validate
from common.exceptions import ValidationError


def _server(name: str) -> dict[str, object]:
    return {"server": {"name": name, "flavorRef": "1", "imageRef": "i"}}


@pytest.mark.parametrize("name", ["web\ufffe1", "web\uffff", "web\x0b1", "web\n1", " web"])
def test_a_server_name_xml_cannot_hold_is_a_400_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError, match=r"server\.name"):
        validate(_server(name), SERVER_CREATE)


def test_ordinary_names_with_markup_characters_pass() -> None:
    assert validate(_server("web-1 <&\"'> \u00e9\U0001f600"), SERVER_CREATE)
