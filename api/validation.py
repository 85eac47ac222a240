"""Request bodies are checked against JSON schemas; a bad one is a 400 whose message names the field.

Valid bodies, the common case, are checked by code compiled from the schema (fastjsonschema, many times
faster); only a body that fails is run through jsonschema as well, for the clearest message about it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
import orjson
from flask import current_app, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

from common.exceptions import BadRequest, PayloadTooLarge, ValidationError

_validators: dict[int, tuple[Draft202012Validator, Callable[[Any], Any]]] = {}

MAX_DEPTH = 32
"""Deepest nesting of a request body: the deepest schema (a server's block device mappings) needs 5."""
_INT64 = 1 << 63
_NUL_REASON = "NUL characters are not allowed"


def json_body() -> Any:
    """The request's JSON document; malformed or oversized bodies never reach a handler."""
    limit = current_app.config["MAX_JSON_BODY"]
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(limit=limit)
    raw = _read_at_most(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(limit=limit)
    if not raw:
        raise BadRequest("The request body is empty; a JSON document was expected.")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed request body: {exc}") from None
    check_document(document)
    return document


def _read_at_most(size: int) -> bytes:
    """Up to ``size`` bytes of the body: one ``read`` may return less than asked (a chunked body arrives in
    pieces), and a body taken as complete when it was only cut would be parsed as a shorter document."""
    buffer = bytearray()
    while len(buffer) < size and (chunk := request.stream.read(size - len(buffer))):
        buffer += chunk
    return bytes(buffer)


def check_document(document: Any) -> None:
    """Refuse what no schema field needs and what would fail far from here, as a 400 that names the place.

    orjson already refuses lone surrogates (``"\\ud800"`` cannot be stored or encoded), invalid UTF-8, NaN
    and infinities. This walk, without recursion, adds: nesting deeper than ``MAX_DEPTH`` (jsonschema and
    the views recurse), numbers beyond a 64-bit integer (SQLite and orjson cannot hold them; orjson reads a
    longer integer as an inexact float), and NUL characters in strings and keys (PostgreSQL's text refuses
    them, and they cut names short in C libraries).
    """
    pending: list[tuple[Any, str, int]] = [(document, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadRequest(f"The request body nests deeper than {MAX_DEPTH} levels (at {path or '<body>'}).")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and "\x00" in key:
                    raise ValidationError(field=f"{path}.{key!r}".lstrip("."), reason=_NUL_REASON)
                pending.append((item, f"{path}.{key}".lstrip("."), depth + 1))
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValidationError(field=path or "<body>", reason=_NUL_REASON)
        elif isinstance(value, int | float) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
            raise ValidationError(field=path or "<body>", reason=f"{value} is beyond a 64-bit integer")


def _field_path(error: SchemaError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    if error.validator == "additionalProperties" and "'" in error.message:
        path.append(error.message.split("'")[1])
    return ".".join(path) or "<body>"


def _compiled(schema: dict[str, Any]) -> tuple[Draft202012Validator, Callable[[Any], Any]]:
    found = _validators.get(id(schema))
    if found is None:
        found = _validators[id(schema)] = (Draft202012Validator(schema), fastjsonschema.compile(schema))
    return found


def validate(document: Any, schema: dict[str, Any]) -> Any:
    explainer, fast_check = _compiled(schema)
    try:
        fast_check(document)
        return document
    except fastjsonschema.JsonSchemaException:
        pass
    error = best_match(explainer.iter_errors(document))
    if error is not None:
        raise ValidationError(field=_field_path(error), reason=error.message)
    return document


def validated_body(schema: dict[str, Any]) -> Any:
    return validate(json_body(), schema)


def digits(raw: str) -> int | None:
    """``raw`` as a non-negative integer when it is plain ASCII digits that fit a 64-bit integer, else None.
    ``str.isdigit`` alone takes "²" (which ``int()`` refuses) and numbers no database column holds."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return None
    value = int(raw)
    return value if value < _INT64 else None


def query_bool(name: str, default: bool | None = None) -> bool | None:
    """OpenStack query booleans: ``true``/``false``/``1``/``0``/``yes``/``no``, any case; empty means true."""
    raw = request.args.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("", "true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValidationError(field=name, reason=f"{raw!r} is not a boolean")
