"""Keystone list filters from the query string (``?name=x&enabled=true&domain_id=y``)."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import Select

from api.validation import query_bool


def apply(
    query: Select[Any], model: type, string_fields: tuple[str, ...], bool_fields: tuple[str, ...] = ("enabled",)
) -> Select[Any]:
    for name in string_fields:
        value = request.args.get(name)
        if value is not None:
            query = query.where(getattr(model, name) == value)
    for name in bool_fields:
        value = query_bool(name)
        if value is not None:
            query = query.where(getattr(model, name) == value)
    return query
