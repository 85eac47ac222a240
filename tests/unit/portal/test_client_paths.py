"""The portal's in-process API client carries any path a portal URL can hold."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_an_undecodable_id_in_a_portal_url_reaches_the_api_as_a_404(demo: tuple[FlaskClient, str]) -> None:
    """``/images/%ff%fe/file`` gives the view an id with U+FFFD; the client put it in the WSGI environ as a
    plain str, which Werkzeug could not encode, and the page was a 500."""
    client, csrf = demo
    headers = {"Content-Type": "application/octet-stream", "X-CSRF-Token": csrf}
    response = client.put("/images/%ff%fe/file", data=b"x", headers=headers)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.json["message"]
