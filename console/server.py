"""The console proxy process: ``python -m console.server`` (``stratus-manage services up`` starts it).

One asyncio loop serves every console; the database and Redis, whose clients block, are asked in threads. A
plain GET gets the noVNC page and library (``webpages``); a websocket handshake must pass ``admission`` and is
then relayed to the guest's console (``relay``). Admission answers are HTTP statuses, never an accepted
websocket that closes at once: a refused client never sees a byte of a guest.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import weakref
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from common.db import Database
from common.logs import setup_logging
from common.settings import Settings, load
from compute import consoles
from console import admission, origins, webpages
from console.relay import relay

LOG = logging.getLogger(__name__)
MAX_MESSAGE = 1 << 20
"""Largest websocket message accepted from a client: keystrokes and mouse events are tiny."""


def _binary_if_asked(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """noVNC asks for ``binary``; clients that ask for nothing (the CLI's users, scripts) get plain binary frames
    all the same. Checked after admission, so it never decides on a token."""
    return Subprotocol("binary") if "binary" in offered else None


class ConsoleProxy:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.effective_database_url)
        self.store = consoles.token_store(settings)
        self.allowed = origins.allowed_origins(settings, consoles.proxy_base_url(settings))
        # What each admitted handshake may connect to, until its handler takes it; a handshake that fails after
        # admission leaves nothing behind (the entry goes with the connection).
        self._targets: weakref.WeakKeyDictionary[ServerConnection, consoles.ConsoleTarget] = weakref.WeakKeyDictionary()

    def _admit(self, path: str, origin: str | None) -> consoles.ConsoleTarget | admission.Refusal:
        return admission.admit(
            path,
            origin,
            self.allowed,
            lambda token: consoles.redeem(self.store, token),
            lambda target: admission.server_still_running(self.db, target),
        )

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return self._page(connection, request.path.partition("?")[0])
        origin_headers = request.headers.get_all("Origin")
        if len(origin_headers) > 1:
            return connection.respond(403, "One Origin, please.\n")
        origin = origin_headers[0] if origin_headers else None
        try:
            result = await asyncio.to_thread(self._admit, request.path, origin)
        except Exception:
            LOG.exception("console admission failed for %s", request.path.partition("?")[0])
            return connection.respond(503, "The console proxy cannot check tokens right now.\n")
        if isinstance(result, admission.Refusal):
            LOG.info("console refused (%d): %s", result.status, result.reason)
            return connection.respond(result.status, result.reason + "\n")
        self._targets[connection] = result
        return None

    def _page(self, connection: ServerConnection, path: str) -> Response:
        page = webpages.find(path)
        if page is None:
            return connection.respond(404, "Not found.\n")
        headers = Headers(
            [
                ("Content-Type", page.content_type),
                ("Content-Length", str(len(page.body))),
                ("Cache-Control", "no-cache"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),  # the page's URL holds the token until it is used
            ]
        )
        return Response(200, "OK", headers, page.body)

    async def handle(self, connection: ServerConnection) -> None:
        target = self._targets.pop(connection, None)
        if target is None:  # cannot happen: every accepted handshake passed process_request
            await connection.close(1011, "not admitted")
            return
        await relay(connection, target)

    async def serve(self, stop: asyncio.Future[None]) -> None:
        host, port = self.settings.console_proxy_host, self.settings.console_proxy_port
        async with serve(
            self.handle,
            host,
            port,
            process_request=self.process_request,
            select_subprotocol=_binary_if_asked,
            max_size=MAX_MESSAGE,
            compression=None,
            server_header="stratus-console-proxy",
        ):
            LOG.info("console proxy on %s:%d, console URLs at %s", host, port, consoles.proxy_base_url(self.settings))
            await stop


def main() -> None:
    settings = load()
    setup_logging("stratus-console-proxy", settings.log_level)

    async def run() -> None:
        stop = asyncio.get_running_loop().create_future()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
        await ConsoleProxy(settings).serve(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
