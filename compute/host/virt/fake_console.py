"""The fake driver's consoles: real TCP servers on the loopback, so the console proxy in front of them is tested
for real (tokens, origins, relaying both ways) without a guest.

A fake guest's serial port greets a client with the guest's console log and echoes every byte it is sent, as a
terminal with local echo would; its VNC display sends the RFB version greeting, then echoes too. Servers are
opened on first use and closed when the instance goes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

RFB_GREETING = b"RFB 003.008\n"


class EchoConsole:
    """One listening socket on 127.0.0.1 (a port the kernel picks); each client gets ``greeting()`` then an echo."""

    def __init__(self, greeting: Callable[[], bytes]) -> None:
        self._greeting = greeting
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"fake-console-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.sendall(self._greeting())
            while data := client.recv(4096):
                client.sendall(data)
        except Exception:  # a closed socket, or a guest gone while greeting: hang up
            pass
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def close(self) -> None:
        """Stop listening and hang up on every client, as a guest that is destroyed does."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
        self._listener.close()
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()
