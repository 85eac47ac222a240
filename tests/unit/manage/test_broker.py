"""The private Redis's secrets: a password made once and kept, a config file only root reads, and a certificate
valid for the addresses Redis binds to (what hosts on other machines dial)."""

from __future__ import annotations

import ipaddress

from cryptography import x509

from common.settings import load
from manage import broker


def test_the_broker_config_keeps_one_password_and_a_certificate_for_its_addresses(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_BROKER_BIND": "127.0.0.1 192.0.2.7"})
    config = broker.write_config(settings)
    password = settings.effective_broker_password_file.read_text().strip()
    assert len(password) >= 32 and f'requirepass "{password}"' in config.read_text()
    assert "tls-port 6380" in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o600
    assert settings.effective_broker_password_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "broker-tls" / "server.key").stat().st_mode & 0o777 == 0o600

    broker.write_config(settings)  # a second `services up`
    assert settings.effective_broker_password_file.read_text().strip() == password
    cert = x509.load_pem_x509_certificate((tmp_path / "broker-tls" / "server.pem").read_bytes())
    addresses = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress
    )
    assert ipaddress.ip_address("192.0.2.7") in addresses and ipaddress.ip_address("127.0.0.1") in addresses
    assert settings.effective_broker_url == f"redis://:{password}@127.0.0.1:6379/0"


def _addresses(tmp_path):
    cert = x509.load_pem_x509_certificate((tmp_path / "broker-tls" / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.IPAddress))


def test_a_certificate_is_made_again_when_redis_must_listen_on_an_address_it_does_not_name(tmp_path):
    """``make up`` then ``make up HOSTS=3``: host machines dial the control node's underlay address, which the
    first certificate never named (hosts refused it: "the broker's certificate does not name ...")."""
    settings = load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_BROKER_BIND": "127.0.0.1"})
    broker.write_config(settings)
    first = (tmp_path / "broker-tls" / "server.pem").read_bytes()
    broker.write_config(settings)
    assert (tmp_path / "broker-tls" / "server.pem").read_bytes() == first, "kept while it names every address"

    broker.write_config(settings.replace(broker_bind="127.0.0.1 10.234.0.1"))
    assert ipaddress.ip_address("10.234.0.1") in _addresses(tmp_path)
    ca = x509.load_pem_x509_certificate((tmp_path / "broker-tls" / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((tmp_path / "broker-tls" / "server.pem").read_bytes())
    assert cert.issuer == ca.subject and cert.verify_directly_issued_by(ca) is None
