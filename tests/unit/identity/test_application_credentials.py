"""What a token says about the application credential that made it, and what a credential reference decides."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from identity import fernet as tokens
from identity.application_credentials import AccessRuleRef, CredentialRef, generate_secret, permits
from identity.fernet import KeyRepository, TokenPayload


def _payload(**changes) -> TokenPayload:
    now = datetime.now(UTC)
    values = dict(
        user_id="u1",
        methods=("application_credential",),
        expires_at=now + timedelta(hours=1),
        issued_at=now,
        audit_ids=(tokens.new_audit_id(),),
        project_id="p1",
    )
    return TokenPayload(**(values | changes))


def _keys(tmp_path) -> KeyRepository:
    repository = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repository.setup()
    return repository


def test_a_token_carries_its_application_credential_id(tmp_path):
    keys = _keys(tmp_path)
    decoded = tokens.decode(tokens.encode(_payload(application_credential_id="ac1"), keys), keys)
    assert decoded.application_credential_id == "ac1" and decoded.project_id == "p1"


def test_tokens_without_a_credential_keep_the_old_payload_and_still_decode(tmp_path):
    keys = _keys(tmp_path)
    token = tokens.encode(_payload(methods=("password",)), keys)
    body = json.loads(keys.fernet().decrypt((token + "=" * (-len(token) % 4)).encode()))
    assert len(body) == 8  # tokens issued before application credentials have exactly this shape
    assert tokens.decode(token, keys).application_credential_id is None


def test_a_credential_expires_at_its_time_and_none_never_does():
    now = datetime.now(UTC)
    ref = CredentialRef("ac1", "ci", "u1", "p1", now + timedelta(seconds=5), False, ("r1",), ())
    assert not ref.expired(now) and ref.expired(now + timedelta(seconds=5))
    assert not CredentialRef("ac2", "ci", "u1", "p1", None, False, ("r1",), ()).expired()


def test_generated_secrets_are_long_url_safe_and_distinct():
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(len(s) >= 86 and s.replace("-", "").replace("_", "").isalnum() for s in secrets)


def _rule(service: str, method: str, path: str) -> AccessRuleRef:
    return AccessRuleRef("id", service, path, method)


def test_access_rules_match_service_method_and_path_with_one_or_many_segment_wildcards():
    rules = (
        _rule("compute", "GET", "/v2.1/servers/*/ips"),
        _rule("image", "GET", "/v2/images/**"),
        _rule("network", "POST", "/v2.0/ports/{port_id}"),
    )
    assert permits(rules, ("compute",), "GET", "/v2.1/servers/abc/ips")
    assert permits(rules, ("compute",), "GET", "/v2.1/servers/abc/ips/")
    assert not permits(rules, ("compute",), "GET", "/v2.1/servers/abc/def/ips")  # * is one segment
    assert not permits(rules, ("compute",), "POST", "/v2.1/servers/abc/ips")
    assert not permits(rules, ("network",), "GET", "/v2.1/servers/abc/ips")
    assert permits(rules, ("image",), "GET", "/v2/images/a/file")  # ** is any number of segments
    assert permits(rules, ("network",), "POST", "/v2.0/ports/p1")
    assert not permits(rules, ("network",), "POST", "/v2.0/ports")
    assert not permits(rules, ("compute",), "GET", "/v2x1/servers/abc/ips")  # "." is literal, not any character


def test_a_credential_without_access_rules_permits_everything():
    assert permits((), (), "DELETE", "/anything")
