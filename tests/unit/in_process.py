"""The whole API application in-process on a private SQLite database with the two bootstrap users: what the
API and the portal's server side answer is tested in milliseconds, without a server, workers or Redis (an
in-process broker takes what the API sends, at once, instead of waiting on a Redis that is not there)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from api.app import create_app
from common.db import Database
from common.settings import load
from identity.fernet import KeyRepository
from manage import migrate
from manage.bootstrap import Tenant, bootstrap

ADMIN_PASSWORD = "admin-secret"
DEMO_PASSWORD = "demo-secret"


def bootstrapped_app(state: Path) -> Flask:
    """A migrated, bootstrapped application (``admin`` an admin, ``demo`` a member) keeping its state in
    ``state``; dispose of ``app.extensions["stratus"].db`` when done."""
    env = {"STRATUS_STATE_DIR": str(state), "STRATUS_PASSWORD_HASH_ROUNDS": "4", "STRATUS_BROKER_URL": "memory://"}
    settings = load(env)
    migrate.upgrade(settings)
    KeyRepository(settings.effective_key_repository, settings.fernet_max_active_keys).setup()
    db = Database(settings.effective_database_url)
    tenants = [Tenant("admin", "admin", ADMIN_PASSWORD, "admin"), Tenant("demo", "demo", DEMO_PASSWORD, "member")]
    bootstrap(db, tenants, settings.password_hash_rounds)
    db.dispose()
    app = create_app(settings)
    app.testing = True
    return app
