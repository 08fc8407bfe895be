"""The outage proxy of the fault tests: a cut refuses at once, a mend listens on the same port."""

from __future__ import annotations

import socket
from contextlib import closing

import pytest

from tests.proxy import OutageProxy


def test_a_cut_proxy_refuses_at_once_and_mends_on_its_own_port() -> None:
    with closing(socket.socket()) as upstream:
        upstream.bind(("127.0.0.1", 0))
        upstream.listen(8)
        proxy = OutageProxy(upstream.getsockname())
        proxy.mend()
        port = proxy.port
        idle = socket.create_connection(("127.0.0.1", port), timeout=2)  # a pooled keep-alive
        idle.sendall(b"x")
        peer, _ = upstream.accept()
        assert peer.recv(1) == b"x"  # the connection is up and its pumps are running

        proxy.cut()
        assert _ended(idle)
        # No connection comes in between: a listener left blocked in accept() would still listen.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        proxy.mend()
        assert proxy.port == port
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        proxy.cut()
        idle.close()
        peer.close()


def _ended(sock: socket.socket) -> bool:
    """Whether the other end closed or reset the connection."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
