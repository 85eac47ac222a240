"""Remote consoles end to end with the fake driver: the API's shapes and faults (raw HTTP, openstacksdk and the
``openstack console url show`` CLI), and the console proxy relaying to the fake guest's loopback TCP console, with
single-use tokens, expiry, Origin checks and another project's server kept out."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.functional.compute import BASE, cli_json, fault, sdk, version
from tests.functional.compute.conftest import action, create_server, wait_for_status

pytestmark = pytest.mark.functional
V26 = version("2.6")


@pytest.fixture(scope="module")
def server(cloud, server_image) -> Iterator[dict[str, Any]]:
    """One ACTIVE server of the demo member's, on a fake host."""
    token = cloud.demo().get_token()
    name = f"console-{uuid.uuid4().hex[:6]}"
    made = create_server(cloud, token, server_image, name) | {"name": name}
    wait_for_status(cloud, token, made["id"], "ACTIVE")
    yield made
    cloud.request("DELETE", f"{BASE}/servers/{made['id']}", token)


def remote_console(cloud, token: str, server_id: str, protocol: str, kind: str, headers=V26) -> requests.Response:
    body = {"remote_console": {"protocol": protocol, "type": kind}}
    return cloud.request("POST", f"{BASE}/servers/{server_id}/remote-consoles", token, json=body, headers=headers)


def serial_url(cloud, server_id: str) -> str:
    response = remote_console(cloud, cloud.demo().get_token(), server_id, "serial", "serial")
    assert response.status_code == 200, response.text
    return response.json()["remote_console"]["url"]


def read_until(websocket: ClientConnection, marker: bytes, timeout: float = 10) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data:
        message = websocket.recv(timeout=max(0.1, deadline - time.monotonic()))
        data += message if isinstance(message, bytes) else message.encode()
    return data


def refused_status(url: str, **options: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10, **options).close()
    return refused.value.response.status_code


def test_the_serial_url_relays_the_guests_console_both_ways(cloud, server) -> None:
    response = remote_console(cloud, cloud.demo().get_token(), server["id"], "serial", "serial")
    assert response.status_code == 200, response.text
    console = response.json()["remote_console"]
    assert set(console) == {"protocol", "type", "url"}
    assert (console["protocol"], console["type"]) == ("serial", "serial")
    proxy_port = cloud.server.env["STRATUS_CONSOLE_PROXY_PORT"]
    assert console["url"].startswith(f"ws://127.0.0.1:{proxy_port}/serial?token=")
    with connect(console["url"], open_timeout=10) as websocket:
        assert f"fake console of {server['name']}".encode() in read_until(websocket, b"STRATUS-READY")
        websocket.send(b"hostname\n")
        assert read_until(websocket, b"hostname\n").endswith(b"hostname\n")
        websocket.send("typed as text\n")  # keystrokes sent as text frames reach the guest too
        assert b"typed as text\n" in read_until(websocket, b"typed as text\n")


def test_a_console_token_opens_one_connection_once(cloud, server) -> None:
    url = serial_url(cloud, server["id"])
    with connect(url, open_timeout=10) as websocket:
        read_until(websocket, b"STRATUS-READY")
    assert refused_status(url) == 401
    forged = url.split("token=")[0] + "token=" + "A" * 43
    assert refused_status(forged) == 401


def test_an_expired_token_is_refused(cloud, server) -> None:
    url = serial_url(cloud, server["id"])
    token = parse_qs(urlsplit(url).query)["token"][0]
    store = redis.Redis.from_url(cloud.server.broker_url)
    key = "stratus-console-token:" + hashlib.sha256(token.encode()).hexdigest()
    ttl = store.ttl(key)
    assert 0 < ttl <= 600  # console_token_ttl
    store.pexpire(key, 1)  # what time does to it after console_token_ttl seconds
    time.sleep(0.05)
    assert refused_status(url) == 401


def test_a_page_of_another_origin_is_refused_before_any_byte_flows(cloud, server) -> None:
    url = serial_url(cloud, server["id"])
    assert refused_status(url, origin="http://evil.example") == 403
    # the refusal did not spend the token: the portal's own pages may still use it
    with connect(url, open_timeout=10, origin=cloud.url) as websocket:
        assert b"STRATUS-READY" in read_until(websocket, b"STRATUS-READY")


def test_the_novnc_url_opens_the_proxys_page_and_its_websocket_speaks_rfb(cloud, server) -> None:
    response = remote_console(cloud, cloud.demo().get_token(), server["id"], "vnc", "novnc")
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["remote_console"]["url"])
    page = requests.get(f"{url.scheme}://{url.netloc}{url.path}?{url.query}", timeout=10)
    assert page.status_code == 200 and 'src="vnc.js"' in page.text
    assert requests.get(f"{url.scheme}://{url.netloc}/vnc.js", timeout=10).status_code == 200
    path = parse_qs(url.query)["path"][0]
    assert path.startswith("vnc?token=")
    websocket_url = f"ws://{url.netloc}/{path}"
    with connect(websocket_url, open_timeout=10, subprotocols=["binary"], origin=f"http://{url.netloc}") as ws:
        assert ws.subprotocol == "binary"
        assert ws.recv(timeout=10) == b"RFB 003.008\n"


def test_a_serial_token_does_not_open_the_display(cloud, server) -> None:
    url = serial_url(cloud, server["id"])
    assert refused_status(url.replace("/serial?", "/vnc?")) == 401


@pytest.mark.parametrize(
    "protocol, kind, message",
    [
        ("vnc", "serial", "Invalid console type serial for protocol vnc"),
        ("serial", "novnc", "Invalid console type novnc for protocol serial"),
        ("spice", "spice-html5", "Unavailable console type spice-html5"),
        ("vnc", "xvpvnc", "Unavailable console type xvpvnc"),
    ],
)
def test_console_types_we_do_not_serve_are_400(cloud, server, protocol: str, kind: str, message: str) -> None:
    response = remote_console(cloud, cloud.demo().get_token(), server["id"], protocol, kind)
    assert message in fault(response, "badRequest", 400)


@pytest.mark.parametrize(
    "body",
    [
        {"remote_console": {"protocol": "vnc"}},
        {"remote_console": {"protocol": "telnet", "type": "serial"}},
        {"remote_console": {"protocol": "serial", "type": "serial", "host": "10.0.0.1"}},
        {"console": {"protocol": "serial", "type": "serial"}},
        {"remote_console": "serial"},
    ],
)
def test_malformed_requests_are_400(cloud, server, body: dict[str, Any]) -> None:
    path = f"{BASE}/servers/{server['id']}/remote-consoles"
    fault(cloud.request("POST", path, cloud.demo().get_token(), json=body, headers=V26), "badRequest", 400)


def test_mks_is_known_from_2_8_and_still_unavailable(cloud, server) -> None:
    token = cloud.demo().get_token()
    fault(remote_console(cloud, token, server["id"], "mks", "webmks"), "badRequest", 400)
    response = remote_console(cloud, token, server["id"], "mks", "webmks", headers=version("2.8"))
    assert "Unavailable console type webmks" in fault(response, "badRequest", 400)


def test_remote_consoles_needs_2_6_and_the_old_actions_end_at_2_5(cloud, server) -> None:
    token = cloud.demo().get_token()
    fault(remote_console(cloud, token, server["id"], "serial", "serial", headers=version("2.5")), "itemNotFound", 404)
    for name, kind in (("os-getSerialConsole", "serial"), ("os-getVNCConsole", "novnc")):
        response = cloud.request(
            "POST", f"{BASE}/servers/{server['id']}/action", token, json={name: {"type": kind}}, headers=version("2.1")
        )
        assert response.status_code == 200, response.text
        assert list(response.json()) == ["console"] and response.json()["console"]["type"] == kind
        later = cloud.request(
            "POST", f"{BASE}/servers/{server['id']}/action", token, json={name: {"type": kind}}, headers=V26
        )
        fault(later, "itemNotFound", 404)
    bad = cloud.request(
        "POST", f"{BASE}/servers/{server['id']}/action", token, json={"os-getSerialConsole": {"type": "novnc"}}
    )
    fault(bad, "badRequest", 400)


def test_the_legacy_serial_url_works_with_the_proxy(cloud, server) -> None:
    token = cloud.demo().get_token()
    body = {"os-getSerialConsole": {"type": "serial"}}
    response = cloud.request("POST", f"{BASE}/servers/{server['id']}/action", token, json=body)
    with connect(response.json()["console"]["url"], open_timeout=10) as websocket:
        assert b"STRATUS-READY" in read_until(websocket, b"STRATUS-READY")


def _other_member(cloud) -> str:
    """A token of a member of a fresh project: someone who must not see the demo project's servers."""
    admin = cloud.admin_token()
    name = f"console-other-{uuid.uuid4().hex[:6]}"
    project = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": name}}).json()
    user = cloud.request("POST", "/identity/v3/users", admin, json={"user": {"name": name, "password": "pw-1"}}).json()
    role = cloud.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    grant = f"/identity/v3/projects/{project['project']['id']}/users/{user['user']['id']}/roles/{role}"
    assert cloud.request("PUT", grant, admin).status_code == 204
    return cloud.session(name, "pw-1", project=name).get_token()


def test_another_projects_server_is_404(cloud, server) -> None:
    other = _other_member(cloud)
    fault(remote_console(cloud, other, server["id"], "serial", "serial"), "itemNotFound", 404)
    fault(remote_console(cloud, other, str(uuid.uuid4()), "serial", "serial"), "itemNotFound", 404)


def test_a_stopped_server_has_no_console_and_its_token_stops_working(cloud, server_image) -> None:
    token = cloud.demo().get_token()
    made = create_server(cloud, token, server_image, f"console-stop-{uuid.uuid4().hex[:6]}")
    wait_for_status(cloud, token, made["id"], "ACTIVE")
    url = serial_url(cloud, made["id"])
    assert action(cloud, token, made["id"], {"os-stop": None}).status_code == 202
    wait_for_status(cloud, token, made["id"], "SHUTOFF")
    fault(remote_console(cloud, token, made["id"], "serial", "serial"), "conflictingRequest", 409)
    assert refused_status(url) == 409  # minted while it ran: the proxy asks the database again
    cloud.request("DELETE", f"{BASE}/servers/{made['id']}", token)


def test_openstacksdk_and_the_cli_get_console_urls(cloud, server) -> None:
    console = sdk(cloud).compute.create_console(server["id"], "serial")
    assert console["url"].startswith("ws://127.0.0.1:") and "/serial?token=" in console["url"]
    novnc = sdk(cloud).compute.create_console(server["id"], "novnc")
    assert "/vnc.html?path=vnc%3Ftoken%3D" in novnc["url"]
    shown = cli_json(cloud, "stratus", "console", "url", "show", "--serial", server["id"])
    assert shown["type"] == "serial" and "/serial?token=" in shown["url"]
    with connect(shown["url"], open_timeout=10) as websocket:
        assert b"STRATUS-READY" in read_until(websocket, b"STRATUS-READY")
    shown = cli_json(cloud, "stratus", "console", "url", "show", "--novnc", server["id"])
    assert shown["type"] == "novnc" and "/vnc.html?path=" in shown["url"]
