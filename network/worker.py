"""stratus-network: the control side of networking (segments, IP allocation, port binding), on the ``network`` queue.

Start with ``celery -A network.worker:app worker``; its tasks are registered as the service grows.
"""

from common.queue import make_celery
from common.settings import load

app = make_celery(load())
