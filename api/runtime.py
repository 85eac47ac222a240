"""The long-lived objects of one API process, built once by ``create_app`` and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from api.identity.catalog import Catalog
from api.identity.tokens import TokenService
from common.db import Database
from common.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    tokens: TokenService
    catalog: Catalog


def runtime() -> Runtime:
    return current_app.extensions["stratus"]
