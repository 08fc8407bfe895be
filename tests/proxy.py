"""A TCP proxy that can be cut: a server outage as clients see it, without losing its state."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from scripts.processes import free_port


class OutageProxy:
    """Forwards 127.0.0.1:port to an upstream address until :meth:`cut`; :meth:`mend` resumes."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()  # kept while cut: outside the ephemeral range, it stays free
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The proxy's address as an http URL."""
        return f"http://127.0.0.1:{self.port}"

    def mend(self) -> None:
        """Listen (again, on the same port) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones, as a stopped server would."""
        with self._lock:
            if self._listener is not None:
                _reset(self._listener)  # wakes the accept thread: close() alone would not
                self._listener = None
            for sock in self._open:
                _reset(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            with self._lock:
                if self._listener is not listener:  # cut while this one was connecting
                    _reset(client)
                    _reset(server)
                    return
                self._open |= {client, server}
            ended: list[socket.socket] = []  # one entry per direction that has ended
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b, ended), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, ended: list[socket.socket]) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            ended.append(source)
            if len(ended) < 2:
                return  # the other direction still pumps
            self._open -= {source, sink}  # both ended: the connection's sockets can go
        source.close()
        sink.close()


def _reset(sock: socket.socket) -> None:
    """Abort a socket at once, as a crashed server's kernel would: RST, no TIME_WAIT.

    close() alone leaves a socket open while another thread is blocked in accept() or recv() on
    it: the proxy would go on listening through the "outage", and mend() would find its port
    taken. shutdown() wakes those threads first.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
