"""Host-signed API requests (``common.hostauth``): what a host agent signs is what the API checks, and nothing else
verifies."""

from __future__ import annotations

import pytest

from common import hostauth, signing
from common.hostauth import ForgedRequest, HostSigner, HostVerifier

MASTER = bytes(range(32))
URL = "http://api.example:8774/image/v2/images/an%20id/file?disk_format=qcow2"


def test_a_signature_made_from_a_hosts_key_file_verifies_with_the_master_key_as_what_the_api_sees():
    signer = HostSigner({"h1": signing.host_key(MASTER, "h1")})
    headers = signer.headers("h1", "GET", URL, now=1000)
    # The API sees the decoded path and the raw query string.
    verify = HostVerifier(MASTER).verify
    assert verify(headers, "GET", "/image/v2/images/an id/file", "disk_format=qcow2", now=1000) == "h1"
    assert verify({}, "GET", "/image/v2/images/an id/file", "", now=1000) is None
    with pytest.raises(ForgedRequest, match="does not match"):
        verify(headers, "GET", "/image/v2/images/an id/file", "disk_format=raw", now=1000)
    with pytest.raises(ForgedRequest, match="old"):
        verify(headers, "GET", "/image/v2/images/an id/file", "disk_format=qcow2", now=1000 + hostauth.MAX_AGE + 1)


def test_a_host_without_the_key_of_a_host_cannot_sign_as_it():
    with pytest.raises(KeyError):
        HostSigner({"h1": signing.host_key(MASTER, "h1")}).headers("h2", "GET", URL)


def test_the_request_key_is_not_the_task_message_key():
    # A request signature can never be replayed as a task message's, nor the reverse.
    key = signing.host_key(MASTER, "h1")
    assert hostauth.request_key(key) != key
