"""stratus-scheduler: the control side of compute, on the ``compute`` and ``events`` queues.

Start with ``celery -A compute.worker:app worker``; its tasks are registered as the service grows.
"""

from common.queue import make_celery
from common.settings import load

app = make_celery(load())
