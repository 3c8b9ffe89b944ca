"""Working with sequences (d2l, "Sequence Models"): autoregression on a noisy sine.

The book's section, step by step, then its exercise:

1. the series x_t = sin(0.01 t) + N(0, 0.2^2), t = 1..1000, cut into windows of tau = 4
   past values (features) and the next value (label); rows 0..599 train;
2. the book's MLP (4 -> 10, ReLU, -> 1), MSE and Adam (lr 0.01, batch 16, 5 epochs),
   every gradient from the hand-derived backward passes; its training loss next to the
   book's, and over 40 seeded runs; then the 1.0 book's linear regression (SGD, lr 0.01)
   and the exercise's noise-free case;
3. one-step-ahead predictions, multi-step predictions from index 604 (time 605) fed back
   into the model, and k-step-ahead predictions for k = 1, 4, 16, 64, each as a figure;
4. the exercise: an RNN regressor (RNN over the window + Linear on its last state, full
   BPTT) against the MLP, for tau = 4, 16, 64, on the k-step error (a printed table).

    python examples/sequence.py [--out figures/] [--seed 0] [--runs 10] [--no-progress]

Writes sequence_data.png, sequence_one_step.png, sequence_multistep.png,
sequence_k_step.png, sequence_k_step_rnn.png and sequence_k_step_error.png to ``--out``.

Cells (``# %%``) mark its sections: open it in VS Code or Jupyter (jupytext) and run it
cell by cell, or run it whole as a script.
"""
# %% Imports and the book's settings
import os

# The matrices here are tiny (at most 996 x 64): BLAS threads cost more than they save, and
# on a busy 2-core machine they made the k-step predictions ~20x slower.  Set before numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time as timer  # noqa: E402

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from minirnn.models import MLP, LinearRegression, RNNRegressor  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402  (the Agg backend)
from minirnn.settings import Setting, example_parser, run_script  # noqa: E402
from minirnn.sequence import (evaluate_loss, k_step_ahead, k_step_features,  # noqa: E402
                              multistep_predictions, prediction_mse, sine_series,
                              train_regressor, window_series)

T, TAU, N_TRAIN, BATCH_SIZE, LR, NUM_EPOCHS = 1000, 4, 600, 16, 0.01, 5   # the book's
STEPS = (1, 4, 16, 64)
TAUS = (4, 16, 64)
NUM_HIDDENS_RNN = 16
NOISE_VAR = 0.2 ** 2            # the floor of any MSE against the noisy series
BOOK_LOSS = {1: 0.064, 5: 0.053}  # the book's printed training loss after epochs 1 and 5
DATA_STYLE = dict(color="0.55", lw=0.8, label="data")

# %% The two models, and the book's figures
def make_model(kind: str, tau: int, seed: int):
    """The book's MLP (tau -> 10 -> 1) or the RNN regressor, seeded."""
    if kind == "MLP":
        return MLP(tau, 10, 1, seed=seed)
    return RNNRegressor(NUM_HIDDENS_RNN, seed=seed)

def series_figure(time, curves, path, title, start=None):
    """The book's figure: x against time, one line per curve ``(values, style)``."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for values, style in curves:
        ax.plot(time, values, **style)
    if start is not None:
        ax.axvline(time[start], color="k", ls=":", lw=1)
        ax.text(time[start] + 8, 1.55, f"time {time[start]:.0f}", fontsize=8)
    ax.set(xlabel="time", ylabel="x", xlim=(1, T), ylim=(-1.9, 1.9), title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=5, frameon=False)
    fig.tight_layout()
    save_figure(fig, path, dpi=130)                    # atomic; the folder made if missing

def k_step_figure(time, x, preds, path, title, val_start):
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(preds)))
    curves = [(x, dict(DATA_STYLE, lw=0.6, alpha=0.6))]
    curves += [(p, dict(color=c, lw=1.2, label=f"{k}-step preds")) for (k, p), c in zip(preds.items(), colors)]
    series_figure(time, curves, path, title, start=val_start)

# %% Sections 1-3: the book's MLP, its losses and its three kinds of prediction
def book_mlp(x, w, seed, out, quiet):
    """Sections 1-3: train the book's MLP, print its losses, draw the book's figures."""
    time = np.arange(1, T + 1)
    series_figure(time, [(x, dict(DATA_STYLE, lw=1.0))], out / "sequence_data.png",
                  "The book's series: x = sin(0.01 t) + N(0, 0.2^2), T = 1000")

    net = MLP(TAU, 10, 1, seed=seed)
    history = train_regressor(net, *w.train, num_epochs=NUM_EPOCHS, lr=LR,
                              batch_size=BATCH_SIZE, seed=seed, progress=not quiet)
    print(f"\n## The book's MLP ({TAU} -> 10, ReLU, -> 1), MSE + Adam (lr {LR}, batch "
          f"{BATCH_SIZE}), seed {seed}")
    for epoch, loss in enumerate(history, 1):
        book = f"   (book: {BOOK_LOSS[epoch]})" if epoch in BOOK_LOSS else ""
        print(f"epoch {epoch}, loss: {loss:.6f}{book}")

    firsts, lasts = [], []
    runs = [(s, m) for s in range(4) for m in range(10)]
    for series_seed, model_seed in tqdm(runs, disable=quiet or None, leave=False):
        w_s = window_series(sine_series(T, seed=series_seed)[1], TAU, N_TRAIN)
        h = train_regressor(MLP(TAU, 10, 1, seed=model_seed), *w_s.train, seed=model_seed)
        firsts.append(h[0])
        lasts.append(h[-1])
    firsts, lasts = np.array(firsts), np.array(lasts)
    print(f"over 40 runs (series seeds 0-3 x model seeds 0-9): epoch 1 mean {firsts.mean():.4f} "
          f"(range {firsts.min():.4f}-{firsts.max():.4f}), epoch 5 mean {lasts.mean():.4f} "
          f"(range {lasts.min():.4f}-{lasts.max():.4f}); book {BOOK_LOSS[1]} -> {BOOK_LOSS[5]}")

    start = w.val_start                                       # 604: the first unseen label
    one = k_step_ahead(net, x, TAU, (1,))[1]
    multi = multistep_predictions(net, x, TAU, start)
    multi_plot = np.where(np.arange(T) >= start, multi, np.nan)
    series_figure(time, [(x, DATA_STYLE), (one, dict(color="C0", lw=1.2, label="1-step preds"))],
                  out / "sequence_one_step.png", "One-step-ahead predictions of the MLP")
    series_figure(time, [(x, DATA_STYLE), (one, dict(color="C0", lw=1.2, label="1-step preds")),
                         (multi_plot, dict(color="C3", lw=1.6, label="multistep preds"))],
                  out / "sequence_multistep.png",
                  f"Multi-step predictions from time {start + 1}: fed back, they decay to a constant",
                  start=start)
    preds = k_step_ahead(net, x, TAU, STEPS)
    k_step_figure(time, x, preds, out / "sequence_k_step.png",
                  "k-step-ahead predictions of the MLP (tau = 4)", start)

    print(f"\nvalidation MSE over x[{start}:] (times {start + 1}..{T}; noise floor {NOISE_VAR:.2f}):")
    print(f"  one-step {prediction_mse(one, x, start):.4f}, multi-step {prediction_mse(multi, x, start):.4f}")
    print("  k-step: " + ", ".join(f"k={k} {prediction_mse(p, x, start):.4f}" for k, p in preds.items()))
    return net

# %% The 1.0 book's linear regression
def book_linear(x, w, seed, quiet):
    """The 1.0 book's model for the same data: linear regression, weights N(0, 0.01^2),
    minibatch SGD (lr 0.01, batch 16, 5 epochs) on the mean squared error."""
    net = LinearRegression(TAU, seed=seed)                   # N(0, 0.01^2) weights, bias 0
    history = train_regressor(net, *w.train, num_epochs=NUM_EPOCHS, lr=LR, batch_size=BATCH_SIZE,
                              seed=seed, progress=not quiet, optimizer="sgd")
    start = w.val_start
    print(f"\n## The 1.0 book's linear regression ({TAU} -> 1), MSE + SGD (lr {LR}, batch "
          f"{BATCH_SIZE}), seed {seed}")
    print("training loss by epoch: " + ", ".join(f"{loss:.4f}" for loss in history))
    print("validation MSE, k-step: " + ", ".join(
        f"k={k} {prediction_mse(p, x, start):.4f}" for k, p in k_step_ahead(net, x, TAU, STEPS).items())
        + f"; multi-step {prediction_mse(multistep_predictions(net, x, TAU, start), x, start):.4f}")

# %% The exercise's noise-free case
def noise_free(seed, quiet):
    """The exercise "the noise-free case": the same MLP, data and training on
    x_t = sin(0.01 t) without noise; validation MSE of k-step predictions."""
    _, clean = sine_series(T, noise_std=0.0, seed=seed)
    w = window_series(clean, TAU, N_TRAIN)
    net = MLP(TAU, 10, 1, seed=seed)
    history = train_regressor(net, *w.train, num_epochs=NUM_EPOCHS, lr=LR,
                              batch_size=BATCH_SIZE, seed=seed, progress=not quiet)
    start = w.val_start
    preds = k_step_ahead(net, clean, TAU, STEPS)
    print(f"\n## The noise-free case: x = sin(0.01 t), the same MLP and training, seed {seed}")
    print(f"training loss after epoch {NUM_EPOCHS}: {history[-1]:.6f}")
    print("validation MSE, k-step: " + ", ".join(
        f"k={k} {prediction_mse(p, clean, start):.6f}" for k, p in preds.items())
        + f"; multi-step {prediction_mse(multistep_predictions(net, clean, TAU, start), clean, start):.4f}")

# %% Section 4, the exercise: MLP against the RNN regressor for tau = 4, 16, 64
def exercise(x, seed, num_runs, out, quiet):
    """Section 4: MLP against RNN, tau = 4, 16, 64, k-step MSE on common validation targets."""
    start = N_TRAIN + max(TAUS)          # 664: after the last training label of every tau
    max_k = max(STEPS)
    table, curves, histories = {}, {}, {}
    jobs = [(kind, tau, s) for tau in TAUS for kind in ("MLP", "RNN") for s in range(seed, seed + num_runs)]
    t0 = timer.perf_counter()
    for kind, tau, s in tqdm(jobs, disable=quiet or None):
        w = window_series(x, tau, N_TRAIN)
        net = make_model(kind, tau, s)
        histories.setdefault((kind, tau), []).append(
            train_regressor(net, *w.train, num_epochs=NUM_EPOCHS, lr=LR, batch_size=BATCH_SIZE, seed=s)[-1])
        M = k_step_features(net, x, tau, max_k)          # every horizon 1..64 in one matrix
        # M[i, tau + k - 1] predicts x[i + tau + k - 1]: the rows whose target is >= start
        errs = [np.mean((M[start - tau - k + 1:T - tau - k + 1, tau + k - 1] - x[start:]) ** 2)
                for k in range(1, max_k + 1)]
        curves.setdefault((kind, tau), []).append(errs)
        table.setdefault((kind, tau), []).append([errs[k - 1] for k in STEPS])
        if (kind, tau, s) == ("RNN", TAU, seed):
            k_step_figure(np.arange(1, T + 1), x, k_step_ahead(net, x, tau, STEPS),
                          out / "sequence_k_step_rnn.png",
                          f"k-step-ahead predictions of the RNN regressor (tau = 4, "
                          f"{NUM_HIDDENS_RNN} hidden)", N_TRAIN + TAU)
    elapsed = timer.perf_counter() - t0

    print(f"\n## MLP against RNN regressor ({NUM_HIDDENS_RNN} hidden, full BPTT over the window), "
          f"{NUM_EPOCHS} epochs each")
    print(f"validation MSE of k-step-ahead predictions over x[{start}:] (the targets after every "
          f"model's training labels; noise floor {NOISE_VAR:.2f}): median [min, max] over "
          f"{num_runs} model seeds ({seed}..{seed + num_runs - 1}), {len(jobs)} runs in "
          f"{elapsed:.1f} s:\n")
    print("| model | tau | train MSE | " + " | ".join(f"k = {k}" for k in STEPS) + " |")
    print("|---|---:|---:|" + "---:|" * len(STEPS))
    for tau in TAUS:
        for kind in ("MLP", "RNN"):
            e = np.array(table[kind, tau])
            cells = " | ".join(f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
                               for m, lo, hi in zip(np.median(e, 0), e.min(0), e.max(0)))
            print(f"| {kind} | {tau} | {np.median(histories[kind, tau]):.4f} | {cells} |")

    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ks = np.arange(1, max_k + 1)
    for i, tau in enumerate(TAUS):
        for kind, ls in (("MLP", "-"), ("RNN", "--")):
            ax.plot(ks, np.median(curves[kind, tau], axis=0), ls=ls, color=f"C{i}",
                    label=f"{kind}, tau = {tau}")
    ax.axhline(NOISE_VAR, color="0.4", ls=":", lw=1)
    ax.text(max_k, NOISE_VAR * 1.06, "noise floor 0.2^2 = 0.04", fontsize=8, color="0.3", ha="right",
            va="bottom")
    ax.set(xscale="log", yscale="log", xlabel="k (steps ahead)", ylabel="validation MSE",
           title=f"k-step-ahead validation error, "
                 f"{f'median of {num_runs} seeds' if num_runs > 1 else 'one seed'} (targets x[{start}:])")
    ax.set_xticks(STEPS, [str(k) for k in STEPS])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    yticks = [0.04, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]
    ax.set_yticks([y for y in yticks if ax.get_ylim()[0] <= y <= ax.get_ylim()[1]])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    save_figure(fig, out / "sequence_k_step_error.png", dpi=130)

# %% The whole section: the series, then every part above in order
def main(argv=None):
    parser = example_parser(__doc__, "seed", "out", "no_progress",
                            Setting("runs", "--runs", int, 10, "seeds per model in the exercise "
                                    "table", low=1, high=1000))
    args = parser.parse_args(argv)
    args.quiet = args.no_progress
    t0 = timer.perf_counter()
    _, x = sine_series(T, seed=args.seed)
    w = window_series(x, TAU, N_TRAIN)
    print(f"series: T = {T}, tau = {TAU}: features {w.features.shape}, labels {w.labels.shape}; "
          f"{N_TRAIN} rows train (labels x[{TAU}:{w.val_start}]), {len(w.val[0])} validate")
    book_mlp(x, w, args.seed, args.out, args.quiet)
    book_linear(x, w, args.seed, args.quiet)
    noise_free(args.seed, args.quiet)
    exercise(x, args.seed, args.runs, args.out, args.quiet)
    print(f"\nfigures in {args.out}/; total {timer.perf_counter() - t0:.1f} s")

# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
