"""kombu's Redis Sentinel transport (``sentinel://``), with what a failover needs and kombu 5.7 lacks.

A channel whose connection is gone. When the primary dies, a Celery worker's consumer drops its broken
connection (Celery's ``on_connection_error_after_connected``): ``collect()`` detaches the transport from its
kombu connection, and the ``close()`` that follows closes the channel, which puts the messages the worker had
received and not started back on their queues (Celery forgets them: their delivery tags die with the channel).
That needs a new connection pool, whose parameters kombu reads from the transport's connection, gone by then:
an ``AttributeError``, which Celery takes for an unrecoverable error, and the worker exits (a compute agent did,
in ``tests/functional/ha/test_redis_failover.py``; kombu issue 582 shows the same path). Here the pool is made
from the parameters the closed connection still holds, and the putting back waits for the new primary
(``FailoverQoS``, up to ``RESTORE_PATIENCE``): without both, the 15 spawns a compute agent had received stayed
in kombu's ``unacked`` hash, which kombu restores only after ``visibility_timeout`` (an hour), and their builds
waited for the sweeper's timeout. A channel already closed raises a connection error, which makes a producer
that kept it (beat's, which otherwise failed every later send) reconnect with a new channel.

No switching between Sentinels. kombu reads the ``;``-separated Sentinel URLs as alternative brokers, and after a
connection error "switches" to the next one, closing the connection's channels under whoever still uses them.
The Sentinels are not brokers: kombu's Sentinel channel asks all of them whatever URL is current, so the
failover strategy :class:`Stay` never switches.

``common.queue`` points kombu's ``sentinel`` alias here (``use``) and sets :class:`Stay` and
``FAILOVER_RETRY_POLICY`` when ``broker_sentinels`` is set; the URLs stay ``sentinel://``, which kombu's Sentinel
channel looks for among its alternates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

LOG = logging.getLogger(__name__)

ALIAS = "sentinel"
RESTORE_PATIENCE = 20.0
"""Seconds a channel being closed waits for a new primary to put the messages it had received back on their
queues: the Sentinels' ``down-after`` (``broker_down_after``) and their election."""
FAILOVER_RETRY_POLICY = {"max_retries": 20, "interval_start": 0, "interval_step": 0.5, "interval_max": 1.0}
"""How long a worker's or an agent's send tries again (Celery's ``task_publish_retry_policy``): about 18 s, the
Sentinels' ``down-after`` (``broker_down_after``, up to about 10 s) and their election, so that what a task sends
while the primary is gone (a host's spawned event, the scheduler's spawn) waits for the new primary instead of
failing the task. Celery's default, three tries in under a second, failed the burst's spawns in the test and
their builds waited for the sweeper's timeout. The API keeps the default: its requests are refused with a 503
instead of waiting (``common.queue.make_publisher``)."""


class FailoverQoS(kombu_redis.QoS):
    """Puts a closed channel's received messages back on their queues on the new primary, waiting for it."""

    def restore_unacked(self, client: Any = None) -> Any:
        deadline = time.monotonic() + RESTORE_PATIENCE
        while True:
            try:
                return super().restore_unacked(client)
            except redis.exceptions.ConnectionError as exc:  # the primary is gone and none is promoted yet
                if time.monotonic() > deadline:
                    raise
                LOG.info("waiting for the broker's new primary to put received messages back: %s", exc)
                time.sleep(0.5)


class SentinelChannel(kombu_redis.SentinelChannel):
    QoS = FailoverQoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conninfo = self.connection.client

    def _get_pool(self, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport is None:  # a closed channel: its user reconnects on this error (a producer is revived)
            raise redis.exceptions.ConnectionError("this broker channel is closed")
        if transport.client is not None:
            return super()._get_pool(asynchronous)
        # Detached by collect(): the pool is made from what the connection held, which its close left intact.
        transport.client = self._conninfo
        try:
            return super()._get_pool(asynchronous)
        finally:
            transport.client = None


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


class Stay:
    """A kombu failover strategy that stays on the first URL: kombu switches only while the strategy is true."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.first = urls[0]

    def __iter__(self) -> Stay:
        return self

    def __next__(self) -> str:
        return self.first

    def __bool__(self) -> bool:
        return False


def use() -> None:
    """Make ``sentinel://`` URLs mean :class:`SentinelTransport` in this process."""
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:{SentinelTransport.__name__}"
