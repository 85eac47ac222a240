"""stratus-image: the image store, inspection and conversion, on the ``image`` queue.

Start with ``celery -A image.worker:app worker``; its tasks are registered as the service grows.
"""

from common.queue import make_celery
from common.settings import load

app = make_celery(load())
