"""Gated cells, measured (d2l: the BPTT section's vanishing gradients, and the GRU and
LSTM sections that answer them).

1. Gradient flow.  A character language model (one-hot -> RNN, GRU or LSTM -> linear) on
   *The Time Machine*, the loss at the last of 100 steps only: ``||dL/dh_t||`` (and the
   LSTM's ``||dL/dc_t||``) against the distance from the loss, at the book's init and
   after ``--lm-updates`` updates (Adam, ``minirnn.train.Trainer``), with the fitted rate
   per step (``minirnn.bptt.fit_rate``); and the same for the adding-problem models.
2. The adding problem (Hochreiter and Schmidhuber, 1997): T random numbers in [0, 1), two
   of them marked, the target their sum; recurrent layer -> H_T -> linear; MSE, Adam,
   clipping, through the Trainer.  Every cell gets the same updates, data and init; a
   constant guess of 1 scores MSE 1/6.

    python examples/gated_cells.py      # about 3 CPU minutes
    python examples/gated_cells.py --lengths 10 20 --updates 50 --hidden 16 \
        --lm-hidden 16 --lm-updates 5 --flow-seqs 2 --test-size 100   # seconds

Writes (in --out): gated_cells_gradient_flow.png, gated_cells_adding.png (test MSE
against T) and metrics.json (the test MSE per cell and length, the rates).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.bptt import flow_norms, summarize_flow  # noqa: E402
from minirnn.data import SeqDataLoader, Updates, load_corpus_time_machine  # noqa: E402
from minirnn.data.tasks import CONSTANT_GUESS_MSE, AddingStream, adding_problem  # noqa: E402
from minirnn.losses import MSELoss, SoftmaxCrossEntropy  # noqa: E402
from minirnn.models import CELLS, RNNLM, AddingRegressor  # noqa: E402
from minirnn.plotting import plot_adding_problem, plot_flow_panels  # noqa: E402
from minirnn.settings import Setting, SettingError, atomic_write_json, example_parser, run_script  # noqa: E402
from minirnn.train import Trainer  # noqa: E402

LM_BATCH, LM_STEPS, LM_LR = 32, 35, 0.01
FLOW_STEPS = 100                    # loss at the last of 100 steps


# %% Part 1: a character language model with each cell, and how its gradient flows back
def train(model, data, updates: int, loss, lr: float, clip: float, no_progress: bool) -> list:
    """``updates`` steps of Adam through the Trainer; every update's loss."""
    losses = []
    Trainer(model, Updates(data, updates), loss=loss, optimizer="adam", lr=lr, clip=clip,
            after_step=lambda trainer, value: losses.append(value),
            progress=not no_progress).fit(1)
    model.zero_grad()
    return losses


def gradient_flows(corpus, vocab_size: int, args) -> dict:
    """For each cell: the norms at the book's init and after a short training run, their
    geometric mean over the sequences, and the fitted rates."""
    S = args.flow_seqs
    held = corpus[-S * (FLOW_STEPS + 1):].reshape(S, FLOW_STEPS + 1)   # never trained on
    pairs = [(held[s:s + 1, :-1], held[s:s + 1, 1:]) for s in range(S)]  # (1, T) ids each
    train_ids = corpus[:-S * (FLOW_STEPS + 1)]
    flows = {}
    for cell in CELLS:
        model = RNNLM(vocab_size, args.lm_hidden, cell=cell, init="normal", seed=args.seed)
        init = summarize_flow(flow_norms(model, pairs))
        data = SeqDataLoader(train_ids, LM_BATCH, LM_STEPS, use_random_iter=True, seed=args.seed)
        losses = train(model, data, args.lm_updates, SoftmaxCrossEntropy(), LM_LR, 1.0,
                       args.no_progress)                  # random windows: zero state each
        ppl = float(np.exp(np.mean(losses[-50:])))
        flows[cell] = {"train_ppl": ppl, "init": init,
                       "trained": summarize_flow(flow_norms(model, pairs))}
    return flows


def print_flows(flows, args):
    print(f"\ngradient flow: char LM, {args.lm_hidden} hidden units, loss at step {FLOW_STEPS} "
          f"only, geometric mean over {args.flow_seqs} held-out sequences")
    print(f"fitted rate per step of the norm (distances >= {FLOW_STEPS // 2}); "
          f"'trained' = {args.lm_updates} Adam updates")
    print(f"{'cell':<6}{'norm':<13}{'rate at init':>14}{'rate trained':>14}"
          f"{f'ratio d={FLOW_STEPS - 1}/d=0, trained':>26}{'train ppl':>11}")
    for cell, f in flows.items():
        for kind, trained in f["trained"].items():
            print(f"{cell:<6}{f'||dL/d{kind}_t||':<13}{f['init'][kind]['rate']:>14.3f}"
                  f"{trained['rate']:>14.3f}{trained['norm'][0] / trained['norm'][-1]:>26.2e}"
                  f"{f['train_ppl']:>11.2f}")


# %% Part 2: the adding problem (``minirnn.models.AddingRegressor``: the cell -> H_T -> linear)
def test_mse(model: AddingRegressor, X: np.ndarray, y: np.ndarray, chunk: int = 250) -> float:
    se = sum(float(((model.forward(X[:, i:i + chunk])[0] - y[i:i + chunk]) ** 2).sum())
             for i in range(0, len(y), chunk))
    return se / len(y)


def train_adding(cell: str, T: int, args) -> dict:
    """Train one cell on length T; the init seed, the training batches and the test set
    depend on (seed, T) only, so every cell sees the same data."""
    model = AddingRegressor(cell, args.num_hiddens, np.random.default_rng([args.seed, T]),
                            args.init, args.forget_bias)
    X_test, y_test = adding_problem(np.random.default_rng([args.seed, T, 2]), args.test_size, T)
    start = time.perf_counter()
    losses = train(model, AddingStream(args.batch_size, T, [args.seed, T, 1]), args.updates,
                   MSELoss(), args.lr, args.clip, args.no_progress)
    seconds = time.perf_counter() - start
    S = min(args.flow_seqs, args.test_size)                 # how its gradient flows, trained
    flow = summarize_flow(flow_norms(model, [(X_test[:, s:s + 1], y_test[s:s + 1])
                                             for s in range(S)],
                                     step=lambda m, X, y: m.last_step_backward(X, y)))
    return {"test_mse": test_mse(model, X_test, y_test), "losses": losses, "seconds": seconds,
            "flow": flow}


def print_adding_table(results, lengths, args):
    print(f"\nadding problem: test MSE ({args.test_size} sequences per T); every cell "
          f"{args.updates} updates of batch {args.batch_size}, H = {args.num_hiddens}, Adam lr {args.lr}, "
          f"clipping {args.clip}")
    print(f"(constant guess 1: {CONSTANT_GUESS_MSE:.3f}; solved: <= 0.01)")
    print(f"{'cell':<6}" + "".join(f"{f'T = {T}':>11}" for T in lengths) + f"{'train time':>12}")
    for cell, runs in results.items():
        seconds = sum(r["seconds"] for r in runs.values())
        print(f"{cell:<6}" + "".join(f"{runs[T]['test_mse']:>11.4f}" for T in lengths)
              + f"{seconds:>11.0f}s")
    print("after training, the fitted rate per step of ||dL/dh_t|| (distances >= T/2; "
          "LSTM: of ||dL/dc_t|| too)")
    for cell, runs in results.items():
        for kind in runs[lengths[0]]["flow"]:
            print(f"{cell + ' ' + kind:<6}" + "".join(
                f"{runs[T]['flow'][kind]['rate']:>11.3f}" for T in lengths))


# %% Run everything
LENGTH = Setting("lengths", "--lengths", int, None, "sequence length T", low=2, high=10 ** 5)
SETTINGS = [
    Setting("updates", "--updates", int, 1000, "adding problem: updates per run", low=1,
            high=10 ** 9),
    Setting("forget_bias", "--forget-bias", float, 1.0, "the LSTM's initial b_f", low=-100,
            high=100),
    Setting("test_size", "--test-size", int, 1000, "adding problem: test sequences per T",
            low=1, high=10 ** 7),
    Setting("lm_hidden", "--lm-hidden", int, 128, "gradient flow: the language model's hidden "
            "units", low=1, high=2 ** 16),
    Setting("lm_updates", "--lm-updates", int, 300, "gradient flow: each LM's updates", low=1,
            high=10 ** 9),
    Setting("flow_seqs", "--flow-seqs", int, 16, "gradient flow: held-out sequences averaged",
            low=1, high=10 ** 4),
]


def length(text):
    try:
        return LENGTH.parse(text)
    except SettingError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv=None):
    parser = example_parser(__doc__, "num_hiddens", "batch_size", "lr", "clip", "init", "seed",
                            "out", "no_progress", *SETTINGS,
                            defaults={"num_hiddens": 32, "batch_size": 32, "lr": 0.02,
                                      "init": "xavier"})
    parser.add_argument("--lengths", type=length, nargs="+", default=[10, 50, 100, 200],
                        help="adding problem: sequence lengths T (default 10 50 100 200)")
    args = parser.parse_args(argv)
    lengths = sorted(set(args.lengths))
    start = time.perf_counter()

    corpus, vocab = load_corpus_time_machine()
    flows = gradient_flows(corpus, len(vocab), args)
    print_flows(flows, args)
    flow_seconds = time.perf_counter() - start

    results = {cell: {T: train_adding(cell, T, args) for T in lengths} for cell in CELLS}
    print_adding_table(results, lengths, args)
    mse = {cell: {T: runs[T]["test_mse"] for T in lengths} for cell, runs in results.items()}
    title = (f"The adding problem: {args.updates} updates of batch {args.batch_size} per run, "
             f"H = {args.num_hiddens}\nAdam lr {args.lr}, clipping {args.clip}, {args.init} init"
             f" (LSTM forget bias {args.forget_bias:g})")
    print(f"saved {plot_adding_problem(mse, args.out / 'gated_cells_adding.png', title)}")
    # the gradient flow: the LM at the book's init, trained, and the adding problem's models
    flow_T = 100 if 100 in lengths else lengths[-1]
    panels = [{cell: f[when] for cell, f in flows.items()} for when in ("init", "trained")]
    panels.append({cell: runs[flow_T]["flow"] for cell, runs in results.items()})
    titles = [f"Language model at the book's init N(0, 0.01^2)\n{args.lm_hidden} hidden "
              f"units, {args.flow_seqs} held-out sequences of The Time Machine",
              f"Language model after {args.lm_updates} updates of training\n(Adam lr "
              f"{LM_LR}, batch {LM_BATCH} x {LM_STEPS} steps, clipping 1)",
              f"Adding problem, T = {flow_T}, after {args.updates} updates of training\n"
              f"({args.num_hiddens} hidden units, {args.init} init, "
              f"{min(args.flow_seqs, args.test_size)} test sequences)"]
    path = plot_flow_panels(panels, args.out / "gated_cells_gradient_flow.png", titles,
                            "Gradient flow back through time: the loss at the last step "
                            "only, ||dL/dh_t|| (solid) and the LSTM's ||dL/dc_t|| (dashed)")
    print(f"saved {path}")

    total = time.perf_counter() - start
    metrics = {
        "adding": {cell: {str(T): runs[T]["test_mse"] for T in lengths}
                   for cell, runs in results.items()},
        "adding_gradient_flow_rate": {cell: {str(T): {kind: c["rate"]
                                                      for kind, c in runs[T]["flow"].items()}
                                             for T in lengths}
                                      for cell, runs in results.items()},
        "gradient_flow": {cell: {"train_ppl": f["train_ppl"],
                                 **{when: {kind: c["rate"] for kind, c in f[when].items()}
                                    for when in ("init", "trained")}}
                          for cell, f in flows.items()},
        "settings": {k: str(v) if k == "out" else v for k, v in vars(args).items()},
        "seconds": {"gradient_flow": flow_seconds, "total": total,
                    "adding": {cell: {str(T): runs[T]["seconds"] for T in lengths}
                               for cell, runs in results.items()}},
    }
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\nwall time {total:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
