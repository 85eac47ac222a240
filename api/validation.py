"""Request bodies are checked against JSON schemas; a bad one is a 400 whose message names the field.

Valid bodies, the common case, are checked by code compiled from the schema (fastjsonschema, many times
faster); only a body that fails is run through jsonschema as well, for the clearest message about it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import fastjsonschema
from flask import current_app, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

from common.exceptions import BadRequest, PayloadTooLarge, ValidationError

_validators: dict[int, tuple[Draft202012Validator, Callable[[Any], Any]]] = {}


def json_body() -> Any:
    """The request's JSON document; malformed or oversized bodies never reach a handler."""
    limit = current_app.config["MAX_JSON_BODY"]
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(limit=limit)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(limit=limit)
    if not raw:
        raise BadRequest("The request body is empty; a JSON document was expected.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed request body: {exc}") from None


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
