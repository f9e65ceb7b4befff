"""Label models over a `VoteTable`: majority vote and Dawid-Skene, vectorized with numpy.

Both return a `LabelModelResult`: the posterior (or vote share) per task and label, the chosen
label per task (ties go to the lowest label code, the schema's order), a confidence per task
(the chosen label's posterior or vote share), and per worker an estimated accuracy.

Dawid-Skene (1979) is EM over one confusion matrix per worker, `pi[w, true, given]`, and class
priors. The votes become one sparse 0/1 matrix `V` (tasks x (worker, given label)) built once,
so each EM step is one sparse-times-dense product over the votes, O(votes x labels), with no
Python loop per vote or per task:

- M-step: `counts[true, (w, l)] = (T' V)`: the posterior mass of each true class over w's votes
  with label l; `pi[w, t, l] ∝ counts + SMOOTHING` (a label a worker never used keeps a finite
  log); priors = mean posterior over the tasks with votes;
- E-step: `log T'[t, i] = log prior[t] + (log pi' V')[t, i]`, normalised with a log-sum-exp; the
  log-likelihood is the sum of the log normalisers.

Posteriors are kept label-major (labels x tasks), so the per-task reductions of the E-step run
along contiguous rows. It starts from the majority vote's shares (as crowd-kit does) and stops
when the log-likelihood improves by less than `tolerance` or after `max_iterations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from foundry.labeling.aggregation.votes import FloatArray, IntArray, VoteTable
from foundry.runtime import cancel

#: added to every confusion count before normalising (keeps logs finite, barely moves estimates)
SMOOTHING = 1e-6


@dataclass(frozen=True)
class LabelModelResult:
    posteriors: FloatArray  # (n_tasks, n_labels), rows sum to 1 (zero rows for tasks without votes)
    winners: IntArray  # (n_tasks,)
    confidence: FloatArray  # (n_tasks,)
    votes: IntArray  # (n_tasks,)
    worker_accuracy: FloatArray  # (n_workers,)
    worker_votes: IntArray  # (n_workers,)
    confusion: FloatArray | None = None  # (n_workers, n_labels true, n_labels given), DS only
    priors: FloatArray | None = None
    iterations: int = 0
    converged: bool = True
    log_likelihood: float = 0.0


def majority_vote(table: VoteTable) -> LabelModelResult:
    """Vote shares; the winner is the most voted label (lowest code on ties); a worker's accuracy
    is their agreement with the winners."""
    counts = table.counts()
    votes = counts.sum(axis=1)
    shares = np.divide(counts, votes[:, None], out=np.zeros_like(counts), where=votes[:, None] > 0)
    winners = shares.argmax(axis=1).astype(np.int64)
    confidence = shares[np.arange(table.n_tasks), winners]
    agree = (table.label == winners[table.task]).astype(np.float64)
    worker_votes = table.votes_per_worker()
    agreed = np.bincount(table.worker, weights=agree, minlength=table.n_workers)
    accuracy = np.divide(agreed, worker_votes, out=np.zeros(table.n_workers), where=worker_votes > 0)
    return LabelModelResult(shares, winners, confidence, votes.astype(np.int64), accuracy, worker_votes)


class _EM:
    """The sparse vote matrix and the two EM steps over label-major posteriors (k x tasks)."""

    def __init__(self, table: VoteTable, votes: IntArray) -> None:
        self.k, self.nw = table.n_labels, table.n_workers
        given = table.worker * self.k + table.label  # (worker, given label) code per vote
        order = np.argsort(table.task, kind="stable")  # CSR rows: the votes of each task
        indptr = np.concatenate(([0], np.cumsum(votes)))
        ones = np.ones(len(table), dtype=np.float64)
        shape = (table.n_tasks, self.nw * self.k)
        self.votes = sp.csr_matrix((ones, given[order], indptr), shape=shape)  # tasks x (w, l)
        self.voted = votes > 0
        self.n_voted = int(self.voted.sum())
        self.all_voted = self.n_voted == table.n_tasks

    def m_step(self, post: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Confusion matrices (w, true, given) and priors from posteriors (k x tasks)."""
        k, nw = self.k, self.nw
        counts = np.asarray(post @ self.votes).reshape(k, nw, k).transpose(1, 0, 2) + SMOOTHING
        confusion = counts / counts.sum(axis=2, keepdims=True)
        priors = post.sum(axis=1) / self.n_voted if self.n_voted else np.full(k, 1.0 / k)
        return confusion, np.clip(priors, 1e-12, None)

    def e_step(self, confusion: FloatArray, priors: FloatArray) -> tuple[FloatArray, float]:
        """Posteriors (k x tasks, zero columns for tasks without votes) and the log-likelihood."""
        log_conf = np.log(confusion).transpose(0, 2, 1).reshape(self.nw * self.k, self.k)  # (w, l) x true
        log_post = np.ascontiguousarray(np.asarray(self.votes @ log_conf).T)  # k x tasks, rows contiguous
        log_post += np.log(priors)[:, None]
        top = np.maximum.reduce(log_post, axis=0)
        post = np.exp(log_post - top)
        total = np.add.reduce(post, axis=0)
        post /= total
        log_norm = top + np.log(total)
        if self.all_voted:
            return post, float(log_norm.sum())
        post[:, ~self.voted] = 0.0
        return post, float(log_norm[self.voted].sum())


def dawid_skene(table: VoteTable, *, max_iterations: int = 100, tolerance: float = 1e-6) -> LabelModelResult:
    """Dawid-Skene EM (see the module doc)."""
    mv = majority_vote(table)
    em = _EM(table, mv.votes)
    post = np.ascontiguousarray(mv.posteriors.T)
    confusion, priors = em.m_step(post)
    log_likelihood = -np.inf
    iterations = 0
    converged = False
    while iterations < max_iterations:
        cancel.check()  # the caller's deadline or cancellation ends a long run
        post, new_ll = em.e_step(confusion, priors)
        confusion, priors = em.m_step(post)
        iterations += 1
        if new_ll - log_likelihood < tolerance:
            log_likelihood = new_ll
            converged = True
            break
        log_likelihood = new_ll
    winners = post.argmax(axis=0).astype(np.int64)
    confidence = post[winners, np.arange(table.n_tasks)]
    diagonal = np.diagonal(confusion, axis1=1, axis2=2)  # (w, k)
    accuracy = diagonal @ priors / priors.sum()
    return LabelModelResult(
        np.ascontiguousarray(post.T),
        winners,
        confidence,
        mv.votes,
        accuracy,
        mv.worker_votes,
        confusion=confusion,
        priors=priors,
        iterations=iterations,
        converged=converged,
        log_likelihood=log_likelihood,
    )
