"""The one Celery application and the queue layout of DESIGN.md.

Control-side services consume ``compute``, ``network``, ``image``, ``events``, ``liveness`` and ``reports``; each
host agent consumes ``compute.<host>`` or ``network.<host>``. Tasks are routed by the first part of their name
(``compute.build_instance`` goes to ``compute``); a client that targets one host passes ``queue=`` itself, and a
host sends its liveness messages (``LIVENESS_QUEUE``) and its periodic reports (``REPORTS_QUEUE``) to queues of
their own.
Every task is acknowledged late and rejected back to the queue when its worker dies, so a killed worker's
task is redelivered; tasks must therefore be idempotent.

Every message is signed when it is published and verified before its task runs (``common.signing`` says how
and why), whichever way it is sent (``send_task``, ``apply_async``, beat): a worker refuses, logs and drops a
message that does not verify. On the control side a message from a host must also be a task that hosts may
send (``from_hosts=True``), and the host the task's ``host_arg`` names must be one the sender speaks for: a
host reports only about itself, whatever the message claims.

Every message a host sends carries its sequence number (``host_seq``, signed with the rest): the control side,
taking a host's messages from several queues and processes, tells from it which of two words is the newer.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Collection
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from celery import Celery, Task
from celery.app.amqp import AMQP
from celery.exceptions import Reject
from celery.worker.control import Panel
from redis.sentinel import Sentinel

from common import broker_sentinel, signing
from common.settings import HostSettings, sentinel_addresses

LOG = logging.getLogger(__name__)

LIVENESS_QUEUE = "liveness"
"""The compute hosts' heartbeats and their acknowledgements of work received (``compute.client.LIVENESS_TASKS``),
consumed by the scheduler beside ``compute`` and ``events``. Why a queue of their own: the scheduler decides from
them that a host is down or did not take a build in time, so they must not wait behind its backlog. A burst of
400 creates on 40 fake hosts queued the heartbeats 7-9 s apart behind the builds' events and more than half the
servers went to ERROR ("host is down", "did not take the build within 8 s"); the worker takes from its queues in
turn, so a message here waits for at most one task of each other queue."""
REPORTS_QUEUE = "reports"
"""The compute hosts' periodic reports (capacity and guests), consumed by the scheduler beside the others. Why a
queue of their own: 1,000 hosts report 100 times a second, more than one scheduler process handles (about 30 ms
each); on ``events`` the reports that expired unread filled the queue ahead of the builds' own events, and the
builds waited behind them. Here a report that waited past its expiry is dropped while the other queues go on.
Taken apart from the events, a report may be handled after an event its host sent later: the host's sequence
number (``host_seq``) tells the scheduler which word is the newer (``compute.control.hosts``)."""
CONTROL_QUEUES = ("compute", "network", "image", "volume", "events", LIVENESS_QUEUE, REPORTS_QUEUE)


def host_queue(service: str, host: str) -> str:
    """The queue of one host agent: ``compute.<host>`` or ``network.<host>``."""
    return f"{service}.{host}"


def unacked_keys(host: str) -> dict[str, str]:
    """kombu's bookkeeping of a host's messages in flight, under keys of that host alone. kombu's defaults
    (``unacked``...) are shared by every client and hold every message delivered and not yet acknowledged,
    whoever it was for: a host reading them would read other hosts' spawn specs. ``manage.broker_acl`` lets a
    host's Redis user touch these keys and no other process's."""
    return {
        "unacked_key": f"unacked.{host}",
        "unacked_index_key": f"unacked_index.{host}",
        "unacked_mutex_key": f"unacked_mutex.{host}",
    }


RESULT_KEY_PREFIX = "celery-task-meta-"
"""Where the Redis result backend keeps a task's result (and the pub/sub channel it announces it on)."""


def host_result_id(host: str) -> str:
    """A task id whose result a host may read or write: ``<host>/<uuid>``. Redis lets a host's user touch only
    results (and result channels) under its own names (``manage.broker_acl``), so a host's answer (console
    output) or an answer meant for it (an image variant) is beyond every other host's reach."""
    return f"{host}/{uuid.uuid4()}"


def route_by_prefix(name: str, args: object, kwargs: object, options: dict, task=None, **kw: object) -> dict | None:
    if options.get("queue"):
        return None
    prefix = name.split(".", 1)[0]
    return {"queue": prefix} if prefix in CONTROL_QUEUES else None


PUBLISHER_CONNECTION_RETRIES = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.5}
"""How long a process that only sends may try to reach the broker: kombu's defaults wait about 6 s on a refused
connection, which an API request would pass on to its client. With these, and the send's own retry policy, a
broker restart of well under a second is ridden out and an absent broker fails the send in about 0.6 s."""


def recipient(queue: object) -> str:
    """The host a message is for, from its queue (``compute.<host>`` or ``network.<host>``); "" for control."""
    name = queue if isinstance(queue, str) else getattr(queue, "name", None) or ""
    service, _, host = name.partition(".")
    return host if service in ("compute", "network") and host else ""


HOST_SEQ_ARG = "stratus_seq"
"""The keyword under which a host's message carries its ``host_seq``; taken off before the task runs."""


class _HostClock:
    """Strictly increasing in this process, and near the wall clock in nanoseconds, so that an agent restarted
    goes on above the numbers it sent before (a clock stepped back by more than the restart took is the limit)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return self._last


_CLOCK = _HostClock()


def host_seq() -> int:
    """The next sequence number of this host's words. Take it *before* looking at what a message will tell (a
    report's snapshot): a word about the state seen then is older than anything sent after it."""
    return _CLOCK.next()


_MESSAGE_SEQ: contextvars.ContextVar[int | None] = contextvars.ContextVar("stratus_message_seq", default=None)


def message_seq() -> int | None:
    """The sending host's sequence number of the message whose task runs now (None: not from a host)."""
    return _MESSAGE_SEQ.get()


class SigningAMQP(AMQP):
    """Celery's message layer with every outgoing task message signed: all sends pass through here."""

    @cached_property
    def send_task_message(self) -> Callable[..., Any]:
        send = self._create_task_sender()

        def signed(producer: Any, name: str, message: Any, queue: object = None, **options: Any) -> Any:
            args, kwargs, _ = message.body
            # Celery lays a send's ``headers`` over the message's after this point: a task's retry passes those it
            # received, the sender's signature included, which would replace ours. Merged here, without them.
            extra = options.pop("headers", None) or {}
            message.headers.update({key: value for key, value in extra.items() if key not in signing.HEADERS})
            auth: signing.MessageAuth = self.app.message_auth
            message.headers.update(auth.sign(name, message.headers["id"], args, kwargs, recipient(queue)))
            return send(producer, name, message, queue=queue, **options)

        return signed


class VerifiedTask(Task):
    """Runs only messages that verify. ``from_hosts``: a host agent may send this task (a report);
    ``host_arg``: the argument naming the host (or list of hosts) the report is about."""

    from_hosts: bool = False
    host_arg: str | None = None
    typing = False  # a host's message carries HOST_SEQ_ARG, which no task declares; the worker checks the rest

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        sender = None
        if not self.request.called_directly:  # a message, not an in-process call
            try:
                sender = self._authorise(args, kwargs)
            except signing.ForgedMessage as exc:
                headers = {name: getattr(self.request, name, None) for name in ("stratus_sender", "stratus_to")}
                LOG.warning("refused task %s[%s] %s: %s", self.name, self.request.id, headers, exc)
                raise Reject(str(exc), requeue=False) from None
        seq = kwargs.pop(HOST_SEQ_ARG, None)
        seq = seq if sender is not None and type(seq) is int else None  # a host's, or its word sent again
        token = _MESSAGE_SEQ.set(seq)
        try:
            if seq is not None and self.app.heard_from_host is not None:
                self._heard(args, kwargs, seq)
            return super().__call__(*args, **kwargs)
        finally:
            _MESSAGE_SEQ.reset(token)

    @cached_property
    def run_signature(self) -> inspect.Signature:
        """The task function's signature, read once: every host message binds its arguments to it."""
        return inspect.signature(self.run)

    def _heard(self, args: tuple, kwargs: dict, seq: int) -> None:
        try:
            arguments = self.run_signature.bind(*args, **kwargs).arguments
        except TypeError:
            return  # the task itself refuses the arguments
        self.app.heard_from_host(arguments, seq)

    def _authorise(self, args: tuple, kwargs: dict) -> str:
        """The sender, once the message verifies and its sender may send it about the hosts it names."""
        auth: signing.MessageAuth = self.app.message_auth
        headers = {name: getattr(self.request, name, None) for name in signing.HEADERS}
        sender = auth.verify(self.name, self.request.id, args, kwargs, headers)
        if sender == signing.CONTROL or auth.keyring.sender != signing.CONTROL:
            return sender  # the control side may send anything; a host's own messages come back only to itself
        if not self.from_hosts:
            raise signing.ForgedMessage(f"host {sender!r} may not send {self.name}")
        if self.host_arg is None:
            return sender
        arguments = {name: value for name, value in kwargs.items() if name != HOST_SEQ_ARG}
        try:
            claimed = self.run_signature.bind(*args, **arguments).arguments.get(self.host_arg)
        except TypeError:
            raise signing.ForgedMessage(f"the arguments do not fit {self.name}") from None
        names = claimed if isinstance(claimed, list) else [claimed]
        allowed = self.app.speaks_for(sender)
        strangers = [name for name in names if name not in allowed]
        if strangers:
            raise signing.ForgedMessage(f"host {sender!r} reported about host(s) {strangers!r}")
        return sender


TRANSIENT_RETRIES = 40
TRANSIENT_RETRY_MAX_DELAY = 10
"""A task that met a transient failure (``retry_when``) is sent again after 1, 2, 4, 8 and then every 10 seconds,
40 times: about six minutes for an operator to promote a standby before the task fails for good."""


class RetriedTask(VerifiedTask):
    """A verified task (every task of the cloud is one) that is sent again when it failed because something it
    needs was away for a while: the app's ``retry_when`` says which failures are (on the control side, the
    database between a primary's death and a standby's promotion: ``common.db.database_unreachable``). Up to
    :data:`TRANSIENT_RETRIES` times with a growing delay; tasks are idempotent (see the module's text). A periodic
    task is not retried: its next period runs it anyway. The worker goes on taking tasks either way."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            retry_when = getattr(self.app, "retry_when", None)
            if self.request.called_directly or retry_when is None or not retry_when(exc):
                raise
            if self.request.get("celery_beat_task"):
                LOG.warning("periodic task %s[%s] failed: %s", self.name, self.request.id, exc)
                raise
            delay = min(2**self.request.retries, TRANSIENT_RETRY_MAX_DELAY)
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            LOG.warning("task %s[%s] retried in %ss: %s", self.name, self.request.id, delay, first_line)
            # Sent again by this (control-side) process with the task's own arguments, and a host's word keeps its
            # number (``HOST_SEQ_ARG``, which no task declares: Celery's argument check is off, ``typing``): a
            # report sent again without it would be taken as the host's newest, however old its snapshot.
            accepted = self.run_signature.parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
            own = {name: value for name, value in kwargs.items() if takes_any or name in accepted}
            if type(seq := kwargs.get(HOST_SEQ_ARG)) is int:
                own[HOST_SEQ_ARG] = seq
            raise self.retry(args=args, kwargs=own, exc=exc, countdown=delay, max_retries=TRANSIENT_RETRIES) from None


class HostCelery(Celery):
    """The Celery application of a host agent: it sends within what its Redis user may do.

    A send declares no queue (declaring a control queue would add to its binding set, which the host may only
    read: else it could bind another queue of its own to a control exchange and receive control messages) and
    waits for no result unless asked (``ignore_result=False``: the task then gets a ``host_result_id`` of the
    sender, the only results the host may read); by default Celery subscribes to every sent task's result
    channel, which a host may not."""

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        kwargs = dict(kwargs or {})
        kwargs.setdefault(HOST_SEQ_ARG, host_seq())
        options.setdefault("declare", [])
        if options.get("ignore_result") is False:
            options["task_id"] = options.get("task_id") or host_result_id(self.message_auth.keyring.sender)
        else:
            options["ignore_result"] = True
        return super().send_task(name, args, kwargs, **options)


def message_auth(settings: HostSettings, sender: str) -> signing.MessageAuth:
    """The control side holds the master key (made on first use); a host agent only its own key file."""
    keys_dir = settings.effective_queue_keys_dir
    if sender == signing.CONTROL:
        keyring: signing.Keyring = signing.ControlKeyring(signing.ensure_master_key(keys_dir / "master.key"))
    else:
        keyring = signing.HostKeyring(sender, signing.read_host_keys(keys_dir / "hosts" / f"{sender}.keys"))
    return signing.MessageAuth(keyring, settings.queue_message_max_age)


SENTINEL_TIMEOUT = 1.0
"""Seconds a question to one Sentinel may take before the client asks the next."""


def sentinel_options(settings: HostSettings) -> dict[str, Any]:
    """kombu's and Celery's transport options for the Sentinel shape (``broker_sentinels``), else none: the name
    the Sentinels know the primary by, and how to sign in to the Sentinels themselves, which kombu does not take
    from the URL (the URL's user and password are the data nodes'). ``manage.redis_ha`` gives every Sentinel the
    same users as the data nodes, so a host asks them as its own user, which may only ask where the primary is."""
    if not settings.broker_sentinels:
        return {}
    first = urlsplit(settings.effective_broker_url.split(";", 1)[0])
    sign_in = {"username": unquote(first.username or "") or None, "password": unquote(first.password or "") or None}
    timeouts = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    return {"master_name": settings.broker_master_name, "sentinel_kwargs": sign_in | timeouts}


def redis_client(settings: HostSettings, timeout: float) -> redis.Redis:
    """A direct client of the broker's Redis (console tokens, health pings, ACL changes): the one node of
    ``broker_url``, or with ``broker_sentinels`` the primary the Sentinels name, asked again after a connection
    error, so the client follows a failover without a restart."""
    if not settings.broker_sentinels:
        url = settings.effective_broker_url
        return redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, **(broker_tls(settings) or {})
        )
    options = sentinel_options(settings)
    first = urlsplit(settings.effective_broker_url.split(";", 1)[0])
    watchers = Sentinel(sentinel_addresses(settings.broker_sentinels), sentinel_kwargs=options["sentinel_kwargs"])
    return watchers.master_for(
        options["master_name"],
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        username=options["sentinel_kwargs"]["username"],
        password=options["sentinel_kwargs"]["password"],
        db=int(first.path.strip("/") or 0),
    )


def broker_tls(settings: HostSettings) -> dict[str, Any] | None:
    """TLS options for a rediss:// broker: the server's certificate must chain to our CA and name the host."""
    if not settings.broker_url.startswith("rediss://"):
        return None
    return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(settings.effective_broker_ca_file)}


REMOTE_CONTROL_COMMANDS = frozenset({"ping"})
"""The remote-control commands a worker still obeys. Celery's broadcast commands (``shutdown``, ``revoke`` with
``terminate``, ``add_consumer``, ``cancel_consumer``, ``pool_restart``, ``conf``...) are not signed: any holder
of the broker password (every host) could stop or rewire any worker with them. ``ping`` answers only "alive",
which ``services up`` needs."""


def restrict_remote_control() -> None:
    """Forget every remote-control command but ``REMOTE_CONTROL_COMMANDS`` in this process (workers build their
    control handlers from this registry when they start)."""
    for name in [name for name in Panel.data if name not in REMOTE_CONTROL_COMMANDS]:
        Panel.data.pop(name, None)
        Panel.meta.pop(name, None)


def make_celery(
    settings: HostSettings,
    sender: str = signing.CONTROL,
    speaks_for: Callable[[str], Collection[str]] | None = None,
) -> Celery:
    """The Celery app of one process. ``sender``: ``control`` for control-side processes, the host's name for a
    host agent. ``speaks_for``: on the control side, the host names a host agent may report about (its own
    name unless given)."""
    restrict_remote_control()
    url = settings.effective_broker_url
    kind = Celery if sender == signing.CONTROL else HostCelery
    app = kind("stratus", broker=url, backend=url, amqp=SigningAMQP, task_cls=RetriedTask)
    app.message_auth = message_auth(settings, sender)  # type: ignore[attr-defined]
    app.speaks_for = speaks_for or (lambda host: (host,))  # type: ignore[attr-defined]
    # Which exceptions of a task mean "try again later" (set by the control-side workers to
    # ``common.db.database_unreachable``; this module may not import the database layer, host agents use it).
    app.retry_when = None  # type: ignore[attr-defined]
    # Told the arguments and the sequence number of each host's message before its task runs (the scheduler
    # remembers there the newest word about each server: ``compute.control.tasks``).
    app.heard_from_host = None  # type: ignore[attr-defined]
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue="events",
        task_routes=(route_by_prefix,),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        task_time_limit=1800,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
        broker_use_ssl=broker_tls(settings),
        redis_backend_use_ssl=broker_tls(settings),
    )
    if settings.broker_sentinels:  # sentinel:// for the queues and the results alike
        broker_sentinel.use()
        app.conf.broker_failover_strategy = broker_sentinel.Stay
        app.conf.task_publish_retry_policy = broker_sentinel.FAILOVER_RETRY_POLICY
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, **sentinel_options(settings)}
        app.conf.result_backend_transport_options = sentinel_options(settings)
    if sender != signing.CONTROL:
        # A host's tasks keep no result (its user may not write them) unless a task says so (console output).
        app.conf.task_ignore_result = True
        # Its remote-control queue does not expire: kombu would then keep its binding alive with a script over
        # the shared _kombu.binding_deadlines and sweep other clients' tables, none of which a host may touch.
        app.conf.control_queue_expires = None
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, **unacked_keys(sender)}
    return app


def take_queues_in_order(app: Celery) -> None:
    """Make a worker of ``app`` take its queues in the order given to it (``-Q``), a message of an earlier queue
    always first, instead of in turns (kombu's ``queue_order_strategy``). For a worker whose queues differ in
    urgency (the scheduler's: ``compute.control.worker``); never for a host agent, whose hosts' queues are equals."""
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "queue_order_strategy": "priority"}


def make_publisher(settings: HostSettings) -> Celery:
    """The queue client of the API: the same application, with connection attempts bounded so that a request
    never hangs on an absent broker (workers keep kombu's patient defaults: they have no client waiting)."""
    app = make_celery(settings)
    app.conf.broker_connection_timeout = 1.0
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, **PUBLISHER_CONNECTION_RETRIES}
    if settings.broker_sentinels:  # a request does not wait out a failover: it is refused (503) or swept
        del app.conf["task_publish_retry_policy"]
    return app


PING_TIMEOUT = 0.5
"""Seconds a broker health ping may take: Redis on this machine or the next answers in well under a millisecond."""


def broker_pinger(settings: HostSettings) -> redis.Redis | None:
    """A small client for health pings (its pool keeps the socket open, so a ping is one round trip); None for
    an in-process transport such as ``memory://``, which is always there."""
    if not settings.effective_broker_url.startswith(("redis://", "rediss://", "unix://", "sentinel://")):
        return None
    return redis_client(settings, PING_TIMEOUT)
