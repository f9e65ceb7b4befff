"""Connected components of a graph given as edge arrays (a vectorised union-find).

Each round hooks the larger root of every edge whose ends have different roots under the
smallest root it is joined to (`np.minimum.at`), then compresses paths by pointer jumping until
every node points at its root. Roots only ever decrease, so there are no cycles; a round at
least halves the unresolved structure on real data, and edges already inside one component are
dropped after each round. A component's root is its smallest node.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


def components(count: int, left: I64, right: I64) -> I64:
    """The root (smallest member) of each of `count` nodes, joined by the edges `left[i]-right[i]`."""
    parent = np.arange(count, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while len(left):
        root_left, root_right = parent[left], parent[right]
        open_edges = root_left != root_right
        if not open_edges.any():
            break
        left, right = left[open_edges], right[open_edges]
        root_left, root_right = root_left[open_edges], root_right[open_edges]
        np.minimum.at(parent, np.maximum(root_left, root_right), np.minimum(root_left, root_right))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def dense_labels(roots: I64) -> tuple[I64, I64]:
    """Number the distinct roots 0, 1, ... in order of their smallest member: (label per node,
    size per label)."""
    unique, labels, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    del unique  # sorted roots are the smallest members, in order
    return labels.astype(np.int64), sizes.astype(np.int64)


def pairs_within(roots: I64, min_size: int, max_size: int) -> tuple[I64, I64]:
    """Every pair `(left < right)` of nodes sharing a root, over components of `min_size` to
    `max_size` nodes."""
    order = np.argsort(roots, kind="stable")
    sorted_roots = roots[order]
    starts = np.flatnonzero(np.r_[True, sorted_roots[1:] != sorted_roots[:-1]]) if len(roots) else order
    sizes = np.diff(np.append(starts, len(roots)))
    chosen = (sizes >= min_size) & (sizes <= max_size)
    starts, sizes = starts[chosen], sizes[chosen]
    position = np.repeat(starts, sizes) + ramp(sizes)
    partners = np.repeat(starts + sizes, sizes) - 1 - position
    left = np.repeat(position, partners)
    right = left + 1 + ramp(partners)
    return order[left], order[right]  # ascending within a component (stable sort)


def ramp(lengths: I64) -> I64:
    """`concatenate([arange(n) for n in lengths])`, without a Python loop."""
    starts = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)
