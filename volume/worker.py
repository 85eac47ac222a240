"""stratus-volume: volumes, snapshots and uploads on the volume backends, on the ``volume`` queue.

Start with ``celery -A volume.worker:app worker -Q volume``.
"""

from common.db import database_unreachable
from common.logs import setup_logging
from common.queue import make_celery
from common.settings import load
from volume import tasks

settings = load()
setup_logging("stratus-volume", settings.log_level)
app = make_celery(settings)
app.retry_when = database_unreachable  # type: ignore[attr-defined]  # no database server: the task is sent again
tasks.register(app, settings)
