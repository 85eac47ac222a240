from __future__ import annotations

import pytest

from api.identity.schemas import AUTH, PROJECT_CREATE
from api.validation import validate
from common.exceptions import ValidationError


def test_a_wrong_type_names_the_nested_field():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "u", "password": 1}}}}}
    with pytest.raises(ValidationError, match=r"auth\.identity\.password\.user\.password"):
        validate(body, AUTH)


def test_a_missing_field_is_named():
    with pytest.raises(ValidationError, match=r"'project\.name'"):
        validate({"project": {}}, PROJECT_CREATE)


def test_an_unknown_field_is_named():
    with pytest.raises(ValidationError, match="colour"):
        validate({"project": {"name": "x", "colour": "red"}}, PROJECT_CREATE)


def test_a_valid_body_is_returned_unchanged():
    body = {"project": {"name": "x", "enabled": False}}
    assert validate(body, PROJECT_CREATE) is body
