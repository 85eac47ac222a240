"""Fuzz: every route of the application (from Flask's URL map, every method) with hostile bodies, paths and
queries; no answer may be a 5xx, and every fault must be in the format of the API that gave it.

It runs against the whole application in-process on a real SQLite database (``api_cloud``): thousands of
requests take well under a minute that way, where the same over HTTP would cost the loopback round trips; the
body limits are also proven over real HTTP against gunicorn in tests/functional/api/test_request_limits.py.

Bodies come from each route's own schema: a probe records which schema the route's handler validates
(``api.validation._compiled`` is wrapped to see it), a valid document is made from that schema, and each value
in it is replaced in turn by each hostile value (deep nesting, huge numbers, lone surrogates, NUL, wrong types,
long strings); the first token whose requests reach a route's schema gets them, the other its valid documents
(the same handler behind the same schema). Every route also gets malformed and oversized bodies (a 10 MB string
among them), and the portal's forms get hostile fields behind a signed-in session with its CSRF token.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import request
from flask.testing import FlaskClient

import api.validation
from api.compute.server_actions import HANDLERS as SERVER_ACTIONS
from tests.unit.api import fuzzing
from tests.unit.api.conftest import InProcessCloud
from tests.unit.in_process import DEMO_PASSWORD

SKIPPED_METHODS = {"HEAD", "OPTIONS"}  # HEAD is GET without a body to check; OPTIONS is Flask's own
GENERIC_BODIES = (
    b"",
    b"{",
    b"[" * 5000,
    b"\xff\xfe\x00",
    b'"\\ud800"',
    b'{"\\ud800": 1}',
    b"1" * 400,
    b"-" + b"9" * 400,
    b"1e999",
    b"NaN",
    b"null",
    b"[]",
    b"{}",
    b'"x"',
    json.dumps(fuzzing.nested(fuzzing.DEEP)).encode(),
    b'{"a": ' * 3000 + b"1" + b"}" * 3000,
)
TEN_MB = b'{"x": "' + b"y" * (10 << 20) + b'"}'
HOSTILE_SEGMENTS = ("%ff%fe", "%C2%B2", "x" * 300, "-1", "9" * 40, "..", "%C3%A9%E2%98%83", "a%0Ab", "%2e%2e%2f")
QUERY_NAMES = (
    "name", "id", "limit", "marker", "sort_key", "sort_dir", "status", "mtu", "enabled", "fields", "tags",
    "tags-any", "changes-since", "all_tenants", "project_id", "visibility", "member_status", "page_reverse",
    "admin_state_up", "min_disk", "flavor", "image", "host", "domain_id", "parent_id", "user.id", "scope.project.id",
    "effective", "include_names", "network_id", "fixed_ips", "device_id", "ip_version", "cidr", "length",
    "size_min", "size_max", "offset",
)  # fmt: skip
QUERY_VALUES = (
    "", "%ff", "%C2%B2", "9" * 40, "-1", "x" * 5000, "%C3%A9", "[", "true", "^(a+)+$", "1.5", "2026-13-45",
    "ip_address=x", "subnet_id=%00x", "a,b,,c",
)  # fmt: skip
FORM_FIELDS = (
    "name", "description", "cidr", "gateway", "gateway_ip", "enable_dhcp", "subnet_name", "protocol", "direction",
    "ethertype", "remote_cidr", "remote_group", "remote_ip_prefix", "port_range_min", "port_range_max",
    "public_key", "key_name", "image", "flavor", "network", "networks", "count", "disk_format", "visibility",
    "min_disk", "action", "username", "password", "project", "project_id", "user_id", "role", "role_id", "email",
    "default_project_id", "reason", "force", "next",
)  # fmt: skip
FORM_VALUES = ("", "x" * 70_000, "%ED%A0%80", "-1", "9" * 40, "é☃", "../../x", "true", "0", "10.0.0.1%eth0")


@dataclass
class Findings:
    """What the walk saw: requests sent, statuses, and every answer that broke the rules."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The problems, one line per status, method and route shape (ids and hostile segments folded)."""
        unique: dict[str, str] = {}
        for line in self.problems:
            status, method, url = line.split(" ", 3)[:3]
            shape = re.sub(r"/[^/?]*[0-9a-f]{8}[^/?]*|\?.*", "/…", url)
            unique.setdefault(f"{status} {method} {shape}", line)
        return f"{len(self.problems)} bad answers, {len(unique)} kinds:\n" + "\n".join(unique.values())

    def check(self, method: str, url: str, response: Any, what: str) -> None:
        self.sent += 1
        self.statuses[response.status_code] += 1
        body = response.get_data()
        response.close()  # a streamed file (image data) is closed only here
        if response.status_code >= 500:
            self.problems.append(f"{response.status_code} {method} {url[:160]} {what[:160]}: {body[:300]!r}")
            return
        problem = fuzzing.fault_problem(url.split("?")[0], response.status_code, response.content_type or "", body)
        if problem:
            self.problems.append(f"{response.status_code} {method} {url[:160]} {what[:160]}: {problem}")


@dataclass
class Targets:
    """Real resources, so that paths reach the handlers' deeper code rather than a 404 at the lookup."""

    values: dict[str, str]
    project_ids: dict[str, str]

    def path_value(self, rule: str, name: str) -> str:
        if name == "group_id":
            return self.values["server_group" if "os-server-groups" in rule else "security_group"]
        if name == "project_id":
            return self.values["fuzz_project" if rule.startswith("/identity") else "demo_project"]
        if name == "collection":
            return "networks" if rule.startswith("/network") else "projects"
        if name == "action":
            return {"/image": "deactivate", "/compute": "disable"}.get(rule[: rule.index("/", 1)], "stop")
        return self.values.get(name, "fuzz")


def _identity(client: FlaskClient, token: str, path: str, body: dict[str, Any]) -> str:
    response = client.post(path, json=body, headers={"X-Auth-Token": token})
    assert response.status_code == 201, response.get_data(as_text=True)
    return next(iter(response.json.values()))["id"]


def _targets(cloud: InProcessCloud) -> Targets:
    client = cloud.client()
    demo, admin = {"X-Auth-Token": cloud.demo_token}, {"X-Auth-Token": cloud.admin_token}
    image = cloud.image(cloud.demo_token, "fuzz-image")
    server = cloud.server(cloud.demo_token, "fuzz-server", image)
    network = client.post("/network/v2.0/networks", json={"network": {"name": "fuzz"}}, headers=demo).json
    network_id = network["network"]["id"]
    subnet = {"subnet": {"network_id": network_id, "cidr": "10.99.0.0/24", "ip_version": 4}}
    subnet_id = client.post("/network/v2.0/subnets", json=subnet, headers=demo).json["subnet"]["id"]
    port_id = client.post("/network/v2.0/ports", json={"port": {"network_id": network_id}}, headers=demo).json
    group = {"security_group": {"name": "fuzz"}}
    group_id = client.post("/network/v2.0/security-groups", json=group, headers=demo).json["security_group"]["id"]
    rule = {"security_group_rule": {"security_group_id": group_id, "direction": "ingress", "protocol": "tcp"}}
    rule_id = client.post("/network/v2.0/security-group-rules", json=rule, headers=demo).json
    keypair = client.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "fuzz-key"}}, headers=demo)
    server_group = {"server_group": {"name": "fuzz", "policies": ["affinity"]}}
    server_group_id = client.post("/compute/v2.1/os-server-groups", json=server_group, headers=demo).json
    domain_id = _identity(client, cloud.admin_token, "/identity/v3/domains", {"domain": {"name": "fuzz-domain"}})
    fuzz_project = _identity(client, cloud.admin_token, "/identity/v3/projects", {"project": {"name": "fuzz-p"}})
    user = {"user": {"name": "fuzz-u", "password": "fuzz-secret", "default_project_id": fuzz_project}}
    user_id = _identity(client, cloud.admin_token, "/identity/v3/users", user)
    role_id = _identity(client, cloud.admin_token, "/identity/v3/roles", {"role": {"name": "fuzz-r"}})
    projects = client.get("/identity/v3/auth/projects", headers=demo).json["projects"]
    admin_projects = client.get("/identity/v3/auth/projects", headers=admin).json["projects"]
    assert keypair.status_code in (200, 201), keypair.get_data(as_text=True)
    values = {
        "server_id": server,
        "image_id": image,
        "network_id": network_id,
        "subnet_id": subnet_id,
        "port_id": port_id["port"]["id"],
        "security_group": group_id,
        "rule_id": rule_id["security_group_rule"]["id"],
        "server_group": server_group_id["server_group"]["id"],
        "name": "fuzz-key",
        "key": "fuzz-key",
        "request_id": "req-00000000-0000-0000-0000-000000000000",
        "demo_project": projects[0]["id"],
        "fuzz_project": fuzz_project,
        "target_id": fuzz_project,
        "user_id": user_id,
        "role_id": role_id,
        "domain_id": domain_id,
        "member_id": admin_projects[0]["id"],
        "resource_id": network_id,
        "tag": "fuzz-tag",
        "alias": "quotas",
        "class_name": "default",
        "region_id": "RegionOne",
        "filename": "fuzz.css",
        "limit_id": "fuzz",
    }
    return Targets(values, {"demo": projects[0]["id"]})


def _urls(rule: Any, targets: Targets) -> Iterator[str]:
    """The rule with real values in its variables, then with hostile segments."""
    names = list(rule.arguments)
    real = rule.rule
    for name in names:
        real = re.sub(rf"<(?:[a-z]+:)?{name}>", targets.path_value(rule.rule, name), real)
    yield real
    if names:
        for segment in HOSTILE_SEGMENTS:
            yield re.sub(r"<(?:[a-z]+:)?[a-z_]+>", segment, rule.rule)


def _content_type(url: str, method: str) -> str:
    if url.startswith("/image/") and url.endswith(("/file", "/stage")):
        return "application/octet-stream"
    if url.startswith("/image/") and method == "PATCH":
        return "application/openstack-images-v2.1-json-patch"
    return "application/json"


class SchemaSpy:
    """Records the schema and the document each validation of a request runs on, by endpoint."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], Any]] = []
        self._real = api.validation._compiled

    def __call__(self, schema: dict[str, Any]) -> Any:
        explainer, fast_check = self._real(schema)

        def recording(document: Any) -> Any:
            self.seen.append((request.endpoint or "", schema, document))
            return fast_check(document)

        return explainer, recording


def _probe_bodies(url: str) -> list[Any]:
    """Bodies that get past each handler's shape checks to its schema: ``{}``, and ``{key: {}}`` for every top
    level key of the API's bodies and every server action."""
    keys = {
        "compute": [
            *("server", "keypair", "flavor", "quota_set", "quota_class_set", "server_group", "metadata", "meta"),
            *("extra_specs", "flavor_access", "status", *SERVER_ACTIONS),
        ],
        "network": ["network", "subnet", "port", "security_group", "security_group_rule", "quota", "tags"],
        "identity": [
            *("auth", "project", "user", "role", "domain", "limits", "registered_limits", "limit", "registered_limit"),
        ],
    }.get(url.lstrip("/").split("/", 1)[0], [])
    return [{}, *({key: {}} for key in keys)]


def _schema_documents(client: FlaskClient, spy: SchemaSpy, method: str, url: str, headers: dict[str, str]) -> list:
    """Valid documents of the schemas the route validates, wrapped as the handler expects them."""
    documents: dict[str, Any] = {}
    for probe in _probe_bodies(url):
        spy.seen.clear()
        client.open(url, method=method, data=fuzzing.encode(probe), headers=headers)
        for _, schema, validated in spy.seen:
            made = fuzzing.instance(schema)
            if validated != probe and isinstance(probe, dict) and len(probe) == 1:
                (key,) = probe
                made = {key: made} if validated == probe[key] else None
            if made is not None:
                documents[json.dumps(made, sort_keys=True)] = made
    return list(documents.values())


TOP_VALUES, DEEP_VALUES = 9, 4
"""Hostile values tried per place of a document: at its top two levels, then deeper (the deep places of large
schemas would multiply the walk's time). A seeded sample per place, so each value meets many places of every
route and a failure names the request that gives it again."""


def _fuzz_bodies(documents: list[Any], rng: random.Random, thorough: bool) -> Iterator[tuple[str, bytes]]:
    """Each document, then each of its values replaced by hostile values (and a too deeply nested one), fewer of
    them unless ``thorough``."""
    for document in documents:
        yield "valid", fuzzing.encode(document)
        for place in list(fuzzing.places(document)):
            count = TOP_VALUES if len(place) <= 2 else DEEP_VALUES
            values = rng.sample(fuzzing.HOSTILE_VALUES, count if thorough else DEEP_VALUES - 1)
            for value in (*values, fuzzing.nested(fuzzing.DEEP)):
                yield f"{place}={str(value)[:40]!r}", fuzzing.encode(fuzzing.replaced(document, place, value))


@pytest.fixture(scope="module")
def targets(api_cloud: InProcessCloud) -> Targets:
    return _targets(api_cloud)


def _api_rules(api_cloud: InProcessCloud, portal: bool) -> list[Any]:
    rules = [r for r in api_cloud.app.url_map.iter_rules() if r.endpoint != "static"]
    return [r for r in rules if r.endpoint.startswith("portal.") == portal]


@pytest.mark.slow
def test_no_route_answers_hostile_input_with_a_5xx_or_a_foreign_fault(
    api_cloud: InProcessCloud, targets: Targets, monkeypatch: pytest.MonkeyPatch
):
    spy = SchemaSpy()
    monkeypatch.setattr(api.validation, "_compiled", spy)
    rng = random.Random(11)
    findings = Findings()
    client = api_cloud.client()
    rules = sorted(_api_rules(api_cloud, portal=False), key=lambda r: ("DELETE" in r.methods, r.rule))
    for rule in rules:
        for method in sorted(rule.methods - SKIPPED_METHODS, key=lambda m: m == "DELETE"):
            fuzzed = False  # the first token whose requests reach the route's schema gets the hostile values
            for token in (api_cloud.demo_token, api_cloud.admin_token, None):
                urls = list(_urls(rule, targets))
                headers = {"Content-Type": _content_type(urls[0], method)} | ({"X-Auth-Token": token} if token else {})
                for url in urls if token == api_cloud.demo_token else urls[:1]:
                    findings.check(method, url, client.open(url, method=method, headers=headers), "no body")
                if method == "GET" and token:
                    for name in rng.sample(QUERY_NAMES, 6):
                        value = rng.choice(QUERY_VALUES)
                        url = f"{urls[0]}?{name}={value}&{rng.choice(QUERY_NAMES)}={rng.choice(QUERY_VALUES)}"
                        findings.check(method, url, client.open(url, method=method, headers=headers), "query")
                    continue
                if method == "GET" or token is None:
                    continue
                for body in GENERIC_BODIES if not fuzzed else GENERIC_BODIES[::4]:
                    response = client.open(urls[0], method=method, data=body, headers=headers)
                    findings.check(method, urls[0], response, f"body {body[:30]!r}")
                if token == api_cloud.demo_token:
                    response = client.open(urls[0], method=method, data=TEN_MB, headers=headers)
                    findings.check(method, urls[0], response, "10 MB string")
                documents = _schema_documents(client, spy, method, urls[0], headers)
                if fuzzed:  # the same schema behind the same handler: its valid documents are enough
                    for document in documents:
                        response = client.open(urls[0], method=method, data=fuzzing.encode(document), headers=headers)
                        findings.check(method, urls[0], response, "valid")
                    continue
                for what, body in _fuzz_bodies(documents, rng, thorough=True):
                    response = client.open(urls[0], method=method, data=body, headers=headers)
                    findings.check(method, urls[0], response, what)
                fuzzed = bool(documents)
    print(f"\nfuzzed the APIs with {findings.sent} requests; statuses {dict(sorted(findings.statuses.items()))}")
    assert not findings.problems, findings.report()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def test_no_portal_page_answers_hostile_forms_with_a_5xx(api_cloud: InProcessCloud, targets: Targets):
    client = api_cloud.client()
    page = client.get("/sign-in").get_data(as_text=True)
    form = {"csrf_token": _csrf(page), "username": "demo", "password": DEMO_PASSWORD, "project": ""}
    assert client.post("/sign-in", data=form).status_code == 303
    csrf = _csrf(client.get("/").get_data(as_text=True))
    rng = random.Random(7)
    findings = Findings()
    rules = sorted(_api_rules(api_cloud, portal=True), key=lambda r: ("sign" in r.rule, "delete" in r.rule, r.rule))
    for rule in rules:
        for method in sorted(rule.methods - SKIPPED_METHODS):
            for index, url in enumerate(_urls(rule, targets)):
                findings.check(method, url, client.open(url, method=method), "no form")
                if method == "GET":
                    continue
                for _ in range(12 if index == 0 else 3):
                    fields = {name: rng.choice(FORM_VALUES) for name in rng.sample(FORM_FIELDS, 10)}
                    body = "&".join(f"{name}={value}" for name, value in {"csrf_token": csrf, **fields}.items())
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    response = client.open(url, method=method, data=body, headers=headers)
                    findings.check(method, url, response, body[:200])
                if index == 0:
                    headers = {"Content-Type": "application/octet-stream", "X-CSRF-Token": csrf}
                    response = client.open(url, method=method, data=TEN_MB, headers=headers)
                    findings.check(method, url, response, "10 MB body")
    print(f"\nfuzzed the portal with {findings.sent} requests; statuses {dict(sorted(findings.statuses.items()))}")
    assert not findings.problems, findings.report()
