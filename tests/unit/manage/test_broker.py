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
