"""Hostile request material for the API fuzz test: valid documents made from a JSON schema, every place in a
document where a value can be swapped, the hostile values to swap in, and the fault format each API must
answer in."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]

# Strings a pattern is tried against, in order, when a schema asks for one (the first that matches is used).
_PATTERN_CANDIDATES = (
    "fuzz",
    "1",
    "12345678-1234-5678-9abc-123456789abc",
    "/name",
    "10.0.0.0/24",
    "a",
)
_FORMATS = {
    "uuid": "12345678-1234-5678-9abc-123456789abc",
    "date-time": "2026-01-01T00:00:00Z",
    "ipv4": "10.0.0.5",
    "ipv6": "fd00::5",
    "email": "fuzz@example.org",
    "uri": "http://127.0.0.1/x",
    "regex": "^fuzz$",
}

DEEP = 40  # past api.validation.MAX_DEPTH, far below any parser's recursion limit
HOSTILE_VALUES: tuple[Any, ...] = (
    "\ud800",  # a lone surrogate: sent as the escape "\ud800", which no UTF-8 store can hold
    "nul\x00byte",
    2**64,
    -(2**70),
    1e308,
    0.5,
    -1,
    True,
    None,
    "",
    [],
    {},
    ["x"],
    {"x": "y"},
    "x" * 70_000,
    "é☃𝄞" * 100,
    "../../etc/passwd",
    "10.0.0.1%eth0\ninclude x",
    "' OR 1=1 --",
    "^(a+)+$",
    "<script>alert(1)</script>",
    "1" * 400,
)


def nested(depth: int) -> Any:
    document: Any = "x"
    for level in range(depth):
        document = [document] if level % 2 else {"a": document}
    return document


def instance(schema: Any) -> Any:
    """A document valid for ``schema`` where that is easy to make (enough to get past the shape checks)."""
    if not isinstance(schema, dict):
        return "fuzz"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if schema.get(combinator):
            return instance(schema[combinator][0])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: instance(sub) for name, sub in (schema.get("properties") or {}).items()} | {
            _key_for(pattern): instance(sub) for pattern, sub in (schema.get("patternProperties") or {}).items()
        }
    if kind == "array":
        count = max(1, schema.get("minItems", 1)) if schema.get("maxItems", 1) else 0
        return [instance(schema.get("items", {})) for _ in range(count)]
    if kind in ("integer", "number"):
        return max(int(schema.get("minimum", 1)), 1) if "maximum" not in schema else schema["maximum"]
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema)


def _key_for(pattern: str) -> str:
    return next((c for c in _PATTERN_CANDIDATES if re.search(pattern, c)), "fuzz")


def _string(schema: dict[str, Any]) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    if "pattern" in schema:
        return _key_for(schema["pattern"])
    return "f" * max(4, schema.get("minLength", 0))


def places(document: Any, path: Path = ()) -> Iterator[Path]:
    """Every path in ``document`` whose value can be replaced (the root is not one)."""
    items = (
        document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    )
    for key, value in items:
        yield (*path, key)
        yield from places(value, (*path, key))


def replaced(document: Any, path: Path, value: Any) -> Any:
    copied = copy.deepcopy(document)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copied


def encode(document: Any) -> bytes:
    """JSON as a hostile client sends it: lone surrogates as escapes, integers of any size."""
    return json.dumps(document).encode()


def fault_problem(path: str, status: int, content_type: str, body: bytes) -> str | None:
    """Why ``body`` is not a fault in the format of the API at ``path`` (None when it is)."""
    if status < 400:
        return None
    api = path.lstrip("/").split("/", 1)[0]
    portal = api not in ("compute", "network", "image", "identity", "volume", "placement")
    if portal and content_type.startswith("text/html"):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return f"neither HTML nor JSON: {body[:100]!r}"
    if portal:
        # The upload script's endpoint answers JSON with a message; a URL that matches no route at all gets
        # the application's own fault (Keystone's shape).
        ok = "message" in document or {"code", "title", "message"} <= set(document.get("error", {}))
        return None if ok else f"not a portal answer: {body[:200]!r}"
    if api in ("compute", "volume"):  # Cinder's faults are Nova's shape
        ok = len(document) == 1 and {"code", "message"} <= set(next(iter(document.values())))
    elif api == "network":
        ok = {"type", "message", "detail"} <= set(document.get("NeutronError", {}))
    elif api == "image":
        ok = {"code", "title", "message"} <= set(document)
    elif api == "placement" and status != 401:  # a 401 is keystonemiddleware's (Keystone's shape)
        errors = document.get("errors")
        ok = isinstance(errors, list) and len(errors) == 1 and {"status", "title", "detail"} <= set(errors[0])
    else:
        ok = {"code", "title", "message"} <= set(document.get("error", {}))
    return None if ok else f"not a {api} fault: {body[:200]!r}"
