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
entities per type in the source (counted from the tags here), stored and in the dropped rows
(matched by each stored row's provenance: file and line), and whether rows in = stored + dropped,
entities in = stored + dropped, and every stored row holds the entities of its source row. The
last line is JSON.
"""

from __future__ import annotations

import argparse
import json
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


RowKey = tuple[str, int]  # (file name, 1-based line where the row starts)


def source_rows(corpus: Corpus) -> dict[RowKey, Counter[str]]:
    """Every source row, by where it starts, with its entities per type (empty for classification)."""
    rows: dict[RowKey, Counter[str]] = {}
    for path, _ in corpus.files:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if corpus.source.format is not Format.CONLL:
            rows.update({(path.name, n): Counter() for n, line in enumerate(lines, 1) if line.strip()})
            continue
        start, tags = 0, []
        for n, line in enumerate([*lines, ""], 1):
            cols = line.split()
            if cols and cols[0] != "-DOCSTART-":
                start, tags = start or n, [*tags, cols[-1]]
            elif not cols and tags:
                rows[(path.name, start)] = Counter(entities(tags))
                start, tags = 0, []
    return rows


# --- through the pipeline --------------------------------------------------------------------------


def run(corpus: Corpus) -> dict[str, Any]:
    """The pipeline's counts, and the stored rows by where they start with their entities."""
    recipe = IngestRecipe(validation=ValidationOptions(policy=ValidationPolicy.DROP_ROW))
    pipeline = IngestPipeline(corpus.task, corpus.source, recipe, pii_secret=b"bench")
    result = pipeline.run([SourceFile(path, path.name, split) for path, split in corpus.files])
    try:
        dropped: Counter[str] = Counter()
        for report in result.reports:
            for reason, count in report.drop_reasons.items():
                dropped[f"{report.step}:{reason}"] += count
        stored: dict[RowKey, Counter[str]] = {}
        for example in result.examples():
            key = (example.provenance.source, example.provenance.line or 0)
            stored[key] = Counter(entities(example.tags or [])) if example.tags else Counter()
        return {"stored_rows": result.rows, "dropped": dict(dropped), "stored": stored}
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
    """One row per corpus named in `args`. Entities reconcile when source = stored + dropped per
    type, and every stored row holds exactly the entities of the source row it came from."""
    rows = []
    for corpus in corpora(args):
        source = source_rows(corpus)
        out = run(corpus)
        stored: dict[RowKey, Counter[str]] = out["stored"]
        dropped = sum(out["dropped"].values())
        source_types = sum(source.values(), Counter[str]())
        stored_types = sum(stored.values(), Counter[str]())
        dropped_types = sum((types for key, types in source.items() if key not in stored), Counter[str]())
        unmatched = [key for key in stored if key not in source]
        altered = [key for key, types in stored.items() if key in source and source[key] != types]
        row = {
            "corpus": corpus.name,
            "source_rows": len(source),
            "stored": out["stored_rows"],
            "dropped": dropped,
            "dropped_by_reason": out["dropped"],
            "entities_source": dict(sorted(source_types.items())),
            "entities_stored": dict(sorted(stored_types.items())),
            "entities_dropped": dict(sorted(dropped_types.items())),
            "rows_unmatched": len(unmatched),
            "rows_altered": len(altered),
            "rows_reconcile": len(source) == out["stored_rows"] + dropped and not unmatched,
        }
        if corpus.task is Task.TOKEN_CLASSIFICATION:
            row["entities_reconcile"] = source_types == stored_types + dropped_types and not altered
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
        print(f"\n{r['corpus']}: entities per type (source = stored + in dropped rows)")
        for type_ in sorted(set(r["entities_source"]) | set(r["entities_stored"])):
            a, b = r["entities_source"].get(type_, 0), r["entities_stored"].get(type_, 0)
            c = r["entities_dropped"].get(type_, 0)
            print(f"  {type_:<8} {a:>8,} = {b:>8,} + {c:>7,}{'' if a == b + c else '  MISMATCH'}")
        print(
            f"  stored rows altered: {r['rows_altered']}, stored rows with no source row: "
            f"{r['rows_unmatched']}; entities reconcile: {'yes' if r['entities_reconcile'] else 'NO'}"
        )


if __name__ == "__main__":
    sys.exit(main())
