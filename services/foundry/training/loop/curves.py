"""The training-curves PNG of a model version: loss, learning rate and evaluation metrics.

`plot_curves(history, out_png)` draws three panels side by side with matplotlib's Agg canvas
(no display, no pyplot global state, safe in a worker thread):

1. training loss per step (with the evaluation loss per evaluation, when there is one);
2. learning rate per step;
3. the evaluation metrics per evaluation (the objective, if given, drawn bold with its best
   point marked; fractions in [0, 1]; losses are in panel 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from foundry.training.loop.results import TrainHistory

#: evaluation metrics drawn when present (besides the objective)
DEFAULT_METRICS = ("eval_f1", "eval_macro_f1", "eval_accuracy", "eval_micro_f1", "eval_token_accuracy")


def plot_curves(
    history: TrainHistory,
    out_png: str | Path,
    *,
    objective: str | None = None,
    maximize: bool = True,
    title: str = "",
    metrics: Sequence[str] = DEFAULT_METRICS,
    dpi: int = 110,
) -> Path:
    """Draw `history` into `out_png` (created with its folder); return the path."""
    figure = Figure(figsize=(15, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, lr_axes, eval_axes = figure.subplots(1, 3)
    _loss_panel(loss_axes, history)
    _lr_panel(lr_axes, history)
    _eval_panel(eval_axes, history, objective, maximize, metrics)
    if title:
        figure.suptitle(title)
    target = Path(out_png)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=dpi, format="png")
    return target


def _loss_panel(axes: Axes, history: TrainHistory) -> None:
    if history.step:
        axes.plot(history.step, history.loss, color="tab:blue", linewidth=1, alpha=0.45, label="train loss")
        smooth = _moving_average(history.loss, max(1, len(history.loss) // 25))
        axes.plot(history.step, smooth, color="tab:blue", linewidth=2, label="train loss (smoothed)")
    steps, values = history.metric("eval_loss")
    if steps:
        axes.plot(steps, values, "o-", color="tab:orange", linewidth=1.5, label="eval loss")
    _finish(axes, "loss", "loss")


def _lr_panel(axes: Axes, history: TrainHistory) -> None:
    if history.step:
        axes.plot(history.step, history.learning_rate, color="tab:green", linewidth=1.5)
    axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    _finish(axes, "learning rate", "")


def _eval_panel(
    axes: Axes, history: TrainHistory, objective: str | None, maximize: bool, metrics: Sequence[str]
) -> None:
    keys = [key for key in dict.fromkeys([*([objective] if objective else []), *metrics]) if key]
    for key in keys:
        steps, values = history.metric(key)
        if not steps or key.endswith(("loss", "perplexity")):
            continue
        bold = key == objective
        axes.plot(steps, values, "o-", linewidth=2.2 if bold else 1.2, markersize=4, label=key)
        if bold:
            best = (max if maximize else min)(range(len(values)), key=values.__getitem__)
            axes.plot(
                [steps[best]],
                [values[best]],
                marker="*",
                markersize=14,
                color="gold",
                markeredgecolor="black",
            )
            axes.annotate(
                f"best {values[best]:.3f}",
                (steps[best], values[best]),
                textcoords="offset points",
                xytext=(6, -14),
            )
    if not history.evals:
        axes.text(0.5, 0.5, "no evaluations", ha="center", va="center", transform=axes.transAxes)
    low, high = axes.get_ylim()
    if low >= -0.05 and high <= 1.05:  # fractions: show the whole [0, 1] range
        axes.set_ylim(-0.03, 1.05)
    _finish(axes, "evaluation", "score")


def _finish(axes: Axes, title: str, ylabel: str) -> None:
    axes.set_title(title)
    axes.set_xlabel("step")
    if ylabel:
        axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over `window` values (shorter at the start)."""
    out: list[float] = []
    total = 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


__all__ = ["plot_curves"]
