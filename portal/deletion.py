"""The two steps every delete in the portal takes: a confirmation page (a GET, which changes nothing) and the
POSTed form behind it, which calls the API and says on the next page what happened.

One place for both keeps the pages alike for users and keeps the rule about a lapsed session in one spot: a 401
is re-raised so the blueprint sends the user to sign in again instead of showing "unauthorized" as a notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Response, url_for

from portal.blueprint import api, redirect_with, render
from portal.errors import ApiError


@dataclass(frozen=True)
class Page:
    """A portal page to send the user to: its endpoint and the values of its URL."""

    endpoint: str
    values: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        return url_for(self.endpoint, **self.values)


def confirm_page(kind: str, name: str, submit: Page, cancel: Page) -> Response:
    return render(
        "portal/confirm_delete.html",
        title=f"Delete {kind}",
        kind=kind,
        name=name,
        action=submit.url(),
        cancel=cancel.url(),
    )


def delete_then_redirect(path: str, done: Page, message: str, failed: Page, missing_is_done: bool = False) -> Response:
    """DELETE ``path`` in the API; on success go to ``done`` with ``message``, else to ``failed`` with the API's
    own message. ``missing_is_done`` treats a 404 as success, for things that may vanish while the user looks."""
    try:
        api().delete(path)
    except ApiError as exc:
        if exc.status == 401:
            raise
        if not (missing_is_done and exc.status == 404):
            return redirect_with(failed.endpoint, exc.message, error=True, **failed.values)
    return redirect_with(done.endpoint, message, **done.values)
