"""Plots people would rather look at than read: label distributions per split."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np


def label_distribution(counts: Mapping[str, Mapping[str, int]], title: str, out: Path) -> Path:
    """A grouped bar chart: one group per label, one bar per split (share of that split's labels)."""
    splits = [s for s, c in counts.items() if c]
    labels = sorted(
        {label for c in counts.values() for label in c},
        key=lambda x: -sum(c.get(x, 0) for c in counts.values()),
    )
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5))
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(labels))
    for i, split in enumerate(splits):
        total = sum(counts[split].values()) or 1
        shares = [100.0 * counts[split].get(label, 0) / total for label in labels]
        bars = ax.bar(x + i * width - 0.4 + width / 2, shares, width, label=f"{split} (n={total:,})")
        ax.bar_label(
            bars,
            labels=[str(counts[split].get(label, 0)) for label in labels],
            fontsize=7,
            rotation=90,
            padding=2,
        )
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("share of the split's labels (%)")
    ax.set_title(title)
    ax.legend()
    ax.margins(y=0.15)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
