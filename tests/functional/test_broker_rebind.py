"""A later ``services up`` that must have Redis listen on another address (``make up`` and then ``make up HOSTS=3``,
whose host machines dial the control node's underlay address) restarts the cloud's running Redis there, with a
certificate that names the address, instead of leaving it bound where it was (the hosts' join then failed: "the
broker's certificate does not name ..."). The queue's contents survive the restart."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
import redis
from cryptography import x509

from common.settings import load
from tests.harness import running_cloud

pytestmark = pytest.mark.functional

ADDED = "127.0.0.2"
"""Another loopback address: bindable on every Linux machine, standing for the underlay address."""


def test_a_new_broker_address_restarts_redis_there_with_a_certificate_that_names_it(tmp_path):
    with running_cloud(tmp_path / "cloud") as cloud:
        settings = load(cloud.env)
        port = int(cloud.env["STRATUS_BROKER_URL"].rsplit(":", 1)[1].split("/")[0])
        password = settings.effective_broker_password_file.read_text().strip()
        kept = redis.Redis(port=port, password=password, socket_timeout=5)
        kept.set("stratus-test-kept", "yes")
        with pytest.raises(redis.ConnectionError):
            redis.Redis(host=ADDED, port=port, password=password, socket_timeout=2).ping()

        rebound = dataclasses.replace(cloud, env=cloud.env | {"STRATUS_BROKER_BIND": f"127.0.0.1 {ADDED}"})
        result = rebound.manage("services", "up")
        assert "restarting redis" in result.stdout, result.stdout

        assert redis.Redis(host=ADDED, port=port, password=password, socket_timeout=5).ping()
        assert kept.get("stratus-test-kept") == b"yes", "the append-only file kept the data"
        cert = x509.load_pem_x509_certificate((settings.state_path / "broker-tls" / "server.pem").read_bytes())
        named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address(ADDED) in named.get_values_for_type(x509.IPAddress)
        ca = str(settings.state_path / "broker-tls" / "ca.pem")
        tls = redis.Redis(host=ADDED, port=settings.broker_tls_port, password=password, ssl=True, ssl_ca_certs=ca,
                          socket_timeout=5)  # fmt: skip
        assert tls.ping(), "the TLS listener on the new address, verified against the CA"

        again = rebound.manage("services", "up")
        assert "restarting redis" not in again.stdout, "a Redis already as wanted is left running"
