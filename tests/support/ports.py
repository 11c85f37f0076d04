"""Free ports for the tests' local servers."""

from __future__ import annotations

import socket

from imagepipe.local.serve import port_free


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now, nor on the next one: `start_server` on
    it serves the renditions on that next port by default."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port: int = s.getsockname()[1]
        if port < 65535 and port_free(host, port + 1):
            return port
    raise RuntimeError(f"no two adjacent free ports on {host}")
