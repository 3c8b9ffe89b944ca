"""Step through one forward and one backward pass of a tiny language model, in pdb.

    python examples/step_through_backprop.py               # the RNN: every quantity, and
                                                           # the pdb command to run next
    python examples/step_through_backprop.py --cell lstm   # the LSTM: its gates, dC_t

A vocabulary of 4 tokens, 3 hidden units, 3 time steps, batch 1: every array is small
enough to read whole.  The book's names: X_t one-hot inputs, H_t hidden states,
O_t outputs (logits), L the mean cross-entropy.  The script prints a ``python -m pdb``
command whose breakpoint is the line of the backward time loop in the file Python
imports here (``backward_loop_line``), however minirnn was installed: run it from the
same folder, with the same Python.
"""
# %% [markdown]
# The tiny model, with weights large enough that the numbers are visible.
# %%
import inspect
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np

from minirnn.gradcheck import check_model
from minirnn.layers import LSTM, RNN
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM
from minirnn.settings import Setting, example_parser, run_script

#: What to type at the stop, for each cell: (command, what it shows).
HINTS = {
    "rnn": [("p t, n", "the step being differentiated (T-1 down to 0), the rows still running"),
            ("p dh", "dL/dH_t = dHs[t] (from O_t) + dh_next (from H_{t+1})"),
            ("n", "run the cell's step_grad: dZ[t] and dh_next now hold the step's results"),
            ("p dZ[t]", "dL/dZ_t = dL/dH_t * (1 - H_t^2), tanh' from the output"),
            ("p dh_next", "dL/dH_{t-1} = dZ_t W_hh^T, what flows on to step t-1"),
            ("u", "up to the model's backward (RNNLM.backward); 'd' comes back down"),
            ("c", "on to the next step t")],
    "lstm": [("p t, n", "the step being differentiated (T-1 down to 0), the rows still running"),
             ("p dh, dc", "dL/dH_t (output + step t+1) and dL/dC_t from C_{t+1} only"),
             ("s", "into LSTMCell.step_grad; then 'n' line by line"),
             ("p I, F, O, Cc", "the gates of step t (in step_grad)"),
             ("p dc", "after its first line: the whole dL/dC_t, + dh * O * (1 - tanh^2 C_t)"),
             ("p dc * F", "dL/dC_{t-1}: dC flows back through the forget gate F_t"),
             ("r", "to step_grad's return; 'n' back to the loop, then 'u' up to RNNLM.backward")],
}


def backward_loop_line(layer=RNN) -> tuple[str, int]:
    """(absolute path of the file Python imported, line) of the call of the cell's
    ``step_grad`` inside ``layer.backward``'s time loop."""
    lines, first = inspect.getsourcelines(layer.backward)
    offset = next(i for i, line in enumerate(lines) if "self.step_grad(" in line)
    return str(Path(inspect.getsourcefile(layer)).resolve()), first + offset


def pdb_command(cell: str) -> str:
    """The one command that stops pdb in the backward time loop of ``cell``."""
    file, line = backward_loop_line(LSTM if cell == "lstm" else RNN)
    script = Path(sys.argv[0]).as_posix() if sys.argv and sys.argv[0] else __file__
    args = [] if cell == "rnn" else ["--cell", cell]
    on_path = shutil.which("python")                   # "python" if it is this Python
    same = on_path and Path(on_path).resolve() == Path(sys.executable).resolve()
    return shlex.join(["python" if same else sys.executable, "-m", "pdb", "-c", f"b {file}:{line}",
                       "-c", "c", script, *args])


CELL = Setting("cell", "--cell", ("rnn", "lstm"), "rnn", "the recurrent cell to step through")


def main(argv=None) -> int:
    args = example_parser(__doc__, CELL).parse_args(argv)
    np.set_printoptions(precision=4, suppress=True)

    V, H, T = 4, 3, 3                                  # vocab, num_hiddens, num_steps
    model = RNNLM(V, H, seed=0, cell=args.cell).astype(np.float64)   # float64: the check is exact
    rng = np.random.default_rng(0)
    for p in model.params.values():                    # larger weights than N(0, 0.01^2),
        p[...] = rng.normal(0, 0.5, p.shape)           # so the numbers are visible
    loss_fn = SoftmaxCrossEntropy()

    X = np.array([[0, 1, 2]])                          # (B=1, T=3): input tokens
    Y = np.array([[1, 2, 3]])                          # targets: X shifted by one token

    layer = "LSTM" if args.cell == "lstm" else "RNN"
    print(f"To stop in {layer}.backward's time loop, at the call of the cell's step_grad, run:")
    print(f"    {pdb_command(args.cell)}")
    print("and at the (Pdb) prompt:")
    for command, shows in HINTS[args.cell]:
        print(f"    {command:<16} # {shows}")

# %% [markdown]
    # Forward: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h) (the LSTM: its gates), O_t = H_t W_hq + b_q.
# %%
    logits, state = model.forward(X)                   # (1, 3, 4), ((1, 1, 3),) (LSTM: (h, c))
    loss = loss_fn.forward(logits, Y)
    print("H_0 .. H_T (model.rnn.cache.H[:, 0]):\n", model.rnn.cache.H[:, 0])
    if args.cell == "lstm":
        print("C_0 .. C_T (model.rnn.cache.C[:, 0]):\n", model.rnn.cache.C[:, 0])
        print("[I_t | F_t | O_t | C~_t] (model.rnn.cache.gates[:, 0]):\n", model.rnn.cache.gates[:, 0])
    print("O_t (logits[0]):\n", logits[0])
    print(f"L = mean_t -log softmax(O_t)[y_t] = {loss:.4f}")

# %% [markdown]
    # Backward: the breakpoint above stops in the layer's backward at every step t.
# %%
    dlogits = loss_fn.backward()                       # (softmax(O) - onehot(Y)) / (B*T)
    model.zero_grad()
    dstate0 = model.backward(dlogits)                  # returns dL/dstate0 = (dL/dH_0,) (+ dL/dC_0)
    print("dL/dO_t (dlogits[0]):\n", dlogits[0])
    dH_out = dlogits[0] @ model.params["output.W"].T   # dL/dH_t from the output at t alone
    print("dL/dH_t from the output at t, dO_t W_hq^T:\n", dH_out)
    print("dL/dH_0:\n", dstate0[0][0])
    for name, g in model.grads.items():
        print(f"dL/d{name} {g.shape}:\n{g}")

# %% [markdown]
    # And the proof: every gradient against centered differences.
# %%
    for name, err in check_model(model, X, eps=1e-5).items():
        print(f"gradient check {name:<10} max relative error {err:.1e}")
    return 0


if __name__ == "__main__":
    run_script(main)
