"""The proxy's loop: keep one listener per served network, accept guests' connections, answer each in a thread.

One thread selects over every listening socket and re-reads the dataplane's file every ``POLL_INTERVAL``
seconds; each accepted connection gets a thread of its own (at most ``MAX_CONNECTIONS`` at once, after which
guests wait in the listen backlog), so a slow guest never holds up another.
"""

from __future__ import annotations

import logging
import selectors
import threading
import time
from pathlib import Path

from network.host.metadata.forward import Accepted, Upstream, serve_connection
from network.host.metadata.namespaces import Listeners, read_served

LOG = logging.getLogger(__name__)
POLL_INTERVAL = 0.5
MAX_CONNECTIONS = 64


class MetadataProxy:
    def __init__(self, served_file: Path, upstream: Upstream, listeners: Listeners | None = None) -> None:
        self.served_file = served_file
        self.upstream = upstream
        self.listeners = listeners or Listeners()
        self.selector = selectors.DefaultSelector()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.stopping = threading.Event()

    def sync(self) -> None:
        opened, closed = self.listeners.sync(read_served(self.served_file))
        for listener in closed:
            self.selector.unregister(listener.sock)
            LOG.info("metadata: stopped listening for network %s", listener.served.network_id)
        for listener in opened:
            accepted = Accepted(listener.served.network_id, self.upstream)
            self.selector.register(listener.sock, selectors.EVENT_READ, accepted)
            LOG.info("metadata: listening in %s for network %s", listener.served.namespace, listener.served.network_id)

    def _accept(self, key: selectors.SelectorKey) -> None:
        try:
            conn, peer = key.fileobj.accept()  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            LOG.warning("metadata: accept failed: %s", exc)
            return
        self.slots.acquire()

        def run() -> None:
            try:
                serve_connection(conn, peer, key.data)
            finally:
                self.slots.release()

        threading.Thread(target=run, name=f"metadata-{peer[0]}", daemon=True).start()

    def run(self) -> None:
        """Serve until ``stop``; the file is read again every ``POLL_INTERVAL`` seconds."""
        next_sync = 0.0
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                if now >= next_sync:
                    self.sync()
                    next_sync = now + POLL_INTERVAL
                for key, _ in self.selector.select(timeout=max(0.0, next_sync - time.monotonic())):
                    self._accept(key)
        finally:
            self.listeners.close()
            self.selector.close()
            self.upstream.close()

    def stop(self) -> None:
        self.stopping.set()
