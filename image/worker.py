"""stratus-image: the image store, inspection and conversion, on the ``image`` queue.

Start with ``celery -A image.worker:app worker -Q image``.
"""

from common.db import database_unreachable
from common.logs import setup_logging
from common.queue import make_celery
from common.settings import load
from image import tasks

settings = load()
setup_logging("stratus-image", settings.log_level)
app = make_celery(settings)
app.retry_when = database_unreachable  # type: ignore[attr-defined]  # no database server: the task is sent again
tasks.register(app, settings)
