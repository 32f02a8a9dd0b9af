"""A relay that can go silent: the network partition both fault scenarios inject.

While :attr:`FreezableProxy.frozen` is set every byte is held back and every socket stays
open -- what a frozen network looks like to libvirt, unlike a closed connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FreezableProxy"]


class FreezableProxy:
    """Accept on ``listener`` and relay each connection to a new ``connect()`` socket."""

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
        self.frozen = threading.Event()
        self._listener = listener
        self._connect = connect
        self._sockets: list[socket.socket] = [listener]
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def tcp(cls, target_port: int) -> FreezableProxy:
        """Relay ``127.0.0.1:<port>`` (see :attr:`port`) to ``127.0.0.1:<target_port>``."""
        return cls(
            socket.create_server(("127.0.0.1", 0)),
            lambda: socket.create_connection(("127.0.0.1", target_port)),
        )

    @classmethod
    def unix(cls, path: Path, target: str) -> FreezableProxy:
        """Relay the UNIX socket ``path`` to the UNIX socket ``target``."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(64)

        def connect() -> socket.socket:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(target)
            return upstream

        return cls(listener, connect)

    @property
    def port(self) -> int:
        """The TCP port a :meth:`tcp` proxy listens on."""
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def path(self) -> str:
        """The socket path a :meth:`unix` proxy listens on."""
        path: str = self._listener.getsockname()
        return path

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = self._connect()
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.frozen.is_set():  # silent: hold the bytes, keep the sockets open
                    time.sleep(0.02)
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()
