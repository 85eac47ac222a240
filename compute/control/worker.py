"""stratus-scheduler: the control side of compute (placement, build/delete orchestration, host reports), on
the ``liveness``, ``events``, ``compute`` and ``reports`` queues, taken in that order of priority
(``SCHEDULER_QUEUES``): whenever a queue earlier in it holds a message, the worker takes that one first.

Why an order and not turns: in turns, each queue gets one task per round, and a round of a busy scheduler (a
build's placement, its events, a report) took over a second with 1,000 hosts; the hosts' heartbeats, 7 a second
from 20 agent processes, waited past their expiry, every host was judged down, and 1,465 of 2,000 builds failed
with no valid host (``bench/scale.py``). So: the hosts' heartbeats and acknowledgements first (on them a host is
judged down or a build not taken), then the events of work in flight (finishing it before starting more), then new
work, and the periodic reports last: a snapshot that waits past its expiry is dropped and the next one comes.

Start with ``celery -A compute.control.worker:app worker -Q liveness,events,compute,reports --beat``.
"""

from common import hostnames
from common.db import database_unreachable
from common.logs import setup_logging
from common.queue import make_celery, take_queues_in_order
from common.settings import load
from compute.control import tasks

settings = load()
setup_logging("stratus-scheduler", settings.log_level)
app = make_celery(settings, speaks_for=hostnames.speaks_for(settings))
take_queues_in_order(app)
app.retry_when = database_unreachable  # type: ignore[attr-defined]  # no database server: the task is sent again
tasks.register(app, settings)
