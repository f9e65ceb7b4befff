"""The augmentation recipe (`foundry.augmentation.v1.Recipe`) as frozen dataclasses, checked
against the operator registry and the dataset's task before anything runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from foundry.augmentation.operators import OPERATORS, Operator, OperatorContext
from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split, Task

PRODUCER = "augmentation"
MAX_MULTIPLIER = 100
MAX_ATTEMPTS = 50
EVAL_SPLITS = frozenset({Split.VALIDATION, Split.TEST})


@dataclass(frozen=True)
class OperatorStep:
    operator: str
    params: dict[str, Any] = field(default_factory=dict)
    probability: float = 1.0


@dataclass(frozen=True)
class ConsistencyFilter:
    model_name: str
    model_version_id: str = ""
    variant: str = "fp32"
    min_agreement: float = 1.0


@dataclass(frozen=True)
class ResponseQualityFilter:
    min_response_chars: int = 0
    max_response_chars: int = 0
    max_repeated_line_ratio: float | None = None
    drop_refusals: bool = True


@dataclass(frozen=True)
class AcceptanceFilters:
    drop_exact_duplicates: bool = True
    drop_near_duplicates: bool = True
    near_duplicate_threshold: float = 0.9
    require_valid_tags: bool = True
    consistency: ConsistencyFilter | None = None
    response_quality: ResponseQualityFilter | None = None


@dataclass(frozen=True)
class Recipe:
    operators: tuple[OperatorStep, ...] = ()
    multiplier: int = 1
    max_attempts: int = 5
    splits: tuple[Split, ...] = (Split.TRAIN,)
    allow_eval_splits: bool = False
    include_originals: bool = True
    seed: int = 0
    acceptance: AcceptanceFilters = field(default_factory=AcceptanceFilters)

    def check(self) -> None:
        """Raise `InvalidArgumentError` listing every bad field that needs no task to judge."""
        bad: list[FieldViolation] = []
        if not self.operators:
            bad.append(FieldViolation("recipe.operators", "at least one operator is required"))
        for i, step in enumerate(self.operators):
            if step.operator not in OPERATORS:
                bad.append(
                    FieldViolation(
                        f"recipe.operators[{i}].operator",
                        f"unknown operator {step.operator!r}; known: {', '.join(sorted(OPERATORS))}",
                    )
                )
            if not 0.0 <= step.probability <= 1.0:
                bad.append(FieldViolation(f"recipe.operators[{i}].probability", "must be within [0, 1]"))
        if not 1 <= self.multiplier <= MAX_MULTIPLIER:
            bad.append(FieldViolation("recipe.multiplier", f"must be within [1, {MAX_MULTIPLIER}]"))
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            bad.append(FieldViolation("recipe.max_attempts", f"must be within [1, {MAX_ATTEMPTS}]"))
        eval_asked = sorted(s.value for s in set(self.splits) & EVAL_SPLITS)
        if eval_asked and not self.allow_eval_splits:
            bad.append(
                FieldViolation(
                    "recipe.splits",
                    f"{', '.join(eval_asked)} would be augmented: set allow_eval_splits to insist",
                )
            )
        threshold = self.acceptance.near_duplicate_threshold
        if not 0.0 < threshold <= 1.0:
            bad.append(FieldViolation("recipe.acceptance.near_duplicate_threshold", "must be within (0, 1]"))
        consistency = self.acceptance.consistency
        if consistency is not None:
            if not consistency.model_name:
                bad.append(FieldViolation("recipe.acceptance.consistency.model.name", "required"))
            if not 0.0 <= consistency.min_agreement <= 1.0:
                bad.append(
                    FieldViolation("recipe.acceptance.consistency.min_agreement", "must be within [0, 1]")
                )
        if bad:
            names = ", ".join(v.field for v in bad[:3])
            raise InvalidArgumentError(f"invalid recipe ({names})", reason="INVALID_RECIPE", violations=bad)

    def build(self, task: Task, context: OperatorContext) -> list[Operator[Any]]:
        """The recipe's operators, parameters validated, for a dataset of `task`."""
        self.check()
        built: list[Operator[Any]] = []
        for i, step in enumerate(self.operators):
            cls = OPERATORS[step.operator]
            if task not in cls.tasks:
                raise FailedPreconditionError(
                    f"operator {step.operator!r} does not support task {task.value} "
                    f"(it supports {', '.join(sorted(t.value for t in cls.tasks))})",
                    reason="OPERATOR_TASK_UNSUPPORTED",
                    metadata={"operator": step.operator, "task": task.value},
                )
            try:
                params = cls.params_type.model_validate(step.params)
            except ValidationError as exc:
                violations = [
                    FieldViolation(
                        f"recipe.operators[{i}].params." + ".".join(str(p) for p in error["loc"]),
                        "unknown parameter" if error["type"] == "extra_forbidden" else error["msg"],
                    )
                    for error in exc.errors()
                ]
                raise InvalidArgumentError(
                    f"invalid parameters of operator {step.operator!r}: "
                    + ", ".join(v.field.rsplit(".params.", 1)[-1] for v in violations),
                    reason="INVALID_OPERATOR_PARAMS",
                    violations=violations,
                ) from exc
            built.append(cls(params, context))
        return built

    def record(self) -> dict[str, Any]:
        """The recipe as stored in the manifest (defaults filled in; JSON-able)."""
        data = asdict(self)
        data["splits"] = [s.value for s in self.splits]
        return {"producer": PRODUCER, "augment": data}
