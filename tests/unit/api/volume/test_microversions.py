"""Negotiating the Block Storage API's microversion: the header's forms, the bounds, and the echo."""

from __future__ import annotations

import pytest

from api.volume import microversions
from api.volume.microversions import InvalidVersion, VersionNotSupported, parse, requested
from tests.unit.api.volume.conftest import VolumeApi


def test_no_header_is_the_minimum_and_latest_the_maximum():
    assert parse(None) == (3, 0)
    assert parse("latest") == parse("LATEST") == microversions.MAX_VERSION


@pytest.mark.parametrize("raw", ["3.0", "3.42", "3.70"])
def test_versions_within_the_bounds_are_taken(raw):
    assert parse(raw) == tuple(int(p) for p in raw.split("."))


@pytest.mark.parametrize("raw", ["3.71", "2.0", "4.0", "3.999999"])
def test_versions_outside_the_bounds_are_406(raw):
    with pytest.raises(VersionNotSupported) as raised:
        parse(raw)
    assert raised.value.code == 406 and "Minimum is 3.0 and maximum is 3.70" in raised.value.message


@pytest.mark.parametrize("raw", ["3", "3.x", "03.1", "3.01", "3.1.1", "", " ", "v3.1", "3.²"])
def test_strings_that_are_no_version_are_400(raw):
    with pytest.raises(InvalidVersion):
        parse(raw)


def test_the_volume_entry_of_a_header_naming_several_services_is_read():
    assert requested({"OpenStack-API-Version": "compute 2.37, volume 3.44"}) == "3.44"
    assert requested({"openstack-api-version": "block-storage 3.12"}) == "3.12"
    assert requested({"OpenStack-API-Version": "compute 2.37"}) is None


def test_every_answer_echoes_the_version_errors_too(volume_api: VolumeApi):
    token = volume_api.cloud.demo_token
    ok = volume_api.call("GET", "/volumes", token, "3.42")
    assert ok.headers["OpenStack-API-Version"] == "volume 3.42"
    assert "OpenStack-API-Version" in ok.headers["Vary"]
    latest = volume_api.call("GET", "/volumes", token, "latest")
    assert latest.headers["OpenStack-API-Version"] == "volume 3.70"
    refused = volume_api.call("GET", "/volumes", token, "3.71")
    assert refused.status_code == 406 and refused.headers["OpenStack-API-Version"] == "volume 3.0"
    assert refused.json["computeFault"]["code"] == 406
    malformed = volume_api.call("GET", "/volumes", token, "three")
    assert malformed.status_code == 400 and "badRequest" in malformed.json


def test_version_documents_advertise_the_range(volume_api: VolumeApi):
    client = volume_api.cloud.client()
    root = client.get("/volume/")
    assert root.status_code == 300
    (version,) = root.json["versions"]
    assert (version["id"], version["status"], version["min_version"], version["version"]) == (
        "v3.0", "CURRENT", "3.0", "3.70",
    )  # fmt: skip
    assert version["links"][1]["href"].endswith("/volume/v3/")
    assert client.get("/volume/v3/").json == root.json
