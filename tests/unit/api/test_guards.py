"""Request bodies are bounded before they are read, in every API and the portal; a URL with NUL is a 400."""

from __future__ import annotations

import io

import pytest

from tests.unit.api.conftest import InProcessCloud

LIMIT = 1 << 20  # the default max_request_body_bytes
FAULT_MESSAGE = {
    "/compute/v2.1/servers": lambda body: body["overLimit"]["message"],
    "/network/v2.0/networks": lambda body: body["NeutronError"]["message"],
    "/image/v2/images": lambda body: body["message"],
    "/identity/v3/projects": lambda body: body["error"]["message"],
}


class UnreadStream(io.RawIOBase):
    """A request body that must never be read: the limit has to be decided on the declared length alone."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise AssertionError("the body was read although its declared length is over the limit")


def _environ(length: int | None, stream: io.RawIOBase | io.BytesIO) -> dict[str, object]:
    environ: dict[str, object] = {"wsgi.input": stream, "wsgi.input_terminated": True}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    return environ


@pytest.mark.parametrize("path", list(FAULT_MESSAGE))
def test_a_declared_body_over_the_limit_is_a_413_before_it_is_read(api_cloud: InProcessCloud, path: str):
    response = api_cloud.client().post(
        path,
        headers={"X-Auth-Token": api_cloud.admin_token, "Content-Type": "application/json"},
        environ_overrides=_environ(LIMIT + 1, UnreadStream()),
    )
    assert response.status_code == 413, response.get_data(as_text=True)
    assert "larger than the 1048576 bytes" in FAULT_MESSAGE[path](response.json)


@pytest.mark.parametrize("path", list(FAULT_MESSAGE))
def test_a_chunked_body_is_cut_at_the_limit_with_a_413(api_cloud: InProcessCloud, path: str):
    """No Content-Length (chunked transfer): the server's stream is read through a bounded reader."""
    response = api_cloud.client().post(
        path,
        headers={"X-Auth-Token": api_cloud.admin_token, "Content-Type": "application/json"},
        environ_overrides=_environ(None, io.BytesIO(b'{"x": "' + b"y" * (2 * LIMIT) + b'"}')),
    )
    assert response.status_code == 413, response.get_data(as_text=True)
    assert FAULT_MESSAGE[path](response.json)


def test_a_portal_form_over_the_limit_is_the_portal_413_page_before_it_is_spooled(api_cloud: InProcessCloud):
    """Werkzeug bounds a form's plain fields (500 KB) but spools file parts of any size to disk."""
    boundary = "fuzzboundary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="public_key"; filename="k.pub"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = part + b"k" * (2 * LIMIT) + f"\r\n--{boundary}--\r\n".encode()
    response = api_cloud.client().post(
        "/key-pairs", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"


def test_image_data_over_the_allowance_is_a_413_before_the_image_is_claimed(api_cloud: InProcessCloud):
    """A declared length over what the image may hold (size cap or quota) is refused without reading a byte,
    and the image stays queued for a proper upload."""
    client, token = api_cloud.client(), api_cloud.demo_token
    headers = {"X-Auth-Token": token}
    body = {"name": "too-big", "disk_format": "raw", "container_format": "bare"}
    image_id = client.post("/image/v2/images", json=body, headers=headers).json["id"]
    cap = api_cloud.app.extensions["stratus"].settings.image_size_cap
    response = client.put(
        f"/image/v2/images/{image_id}/file",
        headers={**headers, "Content-Type": "application/octet-stream"},
        environ_overrides=_environ(cap + 1, UnreadStream()),
    )
    assert response.status_code == 413, response.get_data(as_text=True)
    assert "exceeds the" in response.json["message"]
    assert client.get(f"/image/v2/images/{image_id}", headers=headers).json["status"] == "queued"


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        ("/compute/v2.1/servers/%00", "badRequest"),
        ("/network/v2.0/networks?name=a%00b", "NeutronError"),
        ("/identity/v3/projects?name=%00", "error"),
    ],
)
def test_a_nul_in_the_url_is_a_400_in_the_api_own_format(api_cloud: InProcessCloud, path: str, fault: str):
    """PostgreSQL refuses NUL in text: without this the lookup would fail in the database."""
    response = api_cloud.client().get(path, headers={"X-Auth-Token": api_cloud.admin_token})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert fault in response.json
