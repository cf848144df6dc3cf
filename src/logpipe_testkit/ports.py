"""Free TCP ports on the loopback address, for daemons and servers started by tests,
benchmarks and the demo (each on ports of its own, so runs side by side never collide)."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` different ports that nothing listens on right now (the kernel picks them).

    All sockets are held open until every port is chosen, so the kernel cannot hand out
    the same port twice in one call.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """One port that nothing listens on right now."""
    return free_ports(1)[0]
