"""Label issues by confident learning (cleanlab) on out-of-sample probabilities.

Classification: `cleanlab.filter.find_label_issues` (prune by noise rate) picks the likely
errors, `cleanlab.rank.get_label_quality_scores` (self-confidence) scores and ranks them.
Token classification: `cleanlab.token_classification` does the same per token; an item's
quality is its worst token's, and the issue names that token's given tag and the span around it.

cleanlab runs in the calling thread (`n_jobs=1`): its default process pool would fork a server
process that holds gRPC threads, which gRPC does not survive.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Issue:
    index: int  # the item's position in the inputs
    given: int  # label code (class, or the worst token's tag)
    suggested: int
    quality: float
    token: int = -1  # token classification: the worst token


@dataclass(frozen=True)
class IssueReport:
    issues: list[Issue]  # worst first
    checked: int
    noise_rate: float


def class_issues(labels: npt.NDArray[np.int64], probs: FloatArray) -> IssueReport:
    """Likely wrong class labels, worst first."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if labels.size == 0:
        return IssueReport([], 0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flagged = np.asarray(find_label_issues(labels, probs, min_examples_per_class=0, n_jobs=1), dtype=bool)
        quality = np.asarray(get_label_quality_scores(labels, probs), dtype=np.float64)
    order = [int(i) for i in np.argsort(quality, kind="stable") if flagged[i]]
    suggested = probs.argmax(axis=1)
    issues = [Issue(i, int(labels[i]), int(suggested[i]), float(quality[i])) for i in order]
    return IssueReport(issues, int(labels.size), float(flagged.mean()))


def token_issues(labels: Sequence[npt.NDArray[np.int64]], probs: Sequence[FloatArray]) -> IssueReport:
    """Likely wrong token tags; one issue per item (its worst flagged token), worst first."""
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    if not labels:
        return IssueReport([], 0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flagged = find_label_issues(list(labels), list(probs), n_jobs=1)
        _, token_scores = get_label_quality_scores(list(labels), list(probs))
    worst: dict[int, tuple[float, int]] = {}
    for item, token in flagged:
        score = float(np.asarray(token_scores[item])[token])
        if item not in worst or score < worst[item][0]:
            worst[item] = (score, token)
    issues = [
        Issue(item, int(labels[item][token]), int(probs[item][token].argmax()), score, token)
        for item, (score, token) in sorted(worst.items(), key=lambda kv: kv[1][0])
    ]
    return IssueReport(issues, len(labels), len(worst) / len(labels))
