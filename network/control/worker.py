"""stratus-network: the control side of networking (each host's desired wiring, port binding and status), on the
``network`` queue.

Start with ``celery -A network.control.worker:app worker -Q network``.
"""

from common import hostnames
from common.db import database_unreachable
from common.logs import setup_logging
from common.queue import make_celery
from common.settings import load
from network.control import tasks

settings = load()
setup_logging("stratus-network", settings.log_level)
app = make_celery(settings, speaks_for=hostnames.speaks_for(settings))
app.retry_when = database_unreachable  # type: ignore[attr-defined]  # no database server: the task is sent again
tasks.register(app, settings)
