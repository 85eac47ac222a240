"""stratus-scheduler: the control side of compute (placement, build/delete orchestration, host reports), on
the ``compute``, ``events``, ``liveness`` and ``reports`` queues (``common.queue.LIVENESS_QUEUE``: the hosts'
heartbeats and acknowledgements, which must not wait behind the others' backlog; ``REPORTS_QUEUE``: their periodic
reports, which must not hold the others up).

Start with ``celery -A compute.control.worker:app worker -Q compute,events,liveness,reports --beat``.
"""

from common import hostnames
from common.db import database_unreachable
from common.logs import setup_logging
from common.queue import make_celery
from common.settings import load
from compute.control import tasks

settings = load()
setup_logging("stratus-scheduler", settings.log_level)
app = make_celery(settings, speaks_for=hostnames.speaks_for(settings))
app.retry_when = database_unreachable  # type: ignore[attr-defined]  # no database server: the task is sent again
tasks.register(app, settings)
