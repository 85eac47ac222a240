"""Every model module of Stratus, imported in one place for Alembic and for schema checks."""

from api.identity import models as identity_models

MODEL_MODULES = (identity_models,)
