"""Backpropagation through time (d2l, "Backpropagation Through Time"): the three strategies
and the gradient flow.

1. One RNN language model (one-hot characters, ``--hidden`` units, the book's
   N(0, 0.01^2) init, SGD with lr 1 and clipping theta = 1) trained from the same init on
   the first 10,000 characters of The Time Machine, sequential partitioning (batch 32,
   num_steps 35, the 0.17 book's data), once per strategy: ``bptt='truncated'`` (windows
   of 35), ``'full'`` (one window per row of the corpus: 312 steps, one update an epoch)
   and ``'randomized'`` (each step's recurrent gradient kept with probability ``--bptt-p``,
   weighted by 1/p).  Prints a table (final training perplexity, perplexity on the next
   10,000 characters, wall time) and plots perplexity against wall time and epoch.
2. Memory: what full BPTT's caches cost for this run and for the whole book.
3. Gradient flow with the loss at the last of 100 steps: a linear RNN whose symmetric
   W_hh is scaled to spectral radius 0.9, 1.0, 1.1 (vanishing, stable, exploding), with
   the fitted rate of ``||dL/dh_t||``; then the tanh language model with W_hh scaled the
   same way, at the book's init and after training.
4. The book's exercise: powers of a symmetric matrix align with its top eigenvector.

    python examples/bptt.py [--epochs 100] [--hidden 128] [--bptt-p 0.9] [--seed 0]
                            [--out figures] [--no-progress]

Figures: bptt_perplexity.png, bptt_gradient_flow_linear.png, bptt_gradient_flow_rnnlm.png.
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)

import minirnn  # noqa: F401  (first: it sets one BLAS thread before NumPy loads)
import numpy as np
from tqdm.auto import tqdm

from minirnn.bptt import (FullBPTTMemoryError, check_full_bptt_memory, fit_rate,
                          full_bptt_cache_bytes, gradient_flow)
from minirnn.data import SeqDataLoader, load_corpus_time_machine
from minirnn.linear_rnn import (power_alignment, random_symmetric, scale_to_spectral_radius,
                                spectral_radius_demo)
from minirnn.models import RNNLM
from minirnn.plotting import plot_gradient_flow, plt, save_figure, set_log_perplexity_axis
from minirnn.presets import check_run_memory
from minirnn.settings import example_parser, run_script
from minirnn.train import Trainer, evaluate

BATCH_SIZE, NUM_STEPS, TRAIN_TOKENS = 32, 35, 10000
RADII = (0.9, 1.0, 1.1)
FLOW_STEPS, FLOW_BATCH = 100, 8     # the sequences the gradient flows back through


# %% The three strategies, trained side by side
def train_strategies(corpus, vocab, args):
    """Train the same model (same init, same minibatches) with each strategy.  The three
    runs take turns, one epoch each, so a busy machine slows them all alike; each run's
    wall time counts only its own epochs."""
    train_ids, heldout_ids = corpus[:TRAIN_TOKENS], corpus[TRAIN_TOKENS:2 * TRAIN_TOKENS]
    trainers = {}
    for bptt, p in (("truncated", None), ("full", None), ("randomized", args.bptt_p)):
        label = bptt if p is None else f"{bptt} (p = {p})"
        data = SeqDataLoader(train_ids, BATCH_SIZE, NUM_STEPS, seed=args.seed)
        model = RNNLM(len(vocab), args.num_hiddens, seed=args.seed)
        trainers[label] = Trainer(model, data, vocab, optimizer="sgd", lr=1.0, clip=1.0,
                                  bptt=bptt, bptt_p=p, seed=args.seed, sample_every=0,
                                  progress=False)
    X, _ = next(iter(SeqDataLoader(train_ids, BATCH_SIZE, NUM_STEPS, seed=args.seed + 1)))
    for trainer in trainers.values():                  # warm up (first-call costs) before timing
        trainer.model.forward(X)
    for epoch in tqdm(range(1, args.num_epochs + 1), desc="training 3 strategies", unit="epoch",
                      disable=True if args.no_progress else None):
        for trainer in trainers.values():
            trainer.fit(epoch)
    runs = {}
    for label, trainer in trainers.items():
        heldout = evaluate(trainer.model, SeqDataLoader(heldout_ids, BATCH_SIZE, NUM_STEPS, seed=0))
        updates = 1 if trainer.full_sequence else len(list(trainer.data))
        runs[label] = {"model": trainer.model, "history": trainer.history,
                       "heldout_ppl": heldout, "updates": updates}
    return runs


# %% Their table and figure
def print_table(runs):
    print(f"\n{'strategy':<24}{'updates/epoch':>14}{'train ppl':>11}{'held-out ppl':>14}"
          f"{'wall time':>11}")
    for label, run in runs.items():
        last = run["history"][-1]
        print(f"{label:<24}{run['updates']:>14}{last['train_ppl']:>11.2f}"
              f"{run['heldout_ppl']:>14.2f}{last['wall_s']:>10.1f}s")


def perplexity_figure(runs, path, args):
    """Training perplexity against wall time, epoch and number of parameter updates."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), sharey=True)
    # truncated and randomized nearly coincide: a wide pale line under a dashed one
    styles = [dict(lw=4, alpha=0.55), dict(lw=1.8, ls=":"), dict(lw=1.6, ls="--")]
    for (label, run), style in zip(runs.items(), styles):
        h = run["history"]
        epochs, ppl = np.array(h.column("epoch")), h.column("train_ppl")
        line, = axes[0].plot(h.column("wall_s"), ppl, label=label, **style)
        axes[1].plot(epochs, ppl, color=line.get_color(),
                     label=f"{label}: {run['heldout_ppl']:.2f}", **style)
        axes[2].plot(epochs * run["updates"], ppl, color=line.get_color(),
                     label=f"{label}: {run['updates']} per epoch", **style)
    values = [v for run in runs.values() for v in run["history"].column("train_ppl")]
    set_log_perplexity_axis(axes[0], min(values), max(values))
    axes[0].set(xlabel="wall time (s)", ylabel="training perplexity (log scale)",
                title="against wall time")
    axes[1].set(xlabel="epoch (10,000 characters)", title="against epoch")
    axes[2].set(xlabel="parameter updates", title="against updates")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    axes[1].legend(title="held-out perplexity at the end", fontsize=8, title_fontsize=8)
    axes[2].legend(title="updates", fontsize=8, title_fontsize=8)
    fig.suptitle(f"BPTT strategies: RNN LM, {args.num_hiddens} hidden units, The Time Machine "
                 f"(first {TRAIN_TOKENS:,} characters), batch {BATCH_SIZE}, num_steps {NUM_STEPS}, "
                 f"SGD lr 1, clipping 1", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


# %% What full BPTT costs in memory
def memory_report(vocab_size, num_hiddens, num_tokens):
    """What full BPTT's caches cost (float32): this run, and the whole book at H = 512."""
    row = (TRAIN_TOKENS - 1) // BATCH_SIZE
    ours = full_bptt_cache_bytes(num_hiddens, vocab_size, BATCH_SIZE, row, vocab_size)
    print(f"\nfull BPTT caches for this run (batch {BATCH_SIZE}, rows of {row} steps, "
          f"H = {num_hiddens}): about {ours / 2**20:.1f} MiB")
    whole = full_bptt_cache_bytes(512, vocab_size, 1, num_tokens - 1, vocab_size)
    try:
        check_full_bptt_memory(whole, limit_bytes=2**30)
    except FullBPTTMemoryError as err:
        print(f"the whole book ({num_tokens:,} characters) as one sequence, H = 512, "
              f"1 GiB limit:\n  FullBPTTMemoryError: {err}")


# %% Gradient flow: the linear RNN and the tanh language model
def linear_flows():
    """Linear RNN, symmetric W_hh at radius 0.9 / 1.0 / 1.1: measured rates."""
    demo = spectral_radius_demo(RADII, num_hiddens=16, num_steps=FLOW_STEPS, seed=0)
    flows = {}
    print("\nlinear RNN, symmetric W_hh, loss at the last step: rate of ||dL/dh_t|| per step")
    for radius, (flow, rate) in demo.items():
        print(f"  spectral radius {radius:.1f}: fitted rate {rate:.6f}, "
              f"||dL/dh_1|| / ||dL/dh_T|| = {flow.dh_norms[0] / flow.dh_norms[-1]:.3g}")
        flows[f"radius {radius:.1f}: rate {rate:.3f}"] = flow
    return flows


def rnnlm_flows(vocab_size, num_hiddens, X, Y, trained, args):
    """The tanh language model: W_hh of the book's init scaled to each radius, and the
    trained model as it is; loss at the last of FLOW_STEPS steps."""
    flows = {}
    print("\ntanh RNN LM, loss at the last step: fitted rate of ||dL/dh_t|| (distances >= 50)")
    for radius in tqdm(RADII, desc="gradient flow", leave=False,
                       disable=True if args.no_progress else None):
        model = RNNLM(vocab_size, num_hiddens, seed=args.seed).astype(np.float64)
        W_hh = model.params["rnn.W_hh"]
        W_hh[...] = scale_to_spectral_radius(W_hh, radius)
        flow = gradient_flow(model, X, Y)
        rate = fit_rate(flow.distance, flow.dh_norms, min_distance=FLOW_STEPS // 2)
        print(f"  book init, W_hh scaled to radius {radius:.1f}: rate {rate:.3f}, "
              f"mean ||dh_t/dh_(t-1)||_2 = {flow.jacobian_norms.mean():.2f}")
        flows[f"init, radius {radius:.1f}: rate {rate:.3f}"] = flow
    for label, model in trained.items():
        model.astype(np.float64)
        radius = float(np.max(np.abs(np.linalg.eigvals(model.params["rnn.W_hh"]))))
        flow = gradient_flow(model, X, Y)
        rate = fit_rate(flow.distance, flow.dh_norms, min_distance=FLOW_STEPS // 2)
        print(f"  trained ({label}), radius {radius:.2f}: rate {rate:.3f}, "
              f"mean ||dh_t/dh_(t-1)||_2 = {flow.jacobian_norms.mean():.2f}")
        flows[f"trained ({label}), radius {radius:.2f}: rate {rate:.3f}"] = flow
    return flows


# %% The book's exercise: powers of a symmetric matrix
def power_exercise(seed):
    """Powers of a symmetric matrix turn towards its top eigenvector at rate |l2/l1|."""
    rng = np.random.default_rng(seed)
    W = random_symmetric(8, rng)
    lam = np.sort(np.abs(np.linalg.eigvalsh(W)))[::-1]
    align = power_alignment(W, rng.standard_normal(8), 60)
    q = lam[1] / lam[0]
    ks = np.arange(30, 61)
    rate = np.exp(np.polyfit(ks, np.log(align.tan[ks]), 1)[0])
    print(f"\npowers of a random symmetric 8 x 8 matrix, |lambda_2 / lambda_1| = {q:.4f}:")
    print("  k:      " + "".join(f"{k:>9}" for k in (0, 5, 10, 20, 40, 60)))
    print("  |cos|:  " + "".join(f"{align.cos[k]:>9.5f}" for k in (0, 5, 10, 20, 40, 60)))
    print(f"  tan(angle) shrinks by {rate:.4f} per power (fitted over k = 30..60)")


# %% Run everything
def main(argv=None):
    parser = example_parser(__doc__, "num_epochs", "num_hiddens", "bptt_p", "seed", "out",
                            "no_progress",
                            defaults={"num_epochs": 100, "num_hiddens": 128, "bptt_p": 0.9})
    args = parser.parse_args(argv)              # every flag checked, --out writable

    corpus, vocab = load_corpus_time_machine()
    check_run_memory({"num_hiddens": args.num_hiddens, "batch_size": BATCH_SIZE,
                      "num_steps": (TRAIN_TOKENS - 1) // BATCH_SIZE}, len(vocab), copies=3,
                     flags="--hidden")
    runs = train_strategies(corpus, vocab, args)
    print_table(runs)
    path = perplexity_figure(runs, args.out / "bptt_perplexity.png", args)
    print(f"saved {path}")
    memory_report(len(vocab), args.num_hiddens, len(corpus))

    path = plot_gradient_flow(linear_flows(), args.out / "bptt_gradient_flow_linear.png",
                              title="Linear RNN (identity activation, no bias), symmetric W_hh: "
                                    "||dL/dh_t|| falls or grows at the spectral radius")
    print(f"saved {path}")
    start = 2 * TRAIN_TOKENS                     # text no model has been trained or tested on
    rows = corpus[start:start + FLOW_BATCH * (FLOW_STEPS + 1)].reshape(FLOW_BATCH, FLOW_STEPS + 1)
    X, Y = rows[:, :-1], rows[:, 1:]
    trained = {label: runs[label]["model"] for label in ("truncated", "full")}
    flows = rnnlm_flows(len(vocab), args.num_hiddens, X, Y, trained, args)
    path = plot_gradient_flow(flows, args.out / "bptt_gradient_flow_rnnlm.png",
                              title=f"tanh RNN LM ({args.num_hiddens} hidden units), "
                                    f"{FLOW_BATCH} sequences of The Time Machine, loss at step "
                                    f"{FLOW_STEPS}")
    print(f"saved {path}")
    power_exercise(args.seed)


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
