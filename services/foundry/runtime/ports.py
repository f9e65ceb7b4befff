"""Pick free local TCP ports, optionally with a free "twin" at a fixed offset.

A port is free if it can be bound on the host right now; nothing reserves it afterwards, so a
caller that loses the race to another process must retry with new ports. To make that race rare,
ports (and twins) are drawn outside the kernel's ephemeral range (Linux:
/proc/sys/net/ipv4/ip_local_port_range, usually 32768-60999), where outgoing connections take
their local ports: a port picked there can be taken by any connection a moment later (SeaweedFS
makes dozens while it starts). Ports handed out by this process are remembered and not handed
out again, so two launchers in one process never collide with each other.
"""

from __future__ import annotations

import random
import socket
import threading

#: the lowest port handed out (above the well-known and most registered services)
MIN_PORT = 10000
MAX_PORT = 65535
#: assumed when the kernel does not say
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)

_given: set[int] = set()
_lock = threading.Lock()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP listener could bind `host:port` now."""
    if not 0 < port <= MAX_PORT:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as handle:
            low, high = (int(part) for part in handle.read().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return low, high


def candidate_ports(twin_offset: int = 0) -> list[int]:
    """Ports P such that P and P + twin_offset are in range and outside the ephemeral range."""
    low, high = ephemeral_port_range()

    def outside(port: int) -> bool:
        return MIN_PORT <= port <= MAX_PORT and not low <= port <= high

    return [p for p in range(MIN_PORT, MAX_PORT + 1) if outside(p) and outside(p + twin_offset)]


def pick_free_ports(
    count: int, *, twin_offset: int = 0, host: str = "127.0.0.1", attempts: int = 2000
) -> list[int]:
    """`count` distinct free ports P; with `twin_offset`, each P + twin_offset is free too.

    Raises `RuntimeError` if that many could not be found in `attempts` draws.
    """
    candidates = candidate_ports(twin_offset)
    if not candidates:
        raise RuntimeError(
            f"no ports outside the ephemeral range {ephemeral_port_range()} fit twin offset {twin_offset}"
        )
    chosen: list[int] = []
    with _lock:
        for _ in range(attempts):
            if len(chosen) == count:
                break
            port = random.choice(candidates)
            wanted = {port, port + twin_offset}
            taken = _given | set(chosen) | {p + twin_offset for p in chosen}
            if wanted & taken:
                continue
            if all(port_is_free(p, host) for p in wanted):
                chosen.append(port)
        if len(chosen) < count:
            raise RuntimeError(f"could not find {count} free ports on {host} (twin offset {twin_offset})")
        _given.update(chosen)
        _given.update(p + twin_offset for p in chosen)
    return chosen
