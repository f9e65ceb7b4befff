"""Near-duplicate detection benchmark: Foundry's MinHash LSH against datasketch's `MinHashLSH`.

Data: WNUT-17 sentences (tokens joined by spaces, from `examples/data/wnut17/`) followed by
perturbed copies of randomly chosen sentences until `n` records: character substitutions,
insertions, deletions and swaps, word deletions, insertions, replacements and swaps, at rates
drawn per copy from a log-uniform range, so that some copies stay above the Jaccard threshold
and some fall below it; 5% of the copies are exact.

Both methods use the same shingling (character 5-grams of code points, the whole text when it is
shorter), the same number of permutations and threshold, and so the same bands x rows. Each runs
end to end (shingling, signatures, index and query) in a fresh process, so that its peak RSS is
its own; Foundry runs three times in its process and the median run counts (datasketch, at
~20x the time, runs once):

- Foundry: `NearDuplicateIndex.add` then `.pairs()` (every reported pair verified), by default
  with cluster completion (pairs inside verified clusters of up to 64 texts are verified too),
  and, as separate rows, without it and with the shingles spilled to disk;
- datasketch: per record `MinHash.update_batch` over the shingles as UTF-8 bytes (its default
  sha1_hash32), `MinHashLSH.insert` of every record, then `query` of every record; its
  candidates are what it reports.

True pairs are the pairs of the union of both candidate sets whose exact Jaccard of shingle sets
(Python sets of the shingle strings) reaches the threshold; each method's recall is the share of
them it reports. Two datasketch runs with different seeds share only ~70% of their candidates on
this data, so raw candidate sets are not compared.

Run standalone: `python bench/ingest_dedup.py [--quick] [--records N]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

WNUT17_DIR = Path(__file__).resolve().parents[1] / "examples" / "data" / "wnut17"
SHINGLE_SIZE = 5
NUM_PERM = 128
THRESHOLD = 0.8
QUICK_RECORDS = 40_000
FULL_RECORDS = 200_000
#: datasketch is timed on at most this many records (its throughput is computed from them)
DATASKETCH_MAX_RECORDS = 200_000
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


# --- data ---------------------------------------------------------------------------------------


def wnut17_sentences(directory: Path = WNUT17_DIR) -> list[str]:
    """Every sentence of the WNUT-17 CoNLL files (`*.conll`, `*.annotated`), tokens joined by spaces."""
    sentences: list[str] = []
    paths = sorted(directory.glob("*.conll")) + sorted(directory.glob("*.annotated"))
    for path in paths:
        tokens: list[str] = []
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                if not line.strip():
                    if tokens:
                        sentences.append(" ".join(tokens))
                    tokens = []
                elif not line.startswith("-DOCSTART-"):
                    tokens.append(fields[0].strip() if len(fields) > 1 else line.split()[0])
        if tokens:
            sentences.append(" ".join(tokens))
    if not sentences:
        raise FileNotFoundError(f"no WNUT-17 CoNLL files under {directory}")
    return sentences


def perturb(text: str, edits: int, rng: np.random.Generator, vocabulary: Sequence[str]) -> str:
    """`text` after `edits` random character or word edits."""
    for _ in range(edits):
        if not text:
            return vocabulary[int(rng.integers(len(vocabulary)))]
        op = int(rng.integers(8))
        at = int(rng.integers(len(text)))
        if op == 0:  # substitute a character
            text = text[:at] + _LETTERS[int(rng.integers(26))] + text[at + 1 :]
        elif op == 1:  # insert a character
            text = text[:at] + _LETTERS[int(rng.integers(26))] + text[at:]
        elif op == 2:  # delete a character
            text = text[:at] + text[at + 1 :]
        elif op == 3 and at + 1 < len(text):  # swap two characters
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        else:
            words = text.split(" ")
            w = int(rng.integers(len(words)))
            if op == 4 and len(words) > 1:  # delete a word
                del words[w]
            elif op == 5:  # insert a word
                words.insert(w, vocabulary[int(rng.integers(len(vocabulary)))])
            elif op == 6 and w + 1 < len(words):  # swap two words
                words[w], words[w + 1] = words[w + 1], words[w]
            else:  # replace a word
                words[w] = vocabulary[int(rng.integers(len(vocabulary)))]
            text = " ".join(words)
    return text


def wnut17_with_perturbed_copies(n: int, seed: int = 17) -> list[str]:
    """`n` records: the WNUT-17 sentences, then perturbed copies of random ones (deterministic).

    A copy gets `max(1, Poisson(rate * len))` edits, `rate` log-uniform in [0.002, 0.06] edits
    per character (about half the copies stay within Jaccard 0.8 of their original); 5% of the
    copies are exact.
    """
    sentences = wnut17_sentences()
    rng = np.random.default_rng(seed)
    vocabulary = sorted({word for sentence in sentences for word in sentence.split()})
    records = sentences[:n]
    low, high = math.log(0.002), math.log(0.06)
    while len(records) < n:
        original = sentences[int(rng.integers(len(sentences)))]
        if rng.random() < 0.05:
            records.append(original)
            continue
        rate = math.exp(rng.uniform(low, high))
        records.append(perturb(original, max(1, int(rng.poisson(rate * len(original)))), rng, vocabulary))
    return records


def shingle_set(text: str, size: int = SHINGLE_SIZE) -> frozenset[str]:
    """The character shingles of `text` as strings (the whole text when shorter than `size`)."""
    if len(text) < size:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i : i + size] for i in range(len(text) - size + 1))


# --- the two methods, each in its own process ---------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(
    n: int,
    seed: int,
    shingle_size: int,
    num_perm: int,
    threshold: float,
    spill: bool = False,
    complete_up_to: int = 64,
    repeats: int = 3,
) -> dict[str, Any]:
    """Foundry's index end to end on the first `n` records, `repeats` times in one fresh
    process; the median run's time counts (the machine may be shared)."""
    import tempfile

    from foundry.domain.dedup.near import NearDuplicateIndex

    texts = wnut17_with_perturbed_copies(n, seed)
    baseline = _rss_mb()
    timings: list[tuple[float, float]] = []
    peak = 0.0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="foundry-bench-") as spill_dir:
            started = time.perf_counter()
            index = NearDuplicateIndex(
                shingle_size=shingle_size,
                num_perm=num_perm,
                threshold=threshold,
                spill_dir=spill_dir if spill else None,
                complete_up_to=complete_up_to,
            )
            index.add(texts)
            indexed = time.perf_counter()
            pairs = index.pairs(keep_candidates=True)
            timings.append((indexed - started, time.perf_counter() - indexed))
            index.close()
        peak = peak if timings[1:] else _peak_rss_mb()  # of the first run alone
    index_s, pairs_s = sorted(timings, key=sum)[len(timings) // 2]  # the median run
    assert pairs.candidate_pairs is not None
    candidates = pairs.candidate_pairs
    scale = np.int64(n)
    return {
        "seconds": index_s + pairs_s,
        "runs_s": [round(sum(t), 3) for t in timings],
        "index_s": index_s,
        "pairs_s": pairs_s,
        "bands": index.bands,
        "rows": index.rows,
        "candidates": candidates[0] * scale + candidates[1],
        "reported": pairs.left * scale + pairs.right,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
    }


def run_datasketch(n: int, seed: int, shingle_size: int, num_perm: int, threshold: float) -> dict[str, Any]:
    """datasketch's MinHash + MinHashLSH end to end on the first `n` records (fresh process)."""
    from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]

    texts = wnut17_with_perturbed_copies(n, seed)
    baseline = _rss_mb()
    started = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    signatures = []
    for key, text in enumerate(texts):
        minhash = MinHash(num_perm=num_perm)
        minhash.update_batch([shingle.encode("utf-8") for shingle in shingle_set(text, shingle_size)])
        lsh.insert(key, minhash)
        signatures.append(minhash)
    found: list[int] = []
    for key, minhash in enumerate(signatures):
        found.extend(
            key * n + other if key < other else other * n + key
            for other in lsh.query(minhash)
            if other != key
        )
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "bands": lsh.b,
        "rows": lsh.r,
        "candidates": np.unique(np.array(found, dtype=np.int64)),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _in_fresh_process(function: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(function, *args, **kwargs).result()
    return result


# --- scoring -------------------------------------------------------------------------------------


def true_pairs(texts: Sequence[str], encoded: np.ndarray, threshold: float, shingle_size: int) -> np.ndarray:
    """The pairs (encoded `left * n + right`) whose exact Jaccard of shingle sets reaches `threshold`."""
    n = len(texts)
    cache: dict[int, frozenset[str]] = {}

    def shingles(i: int) -> frozenset[str]:
        found = cache.get(i)
        if found is None:
            found = cache[i] = shingle_set(texts[i], shingle_size)
        return found

    keep = []
    for code in encoded.tolist():
        a, b = shingles(code // n), shingles(code % n)
        union = len(a | b)
        keep.append(union == 0 or len(a & b) >= threshold * union)
    return encoded[np.array(keep, dtype=np.bool_)] if len(encoded) else encoded


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(len(np.intersect1d(found, truth)) / len(truth)) if len(truth) else 1.0


#: Foundry's configurations in the table: (name, run_ours keyword arguments); the first is the headline
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("foundry", {}),
    ("foundry, LSH pairs only (no cluster completion)", {"complete_up_to": 0}),
    ("foundry, shingles spilled to disk", {"spill": True}),
)


def _row(
    name: str, records: int, run: dict[str, Any], scored: dict[str, Any], truth: np.ndarray
) -> dict[str, Any]:
    reported = scored["reported"]
    return {
        "method": name,
        "records": records,
        "seconds": round(run["seconds"], 2),
        "records_per_s": round(records / run["seconds"]),
        "bands_x_rows": f"{run['bands']}x{run['rows']}",
        "candidates": len(scored["candidates"]),
        "reported_pairs": len(reported),
        "true_pair_recall": round(_recall(reported, truth), 4),
        "unverified_reported": len(np.setdiff1d(reported, truth)),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "rss_over_input_mb": round(run["peak_rss_mb"] - run["baseline_rss_mb"], 1),
    }


def run_dedup_benchmark(
    n_records: int,
    quick: bool,
    *,
    seed: int = 17,
    shingle_size: int = SHINGLE_SIZE,
    num_perm: int = NUM_PERM,
    threshold: float = THRESHOLD,
    datasketch_max_records: int = DATASKETCH_MAX_RECORDS,
) -> dict[str, Any]:
    """Run Foundry (`VARIANTS`) and datasketch on `n_records` records (datasketch on at most
    `datasketch_max_records`: then recall is scored on those records, and datasketch's
    throughput computed from them) and score them.

    Returns {"rows": the table rows, "figures": headline figures}; `quick` only tags the figures.
    """
    config = (seed, shingle_size, num_perm, threshold)
    ds_records = min(n_records, datasketch_max_records)
    subsampled = ds_records < n_records
    timed = [_in_fresh_process(run_ours, n_records, *config, **kw) for _, kw in VARIANTS]
    scored = timed
    if subsampled:
        scored = [_in_fresh_process(run_ours, ds_records, *config, **kw) for _, kw in VARIANTS]
    theirs = _in_fresh_process(run_datasketch, ds_records, *config)
    theirs["reported"] = theirs["candidates"]  # datasketch reports its candidates as they are
    texts = wnut17_with_perturbed_copies(ds_records, seed)
    union = theirs["candidates"]
    for run in scored:
        union = np.union1d(union, np.union1d(run["candidates"], run["reported"]))
    truth = true_pairs(texts, union, threshold, shingle_size)
    rows = [
        _row(name, n_records, run, score, truth)
        for (name, _), run, score in zip(VARIANTS, timed, scored, strict=True)
    ]
    ds_name = "datasketch MinHash + MinHashLSH" + (f" (on {ds_records} records)" if subsampled else "")
    rows.append(_row(ds_name, ds_records, theirs, theirs, truth))
    ours, ds = rows[0], rows[-1]
    figures = {
        "dedup_quick": quick,
        "dedup_records": n_records,
        "dedup_true_pairs": len(truth),
        "dedup_speedup_vs_datasketch": round(ours["records_per_s"] / ds["records_per_s"], 2),
        "dedup_true_pair_recall": ours["true_pair_recall"],
        "dedup_true_pair_recall_datasketch": ds["true_pair_recall"],
        "dedup_true_pair_recall_lsh_only": rows[1]["true_pair_recall"],
        "dedup_records_per_s": ours["records_per_s"],
        "dedup_datasketch_records_per_s": ds["records_per_s"],
        "dedup_unverified_reported": ours["unverified_reported"],
        "dedup_peak_rss_mb": ours["peak_rss_mb"],
        "dedup_datasketch_subsampled": subsampled,
    }
    return {"rows": rows, "figures": figures}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    columns = list(rows[0])
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RECORDS} records")
    parser.add_argument("--records", type=int, default=0, help=f"records (default {FULL_RECORDS})")
    args = parser.parse_args(argv)
    n = args.records or (QUICK_RECORDS if args.quick else FULL_RECORDS)
    result = run_dedup_benchmark(n, args.quick)
    print(format_table(result["rows"]))
    print(json.dumps(result["figures"]))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
