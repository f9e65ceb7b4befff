"""A small NetworkPolicy evaluator: which (source, destination, port) connections a set of
policies allows between actors, following the Kubernetes semantics (a pod selected by no policy
of a direction is open in it; selected pods allow the union of their policies' rules; a
connection needs the source's egress and the destination's ingress)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    name: str
    namespace: str
    #: None: not a pod (an address outside the cluster network, like the API server)
    labels: dict[str, str] | None
    namespace_labels: dict[str, str] = field(default_factory=dict)
    #: (port, protocol, port name) it listens on
    ports: tuple[tuple[int, str, str], ...] = ()
    ip: str = ""


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_ns: str, other: Actor) -> bool:
    if "ipBlock" in peer:
        if other.labels is not None or not other.ip:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(c) for c in block.get("except", []))
    if other.labels is None:
        return False
    pod_ok = "podSelector" not in peer or selects(peer["podSelector"], other.labels)
    if "namespaceSelector" in peer:
        ns_ok = selects(peer["namespaceSelector"], other.namespace_labels)
    else:
        ns_ok = other.namespace == policy_ns
    return pod_ok and ns_ok


def _port_matches(ports: list[dict[str, Any]] | None, port: tuple[int, str, str]) -> bool:
    if not ports:
        return True
    number, protocol, name = port
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or wanted in (number, name):
            return True
        if isinstance(wanted, int) and "endPort" in entry and wanted <= number <= entry["endPort"]:
            return True
    return False


def _allowed(
    policies: list[dict[str, Any]], direction: str, subject: Actor, other: Actor, port: tuple[int, str, str]
) -> bool:
    """Whether `subject`'s policies of `direction` ("Ingress"/"Egress") let `other` through."""
    if subject.labels is None:
        return True  # not a pod: no policy applies
    mine = [
        p
        for p in policies
        if p["metadata"].get("namespace") == subject.namespace
        and selects(p["spec"].get("podSelector", {}), subject.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not mine:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in mine:
        ns = policy["metadata"]["namespace"]
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, ns, other) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port):
                return True
    return False


def allowed_connections(
    policies: list[dict[str, Any]], actors: list[Actor], namespace: str
) -> set[tuple[str, str, int, str]]:
    """Every (source, destination, port, protocol) allowed where one end is in `namespace`."""
    out = set()
    for src in actors:
        for dst in actors:
            if namespace not in (src.namespace, dst.namespace):
                continue
            for port in dst.ports:
                if _allowed(policies, "Egress", src, dst, port) and _allowed(
                    policies, "Ingress", dst, src, port
                ):
                    out.add((src.name, dst.name, port[0], port[1]))
    return out
