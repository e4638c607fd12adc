"""Local TCP ports for tests that serve on 127.0.0.1."""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_is_free"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (closed again before returning).

    Another process may take it before the caller binds it; tests accept that race.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now."""
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True
