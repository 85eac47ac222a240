"""A form's submitted values and its errors, keyed by field name ("" for the form as a whole).

Pages validate what the API cannot (a number that is not a number) and leave the rest to the API, whose
fault is attached to the field it names (see ``errors.ApiError.field``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from flask import request
from werkzeug.datastructures import MultiDict

from portal.errors import ApiError

T = TypeVar("T")


@dataclass
class Form:
    id: str
    values: MultiDict[str, str] = field(default_factory=MultiDict)
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 400
    """The status to show the form again with: 400, or 502 when the API failed on its side."""

    @classmethod
    def posted(cls, form_id: str, secret: tuple[str, ...] = ()) -> Form:
        """The request's form, less the CSRF token and ``secret`` fields (never echoed back into a page)."""
        values = MultiDict(
            (k, v.strip() if k not in secret else v) for k, v in request.form.items(multi=True) if k != "csrf_token"
        )
        return cls(form_id, values)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default) or default

    def getlist(self, name: str) -> list[str]:
        return [v for v in self.values.getlist(name) if v]

    def require(self, *names: str) -> None:
        for name in names:
            if not self.get(name):
                self.errors.setdefault(name, "This field is required.")

    def integer(self, name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
        raw = self.get(name)
        if not raw:
            return None
        try:
            number = int(raw)
        except ValueError:
            self.errors[name] = "Enter a whole number."
            return None
        if minimum is not None and number < minimum:
            self.errors[name] = f"Enter a number of at least {minimum}."
        elif maximum is not None and number > maximum:
            self.errors[name] = f"Enter a number of at most {maximum}."
        return number

    def fail(
        self, error: ApiError, fields: Mapping[str, str] | None = None, keywords: Mapping[str, str] | None = None
    ) -> None:
        """Attach an API error to the field it is about, or to the form."""
        self.errors[error.field(fields, keywords)] = error.message

    def attempt(
        self,
        send: Callable[[], T],
        fields: Mapping[str, str] | None = None,
        keywords: Mapping[str, str] | None = None,
        passes: tuple[int, ...] = (401,),
    ) -> T | None:
        """Run ``send`` (one call to the API) and return what it returns; if the API refuses, attach its message to
        the field it names and return None. The statuses in ``passes`` are not the form's to show: they go on to
        the error page (401 signs the user out; a 404 of the page's own resource is a missing page)."""
        try:
            return send()
        except ApiError as exc:
            if exc.status in passes:
                raise
            self.fail(exc, fields, keywords)
            self.status = 400 if exc.status < 500 else 502
            return None

    @property
    def ok(self) -> bool:
        return not self.errors


def empty(form_id: str, **defaults: str) -> Form:
    return Form(form_id, MultiDict(defaults))
