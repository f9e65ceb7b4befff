"""Roles and the one table of the role each RPC needs.

Roles: `reader` < `writer` < `admin`, and `service` (what one Foundry service sends when it calls
another): a service token may do what a writer may, and the RPCs marked `service` (none today:
no RPC is reserved to services yet; the role exists so that one can be, without giving services
admin). An admin may do everything.

- reader: reads, lists, previews that store nothing, predictions (Predict, Generate, OIP v2).
- writer: whatever stores or starts work (Upload, SubmitJob, CreateProject, Augment, LoadModel, ...).
- admin: what removes, disrupts or widens the platform for everyone (UnloadModel, ImportBaseModel,
  the deletions).

`REQUIRED_ROLE` names every RPC of every service by its full method path; a test fails when the
generated descriptors in `foundry.api` hold an RPC it lacks. An RPC that is not in the table needs
admin (fail closed). Health and reflection are exempt from auth altogether (`AUTH_EXEMPT_PREFIXES`
in `runtime.interceptors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    SERVICE = "service"
    ADMIN = "admin"


#: what a token of each role may call: the roles whose RPCs it may call
GRANTS: Mapping[Role, frozenset[Role]] = MappingProxyType(
    {
        Role.READER: frozenset({Role.READER}),
        Role.WRITER: frozenset({Role.READER, Role.WRITER}),
        Role.SERVICE: frozenset({Role.READER, Role.WRITER, Role.SERVICE}),
        Role.ADMIN: frozenset(Role),
    }
)

R, W, S, A = Role.READER, Role.WRITER, Role.SERVICE, Role.ADMIN

_BY_SERVICE: dict[str, dict[str, Role]] = {
    "foundry.ingestion.v1.IngestionService": {
        "Upload": W,
        "ImportObject": W,
        "GetDataset": R,
        "ListDatasets": R,
        "ReadExamples": R,
        "Preview": R,  # runs the parser on a sample; stores nothing
        "DeleteDatasetVersion": A,
        "EraseSubject": A,
        "CollectGarbage": A,
    },
    "foundry.augmentation.v1.AugmentationService": {
        "Augment": W,
        "PreviewAugment": R,  # stores nothing
        "ListOperators": R,
    },
    "foundry.labeling.v1.LabelingService": {
        "CreateProject": W,
        "GetProject": R,
        "ListProjects": R,
        "NextTasks": R,
        "SubmitAnnotations": W,
        "ImportAnnotations": W,
        "PreLabel": W,  # stores the model's votes
        "Aggregate": R,
        "Agreement": R,
        "ApplyRules": W,  # may store the rules' votes
        "FindLabelIssues": W,  # may create re-annotation tasks
        "SelectForLabeling": W,  # may make priority items
        "ExportProject": W,
    },
    "foundry.training.v1.TrainingService": {
        "SubmitJob": W,
        "GetJob": R,
        "WatchJob": R,
        "CancelJob": W,
        "ListJobs": R,
        "GetModel": R,
        "ListModels": R,
        "ImportBaseModel": A,  # a base model every job may train from
        "ListBaseModels": R,
        "DeleteModelVersion": A,
    },
    "foundry.inference.v1.InferenceService": {
        "LoadModel": W,
        "UnloadModel": A,  # takes a model away from every caller
        "Predict": R,
        "ListModels": R,
        "Generate": R,
    },
    "inference.GRPCInferenceService": {  # Open Inference Protocol v2
        "ServerLive": R,
        "ServerReady": R,
        "ModelReady": R,
        "ServerMetadata": R,
        "ModelMetadata": R,
        "ModelInfer": R,
    },
}

#: the role each RPC needs, by full method path ("/package.Service/Method")
REQUIRED_ROLE: Mapping[str, Role] = MappingProxyType(
    {
        f"/{service}/{method}": role
        for service, methods in _BY_SERVICE.items()
        for method, role in methods.items()
    }
)


def required_role(method: str) -> Role:
    """The role `method` ("/package.Service/Method") needs; admin when the table lacks it."""
    return REQUIRED_ROLE.get(method, Role.ADMIN)


def allows(role: Role, needed: Role) -> bool:
    """Whether a token of `role` may call an RPC that needs `needed`."""
    return needed in GRANTS[role]
