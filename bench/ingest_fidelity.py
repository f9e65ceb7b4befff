"""Ingestion fidelity on public corpora: is every source row accounted for, every entity kept?

    python bench/ingest_fidelity.py --conll2003 DIR --resume DIR --sst2 DIR

The corpora are not in git (bench/README.md says where they come from): CoNLL-2003 English NER
(eng.train, eng.testa, eng.testb; IOB1, -DOCSTART- lines), a Chinese character-level NER corpus
(Resume NER layout: train/dev/test.char.bmes; BIOES) and SST-2 (train/dev/test.tsv, "label<TAB>
sentence", no header). Each corpus goes through the real ingestion pipeline (read → normalize →
validate → quality → PII → de-duplication → split; `IngestPipeline`, nothing stored) with its
files' own splits and the default recipe except `drop-row` (so that bad rows are counted, not
fatal). The table shows, per corpus: rows in the source files (counted here, independently of
the readers: CoNLL sentences, non-blank TSV lines), rows stored, rows dropped by step and reason,
entities per type in the source (counted from the tags here) and stored, and whether rows in =
stored + dropped and the entities of the stored rows equal the source's. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundry.domain.formats import (
    ConllOptions,
    CsvOptions,
    FieldMapping,
    Format,
    SourceSpec,
    TagScheme,
    ValidationOptions,
    ValidationPolicy,
)
from foundry.ingestion.options import IngestRecipe
from foundry.ingestion.pipeline import IngestPipeline, SourceFile
from foundry.runtime.examples import Split, Task


@dataclass(frozen=True)
class Corpus:
    name: str
    task: Task
    source: SourceSpec
    files: list[tuple[Path, Split]]


def corpora(args: argparse.Namespace) -> list[Corpus]:
    out = []
    if args.conll2003:
        d = Path(args.conll2003)
        files = [
            (d / "eng.train", Split.TRAIN),
            (d / "eng.testa", Split.VALIDATION),
            (d / "eng.testb", Split.TEST),
        ]
        spec = SourceSpec(format=Format.CONLL, conll=ConllOptions(scheme=TagScheme.IOB1))
        out.append(Corpus("CoNLL-2003 (en)", Task.TOKEN_CLASSIFICATION, spec, files))
    if args.resume:
        d = Path(args.resume)
        files = [(d / f"{s}.char.bmes", split) for s, split in _SPLITS]
        spec = SourceSpec(format=Format.CONLL, conll=ConllOptions(scheme=TagScheme.BIOES))
        out.append(Corpus("Chinese char NER", Task.TOKEN_CLASSIFICATION, spec, files))
    if args.sst2:
        d = Path(args.sst2)
        files = [(d / f"{s}.tsv", split) for s, split in _SPLITS]
        spec = SourceSpec(
            format=Format.TSV,
            csv=CsvOptions(has_header=False),
            field_mapping=FieldMapping(label_field="0", text_field="1"),
        )
        out.append(Corpus("SST-2 (tsv)", Task.TEXT_CLASSIFICATION, spec, files))
    return out


_SPLITS = (("train", Split.TRAIN), ("dev", Split.VALIDATION), ("test", Split.TEST))


# --- what the source holds, counted here ---------------------------------------------------------


def entities(tags: list[str]) -> list[str]:
    """Entity types of a tag sequence in IOB1, IOB2 or BIOES (a new entity starts at B-/S-, or at
    I-/M-/E- after a tag of another type or O)."""
    out, previous = [], "O"
    for tag in tags:
        prefix, _, type_ = tag.partition("-")
        if tag == "O" or not type_:
            previous = "O"
            continue
        _, _, before = previous.partition("-")
        if prefix in ("B", "S") or before != type_ or previous.startswith(("E-", "S-")):
            out.append(type_)
        previous = tag
    return out


def source_counts(corpus: Corpus) -> tuple[int, Counter[str]]:
    rows, types = 0, Counter[str]()
    for path, _ in corpus.files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if corpus.source.format is Format.CONLL:
            for block in re.split(r"\n\s*\n", text):
                lines = [line.split() for line in block.splitlines() if line.strip()]
                lines = [cols for cols in lines if cols[0] != "-DOCSTART-"]
                if lines:
                    rows += 1
                    types.update(entities([cols[-1] for cols in lines]))
        else:
            rows += sum(1 for line in text.splitlines() if line.strip())
    return rows, types


# --- through the pipeline --------------------------------------------------------------------------


def run(corpus: Corpus) -> dict[str, Any]:
    recipe = IngestRecipe(validation=ValidationOptions(policy=ValidationPolicy.DROP_ROW))
    pipeline = IngestPipeline(corpus.task, corpus.source, recipe, pii_secret=b"bench")
    result = pipeline.run([SourceFile(path, path.name, split) for path, split in corpus.files])
    try:
        dropped: Counter[str] = Counter()
        for report in result.reports:
            for reason, count in report.drop_reasons.items():
                dropped[f"{report.step}:{reason}"] += count
        stored_types: Counter[str] = Counter()
        for split in result.statistics["splits"]:
            stored_types.update(split.get("entity_type_counts", {}))
        return {"stored": result.rows, "dropped": dict(dropped), "stored_types": dict(stored_types)}
    finally:
        result.cleanup()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The corpus folders (bench/ingest.py takes them too)."""
    parser.add_argument("--conll2003", help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--resume", help="folder with train/dev/test.char.bmes (Chinese char NER)")
    parser.add_argument("--sst2", help="folder with train/dev/test.tsv (label<TAB>sentence)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    rows = fidelity_rows(parser.parse_args())
    print_table(rows)
    print(json.dumps({"fidelity": rows}, ensure_ascii=False))


def fidelity_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per corpus named in `args`."""
    rows = []
    for corpus in corpora(args):
        source_rows, source_types = source_counts(corpus)
        out = run(corpus)
        dropped = sum(out["dropped"].values())
        stored_types = Counter(out["stored_types"])
        row = {
            "corpus": corpus.name,
            "source_rows": source_rows,
            "stored": out["stored"],
            "dropped": dropped,
            "dropped_by_reason": out["dropped"],
            "entities_source": dict(sorted(source_types.items())),
            "entities_stored": dict(sorted(stored_types.items())),
            "rows_reconcile": source_rows == out["stored"] + dropped,
        }
        if corpus.task is Task.TOKEN_CLASSIFICATION:
            row["entities_reconcile"] = source_types == stored_types
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'corpus':<18} {'source rows':>11} {'stored':>8} {'dropped':>8}  reconciles  dropped by reason"
    print(header)
    print("-" * len(header))
    for r in rows:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(r["dropped_by_reason"].items())) or "-"
        ok = "yes" if r["rows_reconcile"] else f"NO ({r['source_rows'] - r['stored'] - r['dropped']:+d})"
        print(
            f"{r['corpus']:<18} {r['source_rows']:>11,} {r['stored']:>8,} {r['dropped']:>8,}  {ok:<10}  {reasons}"
        )
    for r in rows:
        if "entities_reconcile" not in r:
            continue
        print(f"\n{r['corpus']}: entities per type (source → stored)")
        for type_ in sorted(set(r["entities_source"]) | set(r["entities_stored"])):
            a, b = r["entities_source"].get(type_, 0), r["entities_stored"].get(type_, 0)
            print(f"  {type_:<8} {a:>8,} → {b:>8,}{'' if a == b else f'  ({b - a:+,})'}")
        print(f"  entities reconcile: {'yes' if r['entities_reconcile'] else 'NO'}")


if __name__ == "__main__":
    sys.exit(main())
