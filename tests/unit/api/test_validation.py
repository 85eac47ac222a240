from __future__ import annotations

import pytest

from api.identity.schemas import AUTH, PROJECT_CREATE
from api.validation import validate
from common.exceptions import BadRequest, ValidationError


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


# --- hostile JSON: every API answers it with a 400 in its own fault format, never a 500 ----------------------

HOSTILE_NAMES = {
    "a lone surrogate": b'"\\ud800"',
    "a NUL character": b'"a\\u0000b"',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,  # the standard library's parser ran out of stack
}
FAULT_OF = {
    "/compute/v2.1/os-keypairs": lambda body: body["badRequest"]["message"],
    "/network/v2.0/networks": lambda body: body["NeutronError"]["message"],
    "/image/v2/images": lambda body: body["message"],
    "/identity/v3/projects": lambda body: body["error"]["message"],
}
WRAPPERS = {
    "/compute/v2.1/os-keypairs": (b'{"keypair": {"name": ', b"}}"),
    "/network/v2.0/networks": (b'{"network": {"name": ', b"}}"),
    "/image/v2/images": (b'{"name": ', b"}"),
    "/identity/v3/projects": (b'{"project": {"name": ', b"}}"),
}


@pytest.mark.parametrize("path", list(WRAPPERS))
@pytest.mark.parametrize("kind", list(HOSTILE_NAMES))
def test_a_hostile_name_is_a_400_in_the_api_own_format(api_cloud, path: str, kind: str):
    before, after = WRAPPERS[path]
    token = api_cloud.admin_token if path.startswith("/identity") else api_cloud.demo_token
    response = api_cloud.client().post(
        path,
        data=before + HOSTILE_NAMES[kind] + after,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert FAULT_OF[path](response.json)


def test_nesting_past_the_limit_is_refused_before_any_schema_walks_it():
    from api.validation import MAX_DEPTH, check_document

    document: object = "x"
    for _ in range(MAX_DEPTH):
        document = [document]
    check_document(document)  # as deep as allowed
    with pytest.raises(BadRequest, match="nests deeper"):
        check_document([document])


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 1e19, -1e300])
def test_a_number_beyond_a_64_bit_integer_names_its_field(number: float):
    from api.validation import check_document

    with pytest.raises(ValidationError, match=r"'a\.0\.b'"):
        check_document({"a": [{"b": number}]})


def test_a_nul_in_a_key_is_refused():
    from api.validation import check_document

    with pytest.raises(ValidationError, match="NUL"):
        check_document({"metadata": {"k\x00": "v"}})
