"""`foundry augment DATASET --recipe recipe.yaml`, and the demo's augmentation stage."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from foundry.api.augmentation.v1 import augmentation_service_pb2 as pb
from foundry.api.augmentation.v1 import recipe_pb2
from foundry.api.common.v1 import refs_pb2
from foundry.client.augmentation import AugmentationClient
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.settings import Settings

#: the demo's NER recipe (Dai and Adel 2020's four operators), the one the README shows
NER_RECIPE = Path(__file__).resolve().parents[3] / "examples" / "recipes" / "ner.yaml"


def parse_recipe(data: dict[str, Any], where: str = "--recipe") -> recipe_pb2.Recipe:
    recipe = recipe_pb2.Recipe()
    try:
        json_format.ParseDict(data, recipe)
    except json_format.ParseError as exc:
        raise InvalidArgumentError(
            f"bad recipe: {exc}", violations=[FieldViolation(where, str(exc))]
        ) from exc
    return recipe


def load_recipe(path: Path) -> recipe_pb2.Recipe:
    """A recipe from YAML or JSON (the fields of `foundry.augmentation.v1.Recipe`)."""
    return parse_recipe(yaml.safe_load(path.read_text()) or {})


def dataset_ref(spec: str) -> refs_pb2.DatasetRef:
    name, _, version_id = spec.partition("@")
    return refs_pb2.DatasetRef(name=name, version_id=version_id)


def augment(
    settings: Settings, console: Console, dataset: str, recipe: recipe_pb2.Recipe, output_name: str = ""
) -> pb.AugmentResponse:
    """Call Augment, with a live progress line while the service works."""
    request = pb.AugmentRequest(dataset=dataset_ref(dataset), recipe=recipe, output_name=output_name)
    with (
        AugmentationClient(settings) as client,
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar,
        concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool,
    ):
        bar.add_task(f"augmenting {dataset} ({len(recipe.operators)} operators)", total=None)
        return pool.submit(client.augment, request).result()


def summary(console: Console, response: pb.AugmentResponse) -> None:
    version = response.dataset_version
    table = Table(title="augmentation: counts per operator and filter")
    for column in ("step", "applied", "changed", "created", "rejected (by reason)"):
        table.add_column(column, justify="left" if column in ("step", "rejected (by reason)") else "right")
    for step in response.steps:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(step.drop_reasons.items()))
        table.add_row(
            step.step, f"{step.rows_in:,}", f"{step.rows_modified:,}", f"{step.rows_created:,}", reasons
        )
    console.print(table)
    parent = version.parents[0] if version.parents else None
    counts = version.counts
    console.print(
        f"{'new' if response.created else 'existing'} version {version.name}@{version.version_id[:12]}… "
        f"(parent {parent.name + '@' + parent.version_id[:12] + '…' if parent else '-'}): "
        f"train {counts.train:,}, validation {counts.validation:,}, test {counts.test:,}"
    )


def run_demo_stage(settings: Settings, console: Console, dataset_version_id: str) -> str:
    """Augment the demo's WNUT-17 version with the NER recipe; return the new version id."""
    console.rule("5. augment WNUT-17 (mention and token replacement, synonyms, segment shuffle)")
    response = augment(
        settings, console, f"wnut17@{dataset_version_id}", load_recipe(NER_RECIPE), "wnut17-aug"
    )
    summary(console, response)
    return response.dataset_version.version_id
