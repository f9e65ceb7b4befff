"""De-duplication: shingles, MinHash, LSH parameters, exact verification, conflicts, leakage.

The near-duplicate tests check against ground truth computed independently with Python sets of
shingle strings: an exact all-pairs similarity join (prefix filtering) over a few thousand
WNUT-17 sentences and perturbed copies of them.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from foundry.domain.dedup import (
    NearDuplicateIndex,
    content_key,
    label_signature,
    optimal_params,
    shingle_sets,
)
from foundry.domain.dedup.clusters import components, pairs_within
from foundry.domain.dedup.content import ChatDedupScope
from foundry.domain.dedup.lsh import band_keys, candidate_pairs
from foundry.domain.dedup.minhash import MinHasher
from foundry.domain.dedup.shingles import ShingleSets
from foundry.domain.dedup.store import ShingleStore
from foundry.ingestion.dedup import Deduplicator, DedupResult
from foundry.ingestion.options import ConflictPolicy, DedupOptions
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Task

WNUT17 = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17" / "wnut17train.conll"
K = 5
THRESHOLD = 0.8


def shingles(text: str, size: int = K) -> set[str]:
    if len(text) < size:
        return {text} if text else set()
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def wnut_sentences() -> list[str]:
    sentences, tokens = [], []
    for line in WNUT17.read_text(encoding="utf-8").splitlines():
        if line.strip():
            tokens.append(line.split("\t")[0])
        elif tokens:
            sentences.append(" ".join(tokens))
            tokens = []
    return sentences


def perturbed_records(count: int, seed: int = 3) -> list[str]:
    """WNUT-17 sentences and copies with 1 to 8 character or word edits."""
    rng = random.Random(seed)
    sentences = wnut_sentences()
    records = sentences[: count // 2]
    while len(records) < count:
        text = rng.choice(records[: count // 2])
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6, 8])):
            at = rng.randrange(len(text))
            op = rng.randrange(4)
            if op == 0:
                text = text[:at] + rng.choice("abcxyz") + text[at + 1 :]
            elif op == 1:
                text = text[:at] + rng.choice("abcxyz") + text[at:]
            elif op == 2 and len(text) > 1:
                text = text[:at] + text[at + 1 :]
            else:
                words = text.split(" ")
                words.insert(rng.randrange(len(words) + 1), rng.choice(sentences).split(" ")[0])
                text = " ".join(words)
        records.append(text)
    return records


def exact_similar_pairs(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    """All pairs with Jaccard >= threshold: an exact all-pairs join with prefix filtering."""
    sets = [shingles(t) for t in texts]
    frequency: dict[str, int] = defaultdict(int)
    for s in sets:
        for item in s:
            frequency[item] += 1
    postings: dict[str, list[int]] = defaultdict(list)
    found: set[tuple[int, int]] = set()
    for i, s in enumerate(sets):
        ordered = sorted(s, key=lambda item: (frequency[item], item))
        prefix = len(ordered) - math.ceil(threshold * len(ordered)) + 1
        candidates = {j for item in ordered[:prefix] for j in postings[item]}
        for item in ordered[:prefix]:
            postings[item].append(i)
        for j in candidates:
            if len(sets[i] & sets[j]) >= threshold * len(sets[i] | sets[j]):
                found.add((j, i))
    return found


@pytest.fixture(scope="module")
def records() -> list[str]:
    return perturbed_records(3000)


@pytest.fixture(scope="module")
def truth(records: list[str]) -> set[tuple[int, int]]:
    return exact_similar_pairs(records, THRESHOLD)


# --- shingles, signatures, LSH parameters -----------------------------------------------------------


def test_shingle_sets_match_python_sets() -> None:
    texts = ["", "abc", "abcde", "hello world hello world", "naïve café ☕ 東京タワー", "aaaaaaaaaa", "x" * 3]
    sets = shingle_sets(texts, K)
    offsets = sets.offsets
    for i, text in enumerate(texts):
        values = sets.values[offsets[i] : offsets[i + 1]]
        assert len(values) == len(shingles(text)), text
        assert (np.diff(values.astype(np.int64)) > 0).all()  # sorted and distinct


def test_equal_shingles_hash_equally_across_texts_and_batches() -> None:
    first = shingle_sets(["the quick brown fox"], K)
    second = shingle_sets(["a", "the quick brown fox", ""], K)
    assert first.values.tolist() == second.values[second.offsets[1] : second.offsets[2]].tolist()
    assert second.counts.tolist() == [1, 15, 0]


def test_permutations_are_datasketchs() -> None:
    datasketch = pytest.importorskip("datasketch")
    reference = datasketch.MinHash(num_perm=128, seed=1)
    ours = MinHasher(128, seed=1)
    assert ours.a.tolist() == reference.permutations[0].tolist()
    assert ours.b.tolist() == reference.permutations[1].tolist()


@pytest.mark.parametrize(("threshold", "num_perm"), [(0.8, 128), (0.5, 128), (0.9, 256), (0.7, 64)])
def test_optimal_params_match_datasketch(threshold: float, num_perm: int) -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    assert optimal_params(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_signature_agreement_estimates_jaccard() -> None:
    rng = np.random.default_rng(0)
    universe = rng.choice(2**32, size=400, replace=False).astype(np.uint32)
    hasher = MinHasher(256, seed=5)
    for shared in (50, 120, 180):  # |A| = |B| = 200, J = shared / (400 - shared)
        a = np.sort(universe[:200])
        b = np.sort(np.concatenate([universe[:shared], universe[200 : 400 - shared]]))
        sets = ShingleSets(np.concatenate([a, b]), np.array([200, 200], dtype=np.int64))
        signatures = hasher.signatures(sets)
        estimate = float((signatures[0] == signatures[1]).mean())
        assert estimate == pytest.approx(shared / (400 - shared), abs=0.09)


def test_large_sets_fold_in_chunks() -> None:
    text = "".join(chr(0x4E00 + i) for i in range(20_000))  # 19,996 distinct shingles
    small = MinHasher(64).signatures(shingle_sets([text, text[:5000]], K))
    assert small.shape == (2, 64)
    assert (small[0] <= small[1]).all()  # the minimum over a superset is no larger


def test_identical_signatures_share_every_band() -> None:
    signatures = MinHasher(128).signatures(shingle_sets(["same text here", "same text here", "other"], K))
    keys = band_keys(signatures, 9, 13)
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).any()
    left, right = candidate_pairs(keys, np.arange(3, dtype=np.int64))
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 1)]


# --- exact verification and near-duplicate pairs --------------------------------------------------------


def test_store_jaccard_is_exact_on_crafted_pairs() -> None:
    base = "Empire State Building = ESB . Pretty bad storm here last evening ."
    texts = [base, base.replace("storm", "storms"), base[:30], base + " " + base, "unrelated words entirely"]
    store = ShingleStore()
    store.append(shingle_sets(texts, K))
    left = np.array([0, 0, 0, 0, 1], dtype=np.int64)
    right = np.array([1, 2, 3, 4, 2], dtype=np.int64)
    got = store.jaccard(left, right)
    want = [jaccard(texts[a], texts[b]) for a, b in zip(left, right, strict=True)]
    assert got.tolist() == pytest.approx(want, abs=1e-12)


def test_near_duplicates_of_known_jaccard() -> None:
    base = "@paulwalk It 's the view from where I 'm living for two weeks . Empire State Building = ESB ."
    close = base.replace("two weeks", "two week")  # J ~ 0.93
    far = base[:40] + " and something else entirely different from the rest"  # J ~ 0.3
    texts = [base, close, far, base]
    assert jaccard(base, close) > 0.9 and jaccard(base, far) < 0.5
    index = NearDuplicateIndex(shingle_size=K, threshold=THRESHOLD)
    index.add(texts)
    pairs = index.pairs()
    assert set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True)) == {(0, 1), (0, 3), (1, 3)}
    assert pairs.jaccard.tolist() == pytest.approx([jaccard(base, close), 1.0, jaccard(base, close)])


def test_no_pair_below_threshold_and_recall_against_brute_force(
    records: list[str], truth: set[tuple[int, int]]
) -> None:
    assert len(truth) > 300
    index = NearDuplicateIndex(shingle_size=K, threshold=THRESHOLD, complete_up_to=0)
    for start in range(0, len(records), 700):  # several batches
        index.add(records[start : start + 700])
    pairs = index.pairs()
    reported = set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))
    assert reported <= truth  # every reported pair is a true pair: nothing unverified
    for a, b, similarity in zip(pairs.left[:500], pairs.right[:500], pairs.jaccard[:500], strict=True):
        assert similarity == pytest.approx(jaccard(records[a], records[b]), abs=1e-12)
    recall = len(reported) / len(truth)
    assert recall > 0.6  # 9 bands x 13 rows: a pair at J = 0.8 shares a band with p ~ 0.4

    completed = NearDuplicateIndex(shingle_size=K, threshold=THRESHOLD)  # cluster completion on
    completed.add(records)
    more = completed.pairs()
    more_reported = set(zip(more.left.tolist(), more.right.tolist(), strict=True))
    assert reported <= more_reported <= truth
    assert len(more_reported) / len(truth) > recall


def test_spilled_store_gives_the_same_pairs(records: list[str], tmp_path: Path) -> None:
    in_memory, spilled = NearDuplicateIndex(), NearDuplicateIndex(spill_dir=tmp_path)
    in_memory.add(records[:1500])
    spilled.add(records[:1500])
    a, b = in_memory.pairs(), spilled.pairs()
    assert a.left.tolist() == b.left.tolist() and a.right.tolist() == b.right.tolist()
    spilled.close()


def test_components_match_a_plain_union_find() -> None:
    rng = np.random.default_rng(1)
    left, right = rng.integers(0, 500, 300), rng.integers(0, 500, 300)
    parent = list(range(500))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    roots = components(500, left, right)
    assert roots.tolist() == [find(x) for x in range(500)]
    inner_left, inner_right = pairs_within(roots, 2, 1000)
    assert all(
        find(a) == find(b) and a < b for a, b in zip(inner_left.tolist(), inner_right.tolist(), strict=True)
    )


# --- content keys ------------------------------------------------------------------------------------------


def test_content_key_and_label_signature_per_task() -> None:
    text = Example("1", text="  Hello\n  world ", label="greet")
    assert content_key(text) == "Hello world" and label_signature(text) == "greet"
    multi = Example("2", text="x", labels=["b", "a", "b"])
    assert label_signature(multi) == "a|b"
    ner = Example("3", tokens=["New", "York"], tags=["B-loc", "I-loc"])
    assert content_key(ner) == "New York" and label_signature(ner) == "B-loc I-loc"
    chat = Example(
        "4",
        messages=[
            ChatMessage("user", "hi  there"),
            ChatMessage("assistant", "hello"),
            ChatMessage("user", "bye"),
        ],
    )
    assert content_key(chat) == "user: hi there\nassistant: hello\nuser: bye"
    assert label_signature(chat) == ""
    assert content_key(chat, ChatDedupScope.PROMPT) == "user: hi there"
    assert label_signature(chat, ChatDedupScope.PROMPT) == "assistant: hello\nuser: bye"
    assert label_signature(Example("5", text="unlabeled")) == ""


# --- the Deduplicator ------------------------------------------------------------------------------------------


def run(rows: list[tuple[str, str, str]], options: DedupOptions | None = None, batch: int = 2) -> DedupResult:
    dedup = Deduplicator(options or DedupOptions(), Task.TEXT_CLASSIFICATION)
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        dedup.add_batch(
            list(range(start, start + len(chunk))),
            [key for key, _, _ in chunk],
            [label for _, label, _ in chunk],
            [split for _, _, split in chunk],
        )
    return dedup.finish()


SENTENCE = "Pretty bad storm here last evening , the power went out twice"


def test_exact_and_near_duplicates_are_dropped_with_reasons() -> None:
    rows = [
        (SENTENCE, "a", "unassigned"),
        ("something else entirely , about football", "b", "unassigned"),
        (SENTENCE, "a", "unassigned"),  # exact
        (SENTENCE.replace("twice", "twice!"), "a", "unassigned"),  # near (J ~ 0.93)
        (SENTENCE, "a", "unassigned"),  # exact
    ]
    result = run(rows)
    assert result.keep.tolist() == [True, True, False, False, False]
    assert result.report.drop_reasons == {"exact_duplicate": 2, "near_duplicate": 1}
    assert result.duplicate_of.tolist() == [-1, -1, 0, 0, 0]
    assert result.cluster_id.tolist() == [0, -1, 0, 0, 0]
    assert result.exact_groups == 1 and result.near_clusters == 1
    assert result.exact_samples[0].members == (0, 2, 4) and result.near_samples[0].members == (0, 3)
    assert result.report.rows_in == 5 and result.report.rows_out == 2
    assert len(result.near_pairs) == 1 and result.near_pairs.left.tolist() == [0]
    assert [v.reason for v in result.report.violations] == [
        "exact_duplicate",
        "near_duplicate",
        "exact_duplicate",
    ]


def test_keeping_near_duplicates_still_clusters_them() -> None:
    rows = [
        (SENTENCE, "a", "unassigned"),
        (SENTENCE + " !", "a", "unassigned"),
        ("other text here", "b", "unassigned"),
    ]
    result = run(rows, DedupOptions(remove_near=False))
    assert result.keep.all()
    assert result.cluster_id.tolist() == [0, 0, -1]


def test_exact_off_keeps_copies_in_one_cluster() -> None:
    rows = [(SENTENCE, "a", "unassigned"), (SENTENCE, "a", "unassigned")]
    result = run(rows, DedupOptions(exact=False, near=False))
    assert result.keep.all() and result.cluster_id.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("policy", "keep", "reasons"),
    [
        (ConflictPolicy.KEEP_MAJORITY, [0, 1, 0, 0, 1], {"label_conflict": 1, "exact_duplicate": 2}),
        (ConflictPolicy.KEEP_FIRST, [1, 0, 0, 0, 1], {"label_conflict": 2, "exact_duplicate": 1}),
        (ConflictPolicy.DROP_ALL, [0, 0, 0, 0, 1], {"label_conflict": 4}),
        (ConflictPolicy.KEEP_ALL, [1, 1, 0, 0, 1], {"exact_duplicate": 2}),
    ],
)
def test_label_conflicts_per_policy(policy: ConflictPolicy, keep: list[int], reasons: dict[str, int]) -> None:
    rows = [
        (SENTENCE, "B", "unassigned"),
        (SENTENCE, "A", "unassigned"),
        (SENTENCE, "A", "unassigned"),
        (SENTENCE, "", "unassigned"),  # unlabeled: conflicts with nothing
        ("a different sentence altogether", "C", "unassigned"),
    ]
    result = run(rows, DedupOptions(conflict_policy=policy))
    assert result.keep.astype(int).tolist() == keep
    assert dict(result.report.drop_reasons) == reasons
    assert result.conflicts == 1
    conflict = result.conflict_samples[0]
    assert conflict.labels == (("B", 1), ("A", 2)) and conflict.rows == 4
    assert conflict.kept_rows == tuple(i for i in range(4) if keep[i])


def test_majority_tie_keeps_the_label_seen_first() -> None:
    rows = [(SENTENCE, "B", "unassigned"), (SENTENCE, "A", "unassigned")]
    assert run(rows, DedupOptions(conflict_policy=ConflictPolicy.KEEP_MAJORITY)).keep.tolist() == [
        True,
        False,
    ]


def test_label_conflicts_are_reported_not_dropped_by_default() -> None:
    rows = [(SENTENCE, "B", "unassigned"), (SENTENCE, "A", "unassigned"), (SENTENCE, "A", "unassigned")]
    result = run(rows, DedupOptions(exact=False, near=False))
    assert result.keep.tolist() == [True, True, True] and result.conflicts == 1
    result = run(rows)
    assert result.keep.tolist() == [True, True, False]
    assert dict(result.report.drop_reasons) == {"exact_duplicate": 1}


def test_leakage_across_existing_splits() -> None:
    rows = [
        (SENTENCE, "a", "train"),
        ("unrelated text number one", "a", "train"),
        (SENTENCE, "a", "test"),  # exact copy of a train row
        (SENTENCE + " .", "a", "validation"),  # near copy
        ("unrelated text number two", "a", "unassigned"),
    ]
    # without decontamination every row stays, and the leakage counts them all
    leak = run(rows, DedupOptions(decontaminate=False)).leakage
    assert leak.clusters == 1 and leak.rows == 3
    assert leak.by_splits == {"test~train": 1, "test~validation": 1, "train~validation": 1}
    assert leak.rows_by_splits == {"test~train": 2, "test~validation": 2, "train~validation": 2}
    assert leak.exact_pairs == 1 and leak.near_pairs == 2
    assert {split for _, split in leak.samples[0]} == {"train", "test", "validation"}
    # by default the train row leaves; what remains is the test~validation leak
    result = run(rows)
    assert result.keep.tolist() == [False, True, True, True, True]
    assert dict(result.report.drop_reasons) == {"eval_duplicate": 1}
    leak = result.leakage
    assert leak.clusters == 1 and leak.rows == 2
    assert leak.by_splits == {"test~validation": 1} and leak.rows_by_splits == {"test~validation": 2}
    assert leak.exact_pairs == 0 and leak.near_pairs == 1


def test_rows_in_any_order_and_determinism() -> None:
    texts = perturbed_records(400, seed=9)
    ids = list(range(len(texts)))
    random.Random(2).shuffle(ids)
    first = Deduplicator(DedupOptions(), Task.TEXT_CLASSIFICATION)
    first.add_batch(ids, [texts[i] for i in ids], [""] * len(ids), ["unassigned"] * len(ids))
    second = Deduplicator(DedupOptions(), Task.TEXT_CLASSIFICATION)
    second.add_batch(range(len(texts)), texts, [""] * len(texts), ["unassigned"] * len(texts))
    a, b = first.finish(), second.finish()
    assert a.row_ids.tolist() == list(range(len(texts)))
    assert a.keep.tolist() == b.keep.tolist() and a.cluster_id.tolist() == b.cluster_id.tolist()
    assert b.to_dict(lambda row: f"ex-{row}")["rows_out"] == int(b.keep.sum()) == b.summary()["rows_out"]


def test_bad_input() -> None:
    dedup = Deduplicator(DedupOptions(), Task.TEXT_CLASSIFICATION)
    dedup.add_batch([0, 0], ["a", "b"], ["", ""], ["unassigned", "unassigned"])
    with pytest.raises(ValueError, match="unique"):
        dedup.finish()
    with pytest.raises(ValueError, match="unknown split"):
        Deduplicator(DedupOptions(), Task.CHAT).add_batch([0], ["a"], [""], ["dev"])
    with pytest.raises(InvalidArgumentError):
        Deduplicator(DedupOptions(threshold=0.0), Task.CHAT)


def test_empty_and_short_inputs() -> None:
    assert len(Deduplicator(DedupOptions(), Task.TEXT_CLASSIFICATION).finish()) == 0
    result = run(
        [("", "", "unassigned"), ("ab", "", "unassigned"), ("ab", "", "unassigned"), ("", "", "unassigned")]
    )
    assert result.keep.tolist() == [True, True, False, False]
