"""The role table (`runtime.roles`) names every RPC the generated descriptors define, and names
nothing else; the role hierarchy as written in the issue."""

from __future__ import annotations

from foundry.runtime.roles import GRANTS, REQUIRED_ROLE, Role, allows, required_role
from helpers.rpcs import RPCS


def test_every_rpc_of_every_service_has_an_entry() -> None:
    missing = [rpc.path for rpc in RPCS if rpc.path not in REQUIRED_ROLE]
    assert not missing, f"add these RPCs to foundry.runtime.roles: {missing}"


def test_every_entry_is_an_rpc() -> None:
    paths = {rpc.path for rpc in RPCS}
    assert not set(REQUIRED_ROLE) - paths


def test_the_descriptors_hold_every_service() -> None:
    services = {rpc.service.rsplit(".", 1)[-1] for rpc in RPCS}
    assert services == {
        "IngestionService",
        "AugmentationService",
        "LabelingService",
        "TrainingService",
        "InferenceService",
        "GRPCInferenceService",
    }


def test_an_rpc_missing_from_the_table_needs_admin() -> None:
    assert required_role("/foundry.ingestion.v1.IngestionService/NotYetInTheTable") == Role.ADMIN
    assert required_role("/some.Other/Thing") == Role.ADMIN


def test_the_hierarchy() -> None:
    r, w, s, a = Role.READER, Role.WRITER, Role.SERVICE, Role.ADMIN
    may = {role: {needed for needed in Role if allows(role, needed)} for role in Role}
    assert may == {r: {r}, w: {r, w}, s: {r, w, s}, a: {r, w, s, a}}
    assert set(GRANTS) == set(Role)


def test_reads_are_reader_and_destructive_calls_admin() -> None:
    for path, role in REQUIRED_ROLE.items():
        method = path.rsplit("/", 1)[1]
        if method.startswith(("Get", "List", "Watch")):
            assert role == Role.READER, path
        if method.startswith(("Delete", "Unload", "Erase")):
            assert role == Role.ADMIN, path
