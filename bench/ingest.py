"""Ingestion benchmark: the whole pipeline's throughput and memory on WNUT-17 and its perturbed
copies, and near-duplicate detection against datasketch.

    python bench/ingest.py            # 200k records through the pipeline, 200k for dedup
    python bench/ingest.py --quick    # smaller, within 3 minutes on 2 cores

Part 1 runs IngestionCore.ingest (read CoNLL → normalize → validate → quality → PII → exact and
near de-duplication → split → Parquet shards and manifest written to a real S3 server started
here) in a fresh process per size, and reports records/s and peak RSS at two sizes (memory should
stay flat as the input grows). Part 2 is bench/ingest_dedup.py: our MinHash LSH against datasketch
MinHashLSH, end to end, with the recall of the true near-duplicate pairs. Part 3, when corpus
folders are given (--conll2003, --resume, --sst2), is bench/ingest_fidelity.py: rows and entities
in the source files against rows stored and dropped by reason. The last line is one JSON object
with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ingest_dedup
import ingest_fidelity

ROOT = Path(__file__).resolve().parents[1]
WNUT17 = ROOT / "examples" / "data" / "wnut17"


def wnut17_sentences() -> list[list[tuple[str, str]]]:
    sentences = []
    for name in ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"):
        for block in re.split(r"\n\s*\n", (WNUT17 / name).read_text(encoding="utf-8").strip()):
            rows = [line.split("\t") for line in block.splitlines() if line.strip()]
            sentences.append([(r[0], r[-1]) for r in rows if len(r) >= 2])
    return [s for s in sentences if s]


def write_corpus(path: Path, n: int, seed: int = 7) -> int:
    """WNUT-17 sentences, then perturbed copies (token edits on O tokens, tags kept) up to `n`."""
    base = wnut17_sentences()
    rng = np.random.default_rng(seed)
    vocabulary = [tok for s in base for tok, tag in s if tag == "O"]
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            sentence = base[i % len(base)]
            if i >= len(base):
                sentence = list(sentence)
                edits = int(rng.integers(1, max(2, len(sentence) // 2)))
                for _ in range(edits):
                    j = int(rng.integers(len(sentence)))
                    if sentence[j][1] == "O":
                        sentence[j] = (vocabulary[int(rng.integers(len(vocabulary)))], "O")
            out.write("\n".join(f"{tok}\t{tag}" for tok, tag in sentence) + "\n\n")
    return n


def run_pipeline(n: int) -> dict[str, Any]:
    """One size, in this (fresh) process: an S3 server, the corpus, one ingestion."""
    from foundry.domain.formats import Format, SourceSpec
    from foundry.ingestion.core import IngestionCore, IngestSpec
    from foundry.ingestion.options import IngestRecipe, PiiOptions
    from foundry.ingestion.pipeline import SourceFile
    from foundry.ingestion.settings import IngestionSettings
    from foundry.runtime.examples import Task
    from foundry.runtime.objectstore import ObjectStore
    from foundry.runtime.s3server import SeaweedS3Server

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.conll"
        write_corpus(corpus, n)
        with SeaweedS3Server(Path(tmp) / "s3", access_key="bench", secret_key="bench-secret-key") as server:
            settings = IngestionSettings(
                s3_endpoint=server.endpoint,
                s3_access_key="bench",
                s3_secret_key="bench-secret-key",
                s3_bucket="bench",
                ingest_work_dir=Path(tmp),
            )
            store = ObjectStore.from_settings(settings)
            store.ensure_bucket()
            core = IngestionCore(store, settings)
            spec = IngestSpec(
                "bench",
                Task.TOKEN_CLASSIFICATION,
                SourceSpec(format=Format.CONLL),
                IngestRecipe(pii=PiiOptions(enabled=True)),
            )
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            started = time.perf_counter()
            outcome = core.ingest(
                spec, [SourceFile(corpus, "corpus.conll")], bytes_read=corpus.stat().st_size
            )
            elapsed = time.perf_counter() - started
    steps = {r.step: r for r in outcome.reports}
    return {
        "records": n,
        "rows_out": outcome.manifest.num_rows,
        "seconds": round(elapsed, 2),
        "records_per_s": round(n / elapsed),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_mb": round(rss_before),
        "dedup_dropped": steps["dedup"].rows_dropped,
        "step_seconds": {name: round(r.wall_time_s, 2) for name, r in steps.items()},
    }


def in_fresh_process(n: int) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(run_pipeline, n).result()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (within 3 minutes)")
    ingest_fidelity.add_arguments(parser)
    args = parser.parse_args()
    sizes = (25_000, 50_000) if args.quick else (100_000, 200_000)
    dedup_records = ingest_dedup.QUICK_RECORDS if args.quick else 200_000

    runs = [in_fresh_process(n) for n in sizes]
    print("whole ingestion pipeline (CoNLL → … → Parquet shards in S3), fresh process per size")
    print(
        f"{'records':>9} {'rows out':>9} {'seconds':>8} {'records/s':>10} {'peak RSS MB':>12}  step seconds"
    )
    for r in runs:
        steps = " ".join(f"{k}={v}" for k, v in r["step_seconds"].items())
        print(
            f"{r['records']:>9,} {r['rows_out']:>9,} {r['seconds']:>8} {r['records_per_s']:>10,} "
            f"{r['peak_rss_mb']:>12,}  {steps}"
        )
    growth = (
        (runs[1]["peak_rss_mb"] - runs[0]["peak_rss_mb"]) / (runs[1]["records"] - runs[0]["records"]) * 1e6
    )
    print(f"peak RSS growth: {growth / 1024:.2f} KB per extra record\n")

    dedup = ingest_dedup.run_dedup_benchmark(dedup_records, args.quick)
    print(
        f"near-duplicate detection, {dedup_records:,} records, end to end (shingling, signatures, index, query)"
    )
    print(ingest_dedup.format_table(dedup["rows"]))
    figures = dedup["figures"]
    if args.conll2003 or args.resume or args.sst2:
        print("\nfidelity on public corpora (real pipeline, drop-row, files' own splits)")
        ingest_fidelity.print_table(ingest_fidelity.fidelity_rows(args))
    print(
        json.dumps(
            {
                "records_per_s": runs[-1]["records_per_s"],
                "dedup_speedup_vs_datasketch": figures["dedup_speedup_vs_datasketch"],
                "dedup_true_pair_recall": figures["dedup_true_pair_recall"],
                "dedup_true_pair_recall_datasketch": figures["dedup_true_pair_recall_datasketch"],
                "peak_rss_mb": runs[-1]["peak_rss_mb"],
            }
        )
    )


if __name__ == "__main__":
    main()
