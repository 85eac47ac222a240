"""``Form.attempt``: the one way a portal form sends its request and shows the API's refusal beside a field."""

from __future__ import annotations

import pytest

from portal.errors import ApiError
from portal.forms import empty


def refuse(status: int, message: str):
    def send() -> None:
        raise ApiError(status, message)

    return send


def test_an_accepted_request_returns_what_the_api_answered_and_leaves_the_form_clean() -> None:
    form = empty("thing")
    assert form.attempt(lambda: {"id": "x"}) == {"id": "x"}
    assert form.ok and form.status == 400


def test_a_refusal_is_shown_beside_the_field_it_names_with_a_400() -> None:
    form = empty("thing")
    message = "Quota exceeded for resources: ['network']."
    assert form.attempt(refuse(409, message), keywords={"quota": "name"}) is None
    assert form.errors == {"name": message} and form.status == 400


def test_a_failure_on_the_api_side_shows_the_form_again_with_a_502() -> None:
    form = empty("thing")
    assert form.attempt(refuse(503, "The service is unavailable.")) is None
    assert form.errors == {"": "The service is unavailable."} and form.status == 502


@pytest.mark.parametrize("status", [401, 404])
def test_statuses_the_form_passes_on_reach_the_error_page(status: int) -> None:
    form = empty("thing")
    with pytest.raises(ApiError):
        form.attempt(refuse(status, "no"), passes=(401, 404))
    assert form.ok


def test_a_form_that_passes_nothing_shows_even_a_401_beside_it() -> None:
    form = empty("grant")
    assert form.attempt(refuse(401, "The request you have made requires authentication."), passes=()) is None
    assert not form.ok
