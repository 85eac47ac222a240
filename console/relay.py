"""The byte pump between an accepted websocket and a console's TCP port, both ways until either side ends.

Websocket messages are written to the TCP side as they come (text frames as UTF-8, for clients that send
keystrokes as text); TCP data goes out as binary frames, as noVNC and xterm.js expect. When one direction ends
the other is cancelled and both are closed, so a guest's port is never held by a client that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from compute.consoles import ConsoleTarget

LOG = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5.0
CHUNK = 64 * 1024


async def _to_guest(websocket: ServerConnection, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in websocket:
            writer.write(message.encode() if isinstance(message, str) else message)
            await writer.drain()


async def _to_client(websocket: ServerConnection, reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionClosed):
        while data := await reader.read(CHUNK):
            await websocket.send(data)


async def relay(websocket: ServerConnection, target: ConsoleTarget) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.address, target.port), timeout=CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        LOG.warning("console of %s: cannot reach %s:%d: %s", target.instance_id, target.address, target.port, exc)
        await websocket.close(1011, "the console of this server cannot be reached")
        return
    LOG.info("console %s of %s: relaying to %s:%d", target.kind, target.instance_id, target.address, target.port)
    tasks = [asyncio.create_task(_to_guest(websocket, writer)), asyncio.create_task(_to_client(websocket, reader))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await websocket.close()
        LOG.info("console %s of %s: closed", target.kind, target.instance_id)
