"""A metadefs property definition that passes the schema but contradicts itself is refused: the catalogue must not
describe a value no resource could carry."""

from __future__ import annotations

import pytest

from api.image.metadef_bodies import DEFINITION, check_definition, check_object
from api.validation import validate
from common.exceptions import BadRequest, ValidationError


@pytest.mark.parametrize(
    "definition",
    [
        {"title": "T", "type": "string"},
        {"title": "T", "type": "string", "enum": ["a", "b"], "default": "a"},
        {"title": "T", "type": "integer", "minimum": 0, "maximum": 10, "default": 10},
        {"title": "T", "type": "number", "default": 1.5},
        {"title": "T", "type": "string", "pattern": "^[a-z]+$", "default": "abc", "minLength": 1, "maxLength": 3},
        {"title": "T", "type": "array", "items": {"type": "string", "enum": ["x"]}, "minItems": 0, "maxItems": 2},
        {"title": "T", "type": "boolean", "default": False},
    ],
)
def test_coherent_definitions_pass(definition):
    validate(definition, DEFINITION)
    check_definition(definition, "'p'")


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        ({"title": "T", "type": "integer", "minimum": 2, "maximum": 1}, "minimum is greater than maximum"),
        ({"title": "T", "type": "string", "minLength": 5, "maxLength": 1}, "minLength is greater than maxLength"),
        ({"title": "T", "type": "array", "minItems": 3, "maxItems": 1}, "minItems is greater than maxItems"),
        ({"title": "T", "type": "string", "pattern": "(["}, "not a regular expression"),
        ({"title": "T", "type": "integer", "enum": [1, True]}, "not of type integer"),
        ({"title": "T", "type": "string", "enum": ["a"], "default": "b"}, "not one of its enum values"),
        ({"title": "T", "type": "integer", "default": 1.5}, "not of type integer"),
        ({"title": "T", "type": "integer", "maximum": 3, "default": 4}, "above its maximum"),
        ({"title": "T", "type": "string", "maxLength": 2, "default": "abc"}, "length out of bounds"),
        ({"title": "T", "type": "string", "pattern": "^a", "default": "b"}, "does not match its pattern"),
        ({"title": "T", "type": "array", "items": {"type": "integer", "enum": ["x"]}}, "items enum value"),
    ],
)
def test_contradictory_definitions_are_400(definition, why):
    validate(definition, DEFINITION)
    with pytest.raises(BadRequest, match=why):
        check_definition(definition, "'p'")


@pytest.mark.parametrize(
    "definition",
    [
        {"type": "string"},
        {"title": "T", "type": "float"},
        {"title": "T", "type": None},
        {"title": "T", "type": "string", "minLength": -1},
        {"title": "T", "type": "string", "surprise": True},
        {"title": "T", "type": "string", "description": "x" * 8193},
    ],
)
def test_definitions_outside_glances_schema_are_400(definition):
    with pytest.raises(ValidationError):
        validate(definition, DEFINITION)


def test_an_object_requires_only_properties_it_defines():
    check_object({"name": "o", "required": ["p"], "properties": {"p": {"title": "P", "type": "string"}}})
    with pytest.raises(BadRequest, match="required names properties it does not define: q"):
        check_object({"name": "o", "required": ["q"], "properties": {"p": {"title": "P", "type": "string"}}})
