"""Prometheus metrics per RPC, exposed on an HTTP port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_REQUESTS = Counter(
    "foundry_rpc_requests", "RPCs served, by final status code", ["service", "method", "code"]
)
RPC_DURATION = Histogram(
    "foundry_rpc_duration_seconds",
    "Time from the start of an RPC to its final status",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RPC_IN_FLIGHT = Gauge("foundry_rpc_in_flight", "RPCs being served now", ["service", "method"])


def start_metrics_server(host: str, port: int) -> int:
    """Serve /metrics over HTTP; returns the bound port (useful with port 0)."""
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
