"""stratus-compute: the host agent that drives the hypervisor, on its ``compute.<host>`` queue.

It never touches the database: what it needs comes in the task.

Start with ``celery -A compute.agent:app worker``; its tasks are registered as the service grows.
"""

from common.queue import make_celery
from common.settings import load

app = make_celery(load())
