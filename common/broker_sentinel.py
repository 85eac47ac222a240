"""kombu's Redis Sentinel transport (``sentinel://``), with what a failover needs and kombu 5.7 lacks.

A channel whose connection is gone. When the primary dies, a Celery worker's consumer drops its broken
connection (Celery's ``on_connection_error_after_connected``): ``collect()`` detaches the transport from its
kombu connection, and the ``close()`` that follows closes the channel again, which puts the messages it had
received back on their queues. That needs a new connection pool, whose parameters kombu reads from the
transport's connection, gone by then: an ``AttributeError``, which Celery takes for an unrecoverable error, and
the worker exits (a compute agent did, in ``tests/functional/ha/test_redis_failover.py``; kombu issue 582 shows
the same path). A producer that kept such a channel (beat's) failed every later send the same way and never
reconnected. Here such a channel raises a connection error instead: kombu ignores it on close, and answers it on
a send by reconnecting (through the Sentinels) and giving the producer a new channel. The messages the closed
channel had received stay in kombu's ``unacked`` hash, which kombu puts back after ``visibility_timeout``; the
scheduler's sweeper does not wait that long for a build (``compute.states.STUCK_RULES``).

No switching between Sentinels. kombu reads the ``;``-separated Sentinel URLs as alternative brokers, and after a
connection error "switches" to the next one, closing the connection's channels under whoever still uses them.
The Sentinels are not brokers: kombu's Sentinel channel asks all of them whatever URL is current, so the
failover strategy :class:`Stay` never switches.

``common.queue`` points kombu's ``sentinel`` alias here (``use``) and sets :class:`Stay` when
``broker_sentinels`` is set; the URLs stay ``sentinel://``, which kombu's Sentinel channel looks for among its
alternates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

ALIAS = "sentinel"


class SentinelChannel(kombu_redis.SentinelChannel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:  # closed, or its transport detached
            raise redis.exceptions.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous)


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
