"""Free port picking for the local S3 server."""

from __future__ import annotations

import socket

from foundry.runtime.ports import candidate_ports, ephemeral_port_range, pick_free_ports, port_is_free


def test_picked_ports_and_twins_are_free_distinct_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_port_range()
    ports = pick_free_ports(5, twin_offset=10000)
    every = ports + [p + 10000 for p in ports]
    assert len(set(every)) == 10
    assert all(port_is_free(p) for p in every)
    assert not any(low <= p <= high for p in every)
    again = pick_free_ports(5, twin_offset=10000)
    assert not set(again) & set(every)  # never handed out twice in one process


def test_a_bound_port_is_not_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def test_candidates_fit_the_port_space() -> None:
    assert all(p + 10000 <= 65535 for p in candidate_ports(10000))
