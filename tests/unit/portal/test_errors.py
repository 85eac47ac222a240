"""Each API's fault body becomes one readable message, attached to the form field it is about."""

from __future__ import annotations

import json

import pytest

from portal.charts import Bar, quota_bars
from portal.csrf import mask, unmask, valid
from portal.errors import ApiError, field_of, parse_fault


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("document", "message", "kind"),
    [
        (
            {
                "forbidden": {
                    "code": 403,
                    "message": "Quota exceeded for instances: Requested 3, but already used 0 of 1",
                }
            },
            "Quota exceeded for instances: Requested 3, but already used 0 of 1",
            "forbidden",
        ),
        (
            {
                "NeutronError": {
                    "type": "OverQuota",
                    "message": "Quota exceeded for resources: ['network'].",
                    "detail": "network: limit 1, in use 1, requested 1",
                }
            },
            "Quota exceeded for resources: ['network']. (network: limit 1, in use 1, requested 1)",
            "OverQuota",
        ),
        (
            {"code": "413 Request Entity Too Large", "title": "Request Entity Too Large", "message": "over a limit"},
            "over a limit",
            "",
        ),
        (
            {"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires auth"}},
            "The request you have made requires auth",
            "",
        ),
    ],
)
def test_every_apis_fault_body_gives_its_message(document: object, message: str, kind: str) -> None:
    assert parse_fault(_body(document)) == (message, kind)


def test_a_body_that_is_not_a_fault_gives_a_generic_message() -> None:
    error = ApiError.from_response("/x", 502, b"<html>bad gateway</html>")
    assert error.message == "The request failed (HTTP 502)."


def test_over_quota_is_recognised_in_each_wording() -> None:
    assert ApiError(403, "Quota exceeded for cores").over_quota
    assert ApiError(409, "Quota exceeded for resources: ['port'].", kind="OverQuota").over_quota
    assert ApiError(413, "Project p is over a limit for [Resource image_count_total ...]").over_quota
    assert not ApiError(409, "Cannot 'os-start' instance while it is in vm_state active").over_quota


def test_field_paths_and_keywords_find_the_field() -> None:
    fields = {"server.name": "name", "server.flavorRef": "flavor"}
    assert field_of("Invalid input for field 'server.name': '' is too short", fields, {}) == "name"
    assert field_of("Invalid input for field 'server.flavorRef': bad", fields, {}) == "flavor"
    assert (
        field_of("Invalid input for cidr. Reason: '10.0.0.300/24' is not a valid IP subnet.", {"cidr": "cidr"}, {})
        == "cidr"
    )
    assert field_of("Quota exceeded for instances", fields, {"quota": "count"}) == "count"
    assert field_of("Something else entirely", fields, {"quota": "count"}) == ""


def test_csrf_tokens_differ_per_page_and_only_fit_their_secret() -> None:
    secret = "ab" * 32
    first, second = mask(secret), mask(secret)
    assert first != second and unmask(first) == unmask(second) == secret
    assert valid(secret, first) and not valid("cd" * 32, first)
    assert not valid(secret, "") and not valid(secret, "zz") and not valid(None, first) and not valid(secret, secret)


def test_quota_bars_from_the_three_apis() -> None:
    bars = quota_bars(
        {
            "instances": {"in_use": 8, "limit": 10},
            "cores": {"in_use": 20, "limit": 20},
            "ram": {"in_use": 0, "limit": -1},
        },
        {"network": {"used": 1, "limit": 100}, "port": {"used": 3, "limit": 500}},
        {"image_count_total": {"usage": 2, "limit": -1}},
    )
    by_label = {b.label: b for b in bars}
    assert [b.label for b in bars] == ["Instances", "vCPUs", "RAM", "Networks", "Ports", "Images"]
    assert by_label["Instances"].level == "warn" and by_label["Instances"].percent == 80
    assert by_label["vCPUs"].level == "full"
    assert by_label["RAM"].unlimited and by_label["RAM"].text == "0 MiB used, no limit"
    assert Bar("x", 5, 0).fraction == 1.0 and Bar("x", 0, 0).fraction == 0.0
    assert Bar("x", 15, 10).fraction == 1.0  # over a lowered limit: a full bar, not a longer one
