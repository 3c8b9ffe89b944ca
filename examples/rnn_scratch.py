"""RNN from scratch (d2l 0.17, "Implementation of Recurrent Neural Networks from Scratch"),
with every step in view: one-hot inputs, the RNN cell stepped in an explicit time loop,
the output layer, the loss, backpropagation through time step by step, gradient
clipping, SGD and the book's ``predict``.

    python examples/rnn_scratch.py                  # the book's 500 epochs, about 4 minutes
    python examples/rnn_scratch.py --epochs 50      # a quick look
    python examples/rnn_scratch.py --sampling random   # random instead of sequential

The book's setting: batch 32, 35 steps, the first 10,000 characters, hidden 512, weights
N(0, 0.01^2), lr 1, clipping theta 1: perplexity 1.0 (sequential) or 1.5 (random
sampling) after 500 epochs.  Writes ``rnn_scratch_perplexity.png`` to ``--out``.
``minirnn.models.RNNLM`` is the same model with the time loops vectorized (the script
checks that the two agree) and ``minirnn.train`` the same loop; set a breakpoint in
``ScratchRNNLM.backward`` to watch dL/dH flow back through the steps.

Dimension letters: B batch, T steps, V vocabulary (28), H hidden units.
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
from dataclasses import replace

import minirnn  # noqa: F401  (first: it sets one BLAS thread before NumPy loads)
import numpy as np
from tqdm.auto import tqdm

from minirnn.data import load_data_time_machine
from minirnn.generate import predict
from minirnn.layers import Linear, OneHot, RNNCell
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.metrics import perplexity
from minirnn.models import RNNLM
from minirnn.optim import SGD, grad_clipping
from minirnn.plotting import plot_history
from minirnn.presets import check_run_memory
from minirnn.settings import SETTINGS, example_parser, run_script

#: The book's two ways of cutting the corpus into minibatches (the schema's --sampling).
SAMPLING = replace(SETTINGS["sampling"], type=("sequential", "random"),
                   help="sequential partitioning (the book: perplexity 1.0) or random "
                        "sampling (1.5)")


# %% The book's RNNModelScratch, one step at a time
class ScratchRNNLM:
    """The book's ``RNNModelScratch``, one step at a time:

        X_t = onehot(x_t)                              (B, V)
        H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)      (B, H)   RNNCell.step_forward
        O_t = H_t W_hq + b_q                           (B, V)   Linear
    """

    def __init__(self, vocab_size, num_hiddens, seed=0):
        rng = np.random.default_rng(seed)
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.onehot = OneHot(vocab_size)
        self.cell = RNNCell(vocab_size, num_hiddens, rng=rng)    # W_xh, W_hh ~ N(0, 0.01^2), b_h = 0
        self.output = Linear(num_hiddens, vocab_size, rng=rng)   # W_hq ~ N(0, 0.01^2), b_q = 0
        self.params = {**self.cell.params, "W_hq": self.output.params["W"],
                       "b_q": self.output.params["b"]}
        self.grads = {**self.cell.grads, "W_hq": self.output.grads["W"],
                      "b_q": self.output.grads["b"]}

    def begin_state(self, batch_size):
        return (np.zeros((batch_size, self.num_hiddens), dtype=np.float32),)  # (H_0,) = (0,), as the book

    def zero_grad(self):
        self.cell.zero_grad()
        self.output.zero_grad()

    def forward(self, X, state=None):
        """ids X (B, T), state (H_0,) with H_0 (B, H) -> logits (B, T, V), (H_T,)."""
        inputs = self.onehot.forward(X.T)                  # (T, B, V): time first, as the book
        state = self.begin_state(X.shape[0]) if state is None else state
        self.caches, outputs = [], []
        for X_t in inputs:                                 # the time loop: t = 1 .. T
            state, cache = self.cell.step_forward(X_t, state)  # H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)
            self.caches.append(cache)                      # X_t, H_{t-1}, H_t for the backward
            outputs.append(state[0])
        logits = self.output.forward(np.stack(outputs))    # O_t = H_t W_hq + b_q  (T, B, V)
        return logits.transpose(1, 0, 2), state

    def backward(self, dlogits):
        """dL/dlogits (B, T, V) -> (dL/dH_0,) (B, H); adds every parameter's gradient."""
        dHs = self.output.backward(dlogits.transpose(1, 0, 2))   # dL/dH_t from O_t: dO_t W_hq^T  (T, B, H)
        dh_next = np.zeros_like(dHs[0])                          # nothing flows in from after step T
        for t in reversed(range(len(self.caches))):              # back through time: t = T .. 1
            # dL/dH_t has two parts: from the output at t, and from H_{t+1} (through W_hh)
            _, (dh_next,) = self.cell.step_backward((dHs[t] + dh_next,), self.caches[t])
        return (dh_next,)                                        # dL/dH_0: truncation drops it


# %% The book's train_ch8
def train_scratch(model, train_iter, vocab, num_epochs, lr, theta, use_random_iter,
                  progress=True):
    """The book's ``train_ch8`` / ``train_epoch_ch8``; returns per-epoch records."""
    loss, updater = SoftmaxCrossEntropy(), SGD(model.params, model.grads, lr)
    history = []
    bar = tqdm(range(1, num_epochs + 1), unit="epoch", desc="training",
               disable=None if progress else True)
    for epoch in bar:
        state, nll_sum, num_tokens = None, 0.0, 0
        for X, Y in train_iter:                                  # X, Y: (B, T) token ids
            if state is None or use_random_iter:
                state = model.begin_state(X.shape[0])            # random sampling: fresh state
            # sequential: the state is carried over; as a plain array it carries no graph,
            # so the gradient stops at the minibatch edge (the book's detach_)
            model.zero_grad()
            logits, state = model.forward(X, state)              # (B, T, V)
            nll = loss.forward(logits, Y)                        # mean over the B*T tokens
            model.backward(loss.backward())                      # BPTT within the minibatch
            grad_clipping(model, theta)                          # g <- min(1, theta/||g||) g
            updater.step()                                       # theta <- theta - lr g
            nll_sum, num_tokens = nll_sum + nll * Y.size, num_tokens + Y.size
        ppl = perplexity(nll_sum / num_tokens)                   # exp(mean NLL per token)
        history.append({"epoch": epoch, "train_ppl": ppl})
        bar.set_postfix(ppl=f"{ppl:.2f}")
        if epoch % 10 == 0:
            tqdm.write(f"epoch {epoch}: {predict('time traveller', 50, model, vocab)!r}")
    return history


# %% The step-by-step model against the vectorized RNNLM
def check_against_rnnlm(vocab_size, num_hiddens):
    """The step-by-step model and minirnn's vectorized RNNLM compute the same thing:
    returns the largest relative difference of their outputs and of their gradients."""
    scratch, fast = ScratchRNNLM(vocab_size, num_hiddens, seed=1), RNNLM(vocab_size, num_hiddens)
    names = {"rnn.W_xh": "W_xh", "rnn.W_hh": "W_hh", "rnn.b_h": "b_h", "output.W": "W_hq",
             "output.b": "b_q"}
    for name, p in names.items():
        fast.params[name][...] = scratch.params[p]
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, vocab_size, size=(2, 4, 35))          # ids and targets (B, T)
    results = []
    for model in (scratch, fast):
        loss = SoftmaxCrossEntropy()
        model.zero_grad()
        logits, (h,) = model.forward(X)                          # scratch: (B, H); RNNLM: (1, B, H)
        loss.forward(logits, Y)
        model.backward(loss.backward())
        results.append([logits, h.reshape(X.shape[0], -1)] + [model.grads[names[n] if model is scratch else n] for n in names])

    def rel(a, b):
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    return max(rel(a, b) for a, b in zip(*results))


# %% Train, report, sample, plot
def main(argv=None):
    parser = example_parser(__doc__, "num_epochs", "num_hiddens", SAMPLING, "seed", "out",
                            "no_progress", defaults={"num_epochs": 500, "num_hiddens": 512,
                                                     "sampling": "sequential"})
    args = parser.parse_args(argv)              # every flag checked, --out writable
    random = args.sampling == "random"

    batch_size, num_steps, lr, theta = 32, 35, 1.0, 1.0          # the book's
    train_iter, vocab = load_data_time_machine(batch_size, num_steps, use_random_iter=random,
                                               seed=args.seed)
    check_run_memory({"num_hiddens": args.num_hiddens, "batch_size": batch_size,
                      "num_steps": num_steps}, len(vocab), copies=3, flags="--hidden")
    print(f"step-by-step model vs vectorized RNNLM: logits, state and every gradient agree "
          f"to {check_against_rnnlm(len(vocab), args.num_hiddens):.1e} (relative, float32)")
    model = ScratchRNNLM(len(vocab), args.num_hiddens, seed=args.seed)
    history = train_scratch(model, train_iter, vocab, args.num_epochs, lr, theta, random,
                            progress=not args.no_progress)
    ppl = [r["train_ppl"] for r in history]
    best = int(np.argmin(ppl))
    print(f"perplexity {ppl[-1]:.2f} after {args.num_epochs} epoch"
          f"{'s' * (args.num_epochs != 1)} (the "
          f"book: {1.5 if random else 1.0} after 500); lowest {ppl[best]:.2f} at epoch "
          f"{best + 1}, mean of the last 10 epochs {np.mean(ppl[-10:]):.2f} (lr 1: the curve "
          f"has spikes)")
    print(predict("time traveller", 50, model, vocab))
    print(predict("traveller", 50, model, vocab))
    kind = "random sampling" if random else "sequential partitioning"
    path = plot_history(history, args.out / "rnn_scratch_perplexity.png",
                        title=f"RNN from scratch (d2l 0.17), hidden {args.num_hiddens}, {kind}")
    print(f"figure: {path}")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
