"""Every model module of Stratus, imported in one place for Alembic and for schema checks."""

from common import periodic as common_periodic
from compute import models as compute_models
from identity import generation as identity_generation  # registers the generation bump on writes
from identity import models as identity_models
from image import models as image_models
from network import models as network_models
from portal import models as portal_models
from quota import models as quota_models
from volume import models as volume_models

MODEL_MODULES = (
    common_periodic,
    identity_models,
    image_models,
    compute_models,
    network_models,
    quota_models,
    portal_models,
    volume_models,
)
HOOKS = (identity_generation,)
