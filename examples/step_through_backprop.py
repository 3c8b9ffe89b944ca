"""Step through one forward and one backward pass of a tiny RNN language model.

    python examples/step_through_backprop.py     # prints every quantity, and the pdb
                                                 # commands that stop in RNN.backward_steps' loop

A vocabulary of 4 tokens, 3 hidden units, 3 time steps, batch 1: every array is small
enough to read whole.  The book's names: X_t one-hot inputs, H_t hidden states,
O_t outputs (logits), L the mean cross-entropy.  The breakpoint's line number is computed
from the source (``backward_loop_line``), so it is right for the code you have.
"""
# %% [markdown]
# The tiny model, with weights large enough that the numbers are visible.
# %%
import inspect
from pathlib import Path

import numpy as np

from minirnn.gradcheck import check_model
from minirnn.layers import RNN
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM


def backward_loop_line() -> tuple[str, int]:
    """(file relative to the clone's root, line) of the time loop in ``RNN.backward_steps``
    (the derivatives ``RNN.backward`` runs)."""
    lines, first = inspect.getsourcelines(RNN.backward_steps)
    offset = next(i for i, line in enumerate(lines) if "for t in reversed(range(T)):" in line)
    path = Path(inspect.getsourcefile(RNN)).resolve()
    root = Path(__file__).resolve().parent.parent
    try:
        path = path.relative_to(root)
    except ValueError:                                  # minirnn installed elsewhere
        pass
    return str(path), first + offset


np.set_printoptions(precision=4, suppress=True)

V, H, T = 4, 3, 3                                  # vocab, num_hiddens, num_steps
model = RNNLM(V, H, seed=0).astype(np.float64)     # float64 so the check below is exact
rng = np.random.default_rng(0)
for p in model.params.values():                    # larger weights than N(0, 0.01^2),
    p[...] = rng.normal(0, 0.5, p.shape)           # so the numbers are visible
loss_fn = SoftmaxCrossEntropy()

X = np.array([[0, 1, 2]])                          # (B=1, T=3): input tokens
Y = np.array([[1, 2, 3]])                          # targets: X shifted by one token

file, line = backward_loop_line()
print("To stop in RNN.backward_steps' time loop and watch dh_next flow back, from the clone's root:")
print("    PYTHONPATH=. python -m pdb examples/step_through_backprop.py")
print(f"    (Pdb) b {file}:{line}")
print("    (Pdb) c")
print("    (Pdb) p t, dh_next          # then 'n' to step, 'c' for the next t")

# %% [markdown]
# Forward: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h),  O_t = H_t W_hq + b_q.
# %%
logits, state = model.forward(X)                   # (1, 3, 4), ((1, 1, 3),)
loss = loss_fn.forward(logits, Y)
print("H_0 .. H_T (model.rnn.cache.H[:, 0]):\n", model.rnn.cache.H[:, 0])
print("O_t (logits[0]):\n", logits[0])
print(f"L = mean_t -log softmax(O_t)[y_t] = {loss:.4f}")

# %% [markdown]
# Backward: the breakpoint above stops in RNN.backward_steps at every step t.
# %%
dlogits = loss_fn.backward()                       # (softmax(O) - onehot(Y)) / (B*T)
model.zero_grad()
(dh0,) = model.backward(dlogits)                   # returns dL/dstate0 = (dL/dH_0,)
print("dL/dO_t (dlogits[0]):\n", dlogits[0])
dH_out = dlogits[0] @ model.params["output.W"].T   # dL/dH_t from the output at t alone
print("dL/dH_t from the output at t, dO_t W_hq^T:\n", dH_out)
print("dL/dH_0:\n", dh0[0])
for name, g in model.grads.items():
    print(f"dL/d{name} {g.shape}:\n{g}")

# %% [markdown]
# And the proof: every gradient against centered differences.
# %%
for name, err in check_model(model, X).items():
    print(f"gradient check {name:<10} max relative error {err:.1e}")
