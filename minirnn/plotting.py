"""Figures, saved as PNG files with matplotlib's non-interactive Agg backend.

Importing this module selects Agg, so figures are written to files and never need a
display (a laptop without a GUI, CI, ssh).  ``save_figure`` is the one place that
writes a figure; ``plot_history`` draws a training run's perplexity curves,
``plot_running_mean`` any per-update loss, and the rest draw the figures of the examples
(gradient flow, the author classifiers' accuracy by passage length, the gated cells on
the adding problem).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from ._files import atomic_open  # noqa: E402
from .data.tasks import CONSTANT_GUESS_MSE  # noqa: E402

__all__ = ["plt", "save_figure", "plot_history", "set_log_perplexity_axis", "plot_gradient_flow",
           "plot_running_mean", "plot_accuracy_by_length", "plot_adding_problem",
           "plot_flow_panels", "CELL_COLORS"]

DEFAULT_DIR = Path("figures")


def save_figure(fig, path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` as PNG (folders created), close it, return the Path.

    A bare file name goes into ``figures/`` (the default output folder, gitignored).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")
    if path.parent == Path("."):
        path = DEFAULT_DIR / path
    try:
        with atomic_open(path) as f:                  # never half a PNG (a full disk, Ctrl-C)
            fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _records(history) -> list[dict]:
    records = getattr(history, "records", history)
    if not isinstance(records, (list, tuple)) or not all(isinstance(r, dict) for r in records):
        raise TypeError(f"history must be a History or a list of per-epoch dicts, "
                        f"got {type(history).__name__}")
    if not records:
        raise ValueError("history is empty: there is no epoch to plot")
    return list(records)


def set_log_perplexity_axis(ax, lo: float, hi: float) -> None:
    """A log-scale y axis for perplexities from ``lo`` to ``hi``, labelled with plain
    numbers (1, 1.5, 2, 3, 5, ...) instead of matplotlib's ``2x10^1``."""
    ax.set_yscale("log")
    ticks = [t for t in (1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 100, 200, 500, 1000)
             if lo / 1.5 <= t <= hi * 1.5]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def plot_history(history, path="perplexity.png", title: str | None = None,
                 log_scale: bool | None = None) -> Path:
    """Plot training (and, where present, validation) perplexity against the epoch.

    Args:
        history: a ``minirnn.train.History`` or a list of records with ``epoch``,
            ``train_ppl`` and optionally ``val_ppl``.
        path: the PNG to write (a bare name goes into ``figures/``).
        title: the figure's title.
        log_scale: log-scale the perplexity axis; None decides by the range (it is
            used when the curve spans more than a factor of 5, as from 28 down to 1).

    Returns:
        the Path written.
    """
    records = _records(history)
    epochs = [r["epoch"] for r in records]
    train = [r["train_ppl"] for r in records]
    val = [(r["epoch"], r["val_ppl"]) for r in records if r.get("val_ppl") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    marker = "o" if len(epochs) <= 30 else None
    ax.plot(epochs, train, marker=marker, ms=3, lw=1.6, label="train")
    if val:
        ax.plot(*zip(*val), marker=marker, ms=3, lw=1.6, ls="--", label="validation")
    values = train + [v for _, v in val]
    if log_scale is None:
        log_scale = max(values) / max(min(values), 1e-12) > 5
    lo, hi = min(values), max(values)
    if log_scale:
        set_log_perplexity_axis(ax, lo, hi)
    if lo < 1.5:                                         # near the perfect score: show it
        ax.axhline(1.0, color="0.5", lw=0.8, ls=":", label="perfect (1)")
        ax.set_ylim(bottom=0.95 if log_scale else 0.9)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity" + (" (log scale)" if log_scale else ""))
    last = records[-1]
    final = f"final: train {last['train_ppl']:.2f}"
    if last.get("val_ppl") is not None:
        final += f", validation {last['val_ppl']:.2f}"
    ax.set_title(f"{title}\n{final}" if title else final, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_gradient_flow(flows, path="gradient_flow.png", title: str | None = None) -> Path:
    """Plot how the gradient flows back through time: ``||dL/dh_t||`` (left, log scale) and
    the per-step Jacobian norm ``||dh_t/dh_{t-1}||_2`` (right) against the distance from
    the loss, one line per run.

    Args:
        flows: dict label -> ``minirnn.bptt.GradientFlow`` (from ``gradient_flow`` or
            ``minirnn.linear_rnn.linear_gradient_flow``).
        path: the PNG to write (a bare name goes into ``figures/``).
        title: the figure's title.

    Returns:
        the Path written.
    """
    if not isinstance(flows, dict) or not flows:
        raise ValueError(f"flows must be a non-empty dict label -> GradientFlow, got {flows!r}")
    for label, flow in flows.items():
        if not all(hasattr(flow, k) for k in ("distance", "dh_norms", "jacobian_norms")):
            raise TypeError(f"flows[{label!r}] must be a GradientFlow, got {type(flow).__name__}")
    fig, (ax_g, ax_j) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, flow in flows.items():
        line, = ax_g.semilogy(flow.distance, flow.dh_norms, lw=1.8, label=label)
        ax_j.plot(flow.distance, flow.jacobian_norms, lw=1.5, color=line.get_color(), label=label)
    ax_g.set(xlabel="distance from the loss (steps back in time)",
             ylabel="||dL/dh_t||  (log scale)", title="gradient reaching h_t")
    ax_j.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax_j.set(xlabel="distance from the loss (steps back in time)",
             ylabel="||dh_t / dh_(t-1)||_2  (mean over the batch)",
             title="per-step Jacobian norm")
    ax_j.set_ylim(bottom=0)
    for ax in (ax_g, ax_j):
        ax.grid(True, which="major", alpha=0.3)
    ax_g.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_running_mean(values, path, ylabel: str, title: str, exp: bool = False) -> Path:
    """Every update's loss as a running mean over 1/100 of the run (log y); ``exp``: of
    its exponential (a perplexity, from a cross-entropy).  Returns the Path written."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of losses, got shape "
                         f"{values.shape}")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    k = max(1, len(values) // 100)
    mean = np.convolve(values, np.ones(k) / k, "valid")
    ax.plot(np.arange(len(values) - k + 1) + k, np.exp(mean) if exp else mean)
    ax.set(xlabel="update", ylabel=ylabel, yscale="log")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


#: The author classifiers' figure: each curve's (color, marker), in drawing order.
ACCURACY_STYLES = {"model": ("tab:blue", "o"), "ngram": ("tab:orange", "s"),
                   "majority": ("0.5", "^")}


def plot_accuracy_by_length(accuracy: dict, path, labels: dict, title: str) -> Path:
    """Held-out accuracy against the passage length (log x), one curve per classifier of
    ``accuracy`` (``{"model": {L: acc}, "ngram": {L: acc}, "majority": {L: acc}}``, with
    ``labels`` their legend entries), each point's number on its curve's outer side.
    Returns the Path written."""
    if set(accuracy) != set(ACCURACY_STYLES) or set(labels) != set(ACCURACY_STYLES):
        raise ValueError(f"accuracy and labels must have the keys {sorted(ACCURACY_STYLES)}, "
                         f"got {sorted(accuracy)} and {sorted(labels)}")
    lengths = list(accuracy["model"])
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for key, (color, marker) in ACCURACY_STYLES.items():
        acc = [accuracy[key][L] for L in lengths]
        ax.plot(lengths, acc, marker=marker, color=color, lw=2, label=labels[key])
        for L, a in zip(lengths, acc):                    # the numbers on each curve's outer side
            other = accuracy["ngram" if key == "model" else "model"][L]
            above = key == "majority" or a > other or (a == other and key == "ngram")
            ax.annotate(f"{a:.3f}", (L, a), textcoords="offset points",
                        xytext=(-12, 7 if above else -14), fontsize=8, color=color)
    ax.set_xscale("log")
    ax.set_xticks(lengths, [str(L) for L in lengths])
    ax.minorticks_off()
    ax.set(xlabel="passage length (characters, log scale)", ylabel="held-out accuracy",
           ylim=(0.4, 1.02))
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right", fontsize=9)
    return save_figure(fig, path)


#: One color per recurrent cell, in every gated-cell figure.
CELL_COLORS = {"rnn": "tab:blue", "gru": "tab:orange", "lstm": "tab:green"}


def plot_adding_problem(mse: dict, path, title: str) -> Path:
    """Test MSE against T, one line per cell of ``mse`` (``{cell: {T: mse}}``), log y, the
    constant guess and 0.01 (solved) marked.  Returns the Path written."""
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    for cell, by_length in mse.items():
        lengths, values = list(by_length), list(by_length.values())
        ax.plot(lengths, values, marker="o", lw=2, color=CELL_COLORS[cell], label=cell.upper())
        for T, m in zip(lengths, values):                 # the number next to each point
            ax.annotate(f"{m:.2g}", (T, m), textcoords="offset points", xytext=(6, 5),
                        fontsize=8, color=CELL_COLORS[cell])
    ax.axhline(CONSTANT_GUESS_MSE, color="0.4", ls="--", lw=1, label="constant guess 1 (MSE 1/6)")
    ax.axhline(0.01, color="0.4", ls=":", lw=1, label="0.01 (solved)")
    ax.set_yscale("log")
    ax.set_xticks(lengths)
    ax.margins(x=0.08)                                    # room for the last point's number
    ax.set(xlabel="sequence length T", ylabel="test MSE (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_flow_panels(panels: list, path, titles: list, suptitle: str) -> Path:
    """One panel per ``{cell: {kind: {"distance", "norm", "rate"}}}`` of ``panels``
    (``minirnn.bptt.summarize_flow`` of each cell): each cell's geometric-mean norm
    against the distance from the loss, log y, ``||dL/dh_t||`` solid and the LSTM's
    ``||dL/dc_t||`` dashed, the fitted rate in the legend.  Returns the Path written."""
    if len(titles) != len(panels):
        raise ValueError(f"titles must have one entry per panel ({len(panels)}), got {len(titles)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.2), squeeze=False)
    for ax, panel, title in zip(axes[0], panels, titles):
        for cell, curves in panel.items():
            for kind, curve in curves.items():
                style = dict(lw=2) if kind == "h" else dict(lw=1.6, ls="--")
                ax.plot(curve["distance"], curve["norm"], color=CELL_COLORS[cell], **style,
                        label=f"{cell.upper()} ||dL/d{kind}_t||: {curve['rate']:.3f}/step")
        T = len(next(iter(next(iter(panel.values())).values()))["distance"])
        ax.set_yscale("log")
        ax.set(xlabel="distance from the loss (steps, T - 1 - t)",
               ylabel="gradient norm (log scale, geometric mean)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, title=f"fitted rate over distances >= {T // 2}", title_fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)
