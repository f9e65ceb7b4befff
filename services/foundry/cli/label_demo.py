"""The demo's labeling stage: pre-labels from the trained model, weak-supervision rules and the
gold tags on a slice of WNUT-17's test split, aggregated, with agreement and reliability."""

from __future__ import annotations

import time

from rich.console import Console

from foundry.api.common.v1 import example_pb2, refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2, rules_pb2
from foundry.cli.label_views import agreement_tables, reliability_plot, reliability_table, rules_table
from foundry.client.labeling import LabelingClient
from foundry.runtime.settings import Settings

#: a slice of the WNUT-17 test split, sized so that the stage takes seconds
DEMO_ITEMS = 300
#: weak supervision over WNUT-17 types, declared as data: gazetteers ("|"-separated) and a regex
GAZETTEERS = {
    "location": "London|Paris|New York|NYC|LA|Los Angeles|Chicago|Boston|Texas|California|Florida|Canada|"
    "UK|USA|America|Australia|India|China|Japan|Germany|France|Mexico|Toronto|Seattle|Atlanta|Miami|Dallas",
    "corporation": "Google|Apple|Microsoft|Amazon|Facebook|Twitter|Netflix|Sony|Samsung|Nike|Disney|CNN|BBC|"
    "Starbucks|Walmart|Uber|Tesla",
    "product": "iPhone|iPad|Android|Xbox|PS4|Windows|Instagram|YouTube|Snapchat",
}
PLACE_AFTER_PREPOSITION = r"\b(?:in|at|from|to) ([A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?)\b"


def demo_rules() -> list[rules_pb2.LabelingRule]:
    rules = [
        rules_pb2.LabelingRule(
            name=f"gazetteer-{label}",
            label=label,
            gazetteer=rules_pb2.GazetteerRule(entries=entries.split("|"), case_sensitive=True),
        )
        for label, entries in GAZETTEERS.items()
    ]
    regex = rules_pb2.RegexRule(pattern=PLACE_AFTER_PREPOSITION, group=1, case_sensitive=True)
    return [
        *rules,
        rules_pb2.LabelingRule(name="regex-place-after-preposition", label="location", regex=regex),
    ]


def _demo_project(client: LabelingClient, dataset_version_id: str, model_version: str) -> project_pb2.Project:
    request = pb.CreateProjectRequest(
        name=f"wnut17-demo-{model_version[:8]}-{int(time.time())}",
        dataset=refs_pb2.DatasetRef(name="wnut17", version_id=dataset_version_id),
        splits=[example_pb2.SPLIT_TEST],
        annotators=["gold"],
        guidelines="WNUT-17 emerging entities: person, location, corporation, product, creative-work, group.",
    )
    return client.create_project(request).project


def run_demo_stage(
    settings: Settings, console: Console, dataset_version_id: str, model_name: str, model_version: str
) -> None:
    """Pre-label a slice of WNUT-17's test split with the trained model, add weak-supervision rules
    and the gold tags (as the annotator `gold`), aggregate with Dawid-Skene, and report agreement
    and each source's reliability (tables and a plot)."""
    console.rule("8. label: pre-labels, rules and gold aggregated, agreement (labeling service)")
    started = time.perf_counter()
    with LabelingClient(settings) as client:
        project = _demo_project(client, dataset_version_id, model_version)
        pid = project.project_id
        tasks = client.next_tasks(pb.NextTasksRequest(project_id=pid, annotator="gold", limit=DEMO_ITEMS))
        items = [t.item_id for t in tasks.tasks]
        console.print(
            f"project {project.name} ({pid}): {len(items)} of {project.progress.items} test sentences"
        )
        with console.status(f"pre-labeling {len(items)} sentences with {model_name}@{model_version[:12]}..."):
            labeled = client.pre_label(
                pb.PreLabelRequest(
                    project_id=pid,
                    model=refs_pb2.ModelRef(name=model_name, version_id=model_version),
                    item_ids=items,
                )
            )
        console.print(f"{labeled.annotator}: {labeled.items_labeled} sentences pre-labeled")
        gold = [
            project_pb2.Annotation(item_id=t.item_id, annotator="gold", revision=1, tags=t.example.tags)
            for t in tasks.tasks
        ]
        stored = client.submit_annotations(pb.SubmitAnnotationsRequest(project_id=pid, annotations=gold))
        console.print(f"gold: {stored.stored} sentences (the dataset's own tags)")
        applied = client.apply_rules(pb.ApplyRulesRequest(project_id=pid, rules=demo_rules(), store=True))
        console.print(rules_table(applied))
        everyone = pb.AnnotatorFilter(include_models=True, include_rules=True)
        first, _ = client.aggregate_all(
            pb.AggregateRequest(project_id=pid, method=pb.AGGREGATION_METHOD_DAWID_SKENE, filter=everyone)
        )
        console.print(reliability_table(first))
        response = client.agreement(pb.AgreementRequest(project_id=pid, filter=everyone))
    for table in agreement_tables(response):
        console.print(table)
    plot = reliability_plot(first, settings.home_dir / "demo" / "labeling_reliability.png")
    console.print(f"reliability plot: {plot}")
    console.print(f"labeling stage: {time.perf_counter() - started:.1f}s")
