"""stratus-netagent: the host agent that wires bridges, VXLAN and firewalls, on its ``network.<host>`` queue.

It never touches the database: what it needs comes in the task.

Start with ``celery -A network.agent:app worker``; its tasks are registered as the service grows.
"""

from common.queue import make_celery
from common.settings import load

app = make_celery(load())
