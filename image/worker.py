"""stratus-image: the image store, inspection and conversion, on the ``image`` queue.

Start with ``celery -A image.worker:app worker -Q image``.
"""

from common.logs import setup_logging
from common.queue import make_celery
from common.settings import load
from image import tasks

settings = load()
setup_logging("stratus-image", settings.log_level)
app = make_celery(settings)
tasks.register(app, settings)
