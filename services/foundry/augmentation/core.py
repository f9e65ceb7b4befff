"""The augmentation service's core: recipes applied to dataset versions, previews, the operator
catalogue. It knows nothing of gRPC (the servicer converts).

`augment` reads the whole input version into memory (verified shard by shard), runs the recipe
(`engine.Augmenter`) and writes the output as a new content-addressed version whose manifest
names the input as its parent and holds the recipe (with defaults filled in) and the counts of
every operator and filter. The same recipe on the same version gives the same version id, and
nothing new is written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from foundry.augmentation.engine import Augmenter, AugmentResult, Progress, output_rows
from foundry.augmentation.inference_client import InferenceJudge
from foundry.augmentation.inline import check_inline
from foundry.augmentation.llm_client import ChatClient
from foundry.augmentation.operators import OPERATORS, Family, OperatorContext
from foundry.augmentation.operators.ner import SynonymSourceParams
from foundry.augmentation.recipe import Recipe
from foundry.augmentation.settings import AugmentationSettings
from foundry.augmentation.synonyms import EmbeddingNeighbours, Lexicon, SynonymSource, wordnet_lexicon
from foundry.domain.base_models import get_base_model, materialize
from foundry.domain.stats import StatisticsCollector
from foundry.runtime import datasets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError, NotFoundError
from foundry.runtime.examples import Example, Task
from foundry.runtime.manifest import DatasetManifest, validate_dataset_name
from foundry.runtime.objectstore import ObjectStore

MAX_PREVIEW_SOURCES = 100
DEFAULT_PREVIEW_SOURCES = 5


@dataclass(frozen=True)
class OperatorInfo:
    name: str
    description: str
    tasks: tuple[Task, ...]
    family: Family
    params_schema: dict[str, Any]
    available: bool


@dataclass
class AugmentOutcome:
    manifest: DatasetManifest
    result: AugmentResult
    created: bool
    wall_time_s: float


class AugmentationCore:
    def __init__(self, store: ObjectStore, settings: AugmentationSettings) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._sources: dict[tuple[Any, ...], SynonymSource] = {}
        self.llm = (
            ChatClient(
                settings.llm_base_url,
                settings.llm_model,
                api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
                timeout_s=settings.llm_timeout_s,
                max_retries=settings.llm_max_retries,
                retry_backoff_s=settings.llm_retry_backoff_s,
                max_concurrency=settings.llm_max_concurrency,
            )
            if settings.llm_base_url
            else None
        )

    # --- what operators may use ------------------------------------------------------------------

    def context(self) -> OperatorContext:
        return OperatorContext(synonyms=self.synonyms, llm=self.llm, base_model=self.base_model_folder)

    def base_model_folder(self, ref: str) -> Any:
        name, _, version_id = ref.partition("@")
        manifest = get_base_model(self.store, name, version_id)
        return materialize(self.store, manifest, self.settings.cache_dir / "base-models")

    def synonyms(self, params: SynonymSourceParams) -> SynonymSource:
        if params.source == "wordnet":
            return wordnet_lexicon()
        if params.source == "lexicon":
            if not params.lexicon_key:
                raise InvalidArgumentError(
                    "source lexicon needs lexicon_key",
                    violations=[FieldViolation("params.lexicon_key", "required with source lexicon")],
                )
            build: Callable[[], SynonymSource]
            key: tuple[Any, ...] = ("lexicon", params.lexicon_key, self.store.stat(params.lexicon_key).sha256)
            build = lambda: Lexicon.from_json(self.store.get_bytes(params.lexicon_key), "params.lexicon_key")  # noqa: E731
        else:
            if not params.base_model:
                raise InvalidArgumentError(
                    "source embedding needs base_model",
                    violations=[FieldViolation("params.base_model", "required with source embedding")],
                )
            key = ("embedding", params.base_model, params.top_k, params.min_similarity)
            build = lambda: EmbeddingNeighbours.from_model_folder(  # noqa: E731
                self.base_model_folder(params.base_model),
                top_k=params.top_k,
                min_similarity=params.min_similarity,
            )
        with self._lock:
            if key not in self._sources:
                self._sources[key] = build()
            return self._sources[key]

    def list_operators(self, task: Task | None = None) -> list[OperatorInfo]:
        context = self.context()
        return [
            OperatorInfo(
                name=cls.name,
                description=cls.description,
                tasks=tuple(sorted(cls.tasks)),
                family=cls.family,
                params_schema=cls.params_type.model_json_schema(),
                available=cls.available(context),
            )
            for cls in OPERATORS.values()
            if task is None or task in cls.tasks
        ]

    # --- reads -------------------------------------------------------------------------------------

    def get(self, name: str, version_id: str = "") -> DatasetManifest:
        return datasets.resolve_version(self.store, name, version_id)

    def _augmenter(self, recipe: Recipe, task: Task) -> Augmenter:
        recipe.check()
        operators = recipe.build(task, self.context())
        spec = recipe.acceptance.consistency
        if spec is None:
            return Augmenter(recipe, operators)
        judge = InferenceJudge(self.settings, spec, task)
        judge.check()
        return Augmenter(recipe, operators, judge=judge.agreements)

    # --- writes ------------------------------------------------------------------------------------

    def augment(
        self,
        name: str,
        version_id: str,
        recipe: Recipe,
        output_name: str = "",
        progress: Progress | None = None,
    ) -> AugmentOutcome:
        started = time.perf_counter()
        recipe.check()
        target = validate_dataset_name(output_name or name)
        manifest = self.get(name, version_id)
        augmenter = self._augmenter(recipe, manifest.task)
        examples = list(datasets.iter_examples(self.store, manifest))
        result = augmenter.run(examples, progress=progress)
        rows = output_rows(examples, result, recipe.include_originals)
        prefix = f"datasets/{target}/versions/"
        existed = {p[len(prefix) : -1] for p in self.store.list_prefixes(prefix)}
        written = datasets.write_dataset_version(
            self.store,
            target,
            manifest.task,
            rows,
            label_set=manifest.label_set,
            parents=[manifest.ref],
            recipe={**recipe.record(), "parent": str(manifest.ref)},
            statistics=statistics(rows, result, len(augmenter.sources(examples))),
            normalization=manifest.normalization,
        )
        return AugmentOutcome(
            written, result, written.version_id not in existed, time.perf_counter() - started
        )

    def preview(
        self,
        recipe: Recipe,
        *,
        name: str = "",
        version_id: str = "",
        example_ids: Sequence[str] = (),
        examples: Sequence[Example] = (),
        task: Task | None = None,
        limit: int = 0,
    ) -> AugmentResult:
        """Apply `recipe` to a few examples; store nothing."""
        limit = limit or DEFAULT_PREVIEW_SOURCES
        if not 1 <= limit <= MAX_PREVIEW_SOURCES:
            raise InvalidArgumentError(
                f"limit must be within [1, {MAX_PREVIEW_SOURCES}]",
                violations=[FieldViolation("limit", "out of range")],
            )
        if examples:
            if task is None:
                raise InvalidArgumentError(
                    "inline examples need their task", violations=[FieldViolation("task", "required")]
                )
            check_inline(examples, task)
            pool = list(examples)
            sources = pool[:limit]
        else:
            if not name:
                raise InvalidArgumentError(
                    "give a dataset or inline examples",
                    violations=[FieldViolation("dataset.name", "required")],
                )
            manifest = self.get(name, version_id)
            task = manifest.task
            pool = list(datasets.iter_examples(self.store, manifest))
            if example_ids:
                by_id = {e.id: e for e in pool}
                missing = [i for i in example_ids if i not in by_id]
                if missing:
                    raise NotFoundError(
                        f"no example {missing[0]!r} in {manifest.ref}", reason="EXAMPLE_NOT_FOUND"
                    )
                sources = [by_id[i] for i in example_ids][:MAX_PREVIEW_SOURCES]
            else:
                splits = set(recipe.splits)
                sources = [e for e in pool if e.split in splits][:limit]
        augmenter = self._augmenter(recipe, task)
        # inventories from the whole pool, as Augment would build them
        return augmenter.run(pool, sources=sources, inventory=augmenter.sources(pool) or pool)


def statistics(rows: Sequence[Example], result: AugmentResult, sources: int) -> dict[str, Any]:
    collector = StatisticsCollector()
    for example in rows:
        collector.add(example)
    return {
        "steps": result.reports,
        "splits": collector.per_split(),
        "augmentation": {
            "source_examples": sources,
            "created": len(result.created),
            "created_by_operator": result.created_by_operator,
            "rejected_by_reason": dict(sorted(result.acceptance.drop_reasons.items())),
        },
    }
