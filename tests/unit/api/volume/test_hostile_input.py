"""Fuzz every Block Storage route (both path forms, every method) with hostile bodies, paths and queries, as
tests/unit/api/test_hostile_input.py does for the whole application: no answer may be a 5xx, and every fault
must be Cinder's (``{"badRequest": {"code", "message"}}``). Bodies come from each route's own schemas, probed
with each action's and each resource's key, so the walk reaches the handlers' deeper code."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

import api.validation
from api.volume.volume_actions import HANDLERS, UNOFFERED
from tests.unit.api import fuzzing
from tests.unit.api.test_hostile_input import (
    GENERIC_BODIES,
    QUERY_NAMES,
    QUERY_VALUES,
    TEN_MB,
    Findings,
    SchemaSpy,
    Targets,
    _fuzz_bodies,
    _urls,
)
from tests.unit.api.volume.conftest import VolumeApi

PROBE_KEYS = (
    "volume", "snapshot", "volume_type", "extra_specs", "metadata", "meta", "attachment", "quota_set",
    "addProjectAccess", "removeProjectAccess", "os-complete", *HANDLERS, *UNOFFERED[:3],
)  # fmt: skip
VOLUME_QUERY_NAMES = (
    "metadata", "glance_metadata", "bootable", "size", "sort", "with_count", "name~", "created_at", "cascade",
    "force", "volume_type", "usage", "is_public", "instance_id",
)  # fmt: skip


def _targets(volume_api: VolumeApi) -> Targets:
    cloud = volume_api.cloud
    volume = volume_api.create(cloud.demo_token, name="fuzz-volume", metadata={"fuzz-key": "v"})
    volume_api.made(volume["id"])
    snapshot = volume_api.call(
        "POST", "/snapshots", cloud.demo_token, json={"snapshot": {"volume_id": volume["id"], "name": "fuzz"}}
    ).json["snapshot"]
    private = {"volume_type": {"name": "fuzz-private", "os-volume-type-access:is_public": False}}
    volume_type = volume_api.call("POST", "/types", cloud.admin_token, json=private).json["volume_type"]
    attachment = volume_api.call(
        "POST", "/attachments", cloud.demo_token, "3.44",
        json={"attachment": {"volume_uuid": volume["id"], "instance_uuid": "00000000-0000-0000-0000-000000000001"}},
    ).json["attachment"]  # fmt: skip
    project = volume["links"][0]["href"].split("/")[-3]
    values = {
        "volume_id": volume["id"],
        "record_id": volume["id"],
        "snapshot_id": snapshot["id"],
        "type_id": volume_type["id"],
        "attachment_id": attachment["id"],
        "key": "fuzz-key",
        "target_project": project,
        "demo_project": project,
    }
    return Targets(values, {})


def _documents(client: Any, spy: SchemaSpy, method: str, url: str, headers: dict[str, str]) -> list[Any]:
    documents: dict[str, Any] = {}
    for probe in [{}, *({key: {}} for key in PROBE_KEYS)]:
        spy.seen.clear()
        client.open(url, method=method, data=fuzzing.encode(probe), headers=headers)
        for _, schema, validated in spy.seen:
            made = fuzzing.instance(schema)
            if validated != probe and len(probe) == 1:
                (key,) = probe
                made = {key: made} if validated == probe[key] else None
            if made is not None:
                documents[json.dumps(made, sort_keys=True)] = made
    return list(documents.values())


@pytest.mark.slow
def test_no_volume_route_answers_hostile_input_with_a_5xx_or_a_foreign_fault(
    volume_api: VolumeApi, monkeypatch: pytest.MonkeyPatch
):
    targets = _targets(volume_api)
    spy = SchemaSpy()
    monkeypatch.setattr(api.validation, "_compiled", spy)
    rng = random.Random(17)
    findings = Findings()
    cloud = volume_api.cloud
    client = cloud.client()
    rules = [r for r in cloud.app.url_map.iter_rules() if r.rule.startswith("/volume")]
    for rule in sorted(rules, key=lambda r: ("DELETE" in r.methods, r.rule)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}, key=lambda m: m == "DELETE"):
            fuzzed = False  # as in the walk over every API: the first token that reaches the schema fuzzes it
            for token in (cloud.demo_token, cloud.admin_token, None):
                urls = list(_urls(rule, targets))
                headers = {"Content-Type": "application/json", "OpenStack-API-Version": "volume latest"}
                headers |= {"X-Auth-Token": token} if token else {}
                for url in urls if token == cloud.demo_token else urls[:1]:
                    findings.check(method, url, client.open(url, method=method, headers=headers), "no body")
                if method == "GET" and token:
                    for name in (*VOLUME_QUERY_NAMES, *rng.sample(QUERY_NAMES, 6)):
                        url = f"{urls[0]}?{name}={rng.choice(QUERY_VALUES)}"
                        findings.check(method, url, client.open(url, method=method, headers=headers), "query")
                    continue
                if method == "GET" or token is None:
                    continue
                for body in GENERIC_BODIES if not fuzzed else GENERIC_BODIES[::4]:
                    response = client.open(urls[0], method=method, data=body, headers=headers)
                    findings.check(method, urls[0], response, f"body {body[:30]!r}")
                if token == cloud.demo_token:
                    response = client.open(urls[0], method=method, data=TEN_MB, headers=headers)
                    findings.check(method, urls[0], response, "10 MB string")
                documents = _documents(client, spy, method, urls[0], headers)
                if fuzzed:
                    for document in documents:
                        response = client.open(urls[0], method=method, data=fuzzing.encode(document), headers=headers)
                        findings.check(method, urls[0], response, "valid")
                    continue
                for what, body in _fuzz_bodies(documents, rng, thorough=True):
                    response = client.open(urls[0], method=method, data=body, headers=headers)
                    findings.check(method, urls[0], response, what)
                fuzzed = bool(documents)
    print(f"\nfuzzed the volume API with {findings.sent} requests; statuses {dict(sorted(findings.statuses.items()))}")
    assert not findings.problems, findings.report()
