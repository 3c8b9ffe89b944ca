"""Step through one forward and one backward pass of a tiny RNN language model.

    python examples/step_through_backprop.py            # prints every quantity
    PYTHONPATH=. python -m pdb examples/step_through_backprop.py   # from the clone's root;
    (Pdb) b minirnn/layers.py:518                                   # RNN.backward's time loop
    (Pdb) c

A vocabulary of 4 tokens, 3 hidden units, 3 time steps, batch 1: every array is small
enough to read whole.  The book's names: X_t one-hot inputs, H_t hidden states,
O_t outputs (logits), L the mean cross-entropy.
"""
import numpy as np

from minirnn.gradcheck import check_model
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM

np.set_printoptions(precision=4, suppress=True)

V, H, T = 4, 3, 3                                  # vocab, num_hiddens, num_steps
model = RNNLM(V, H, seed=0).astype(np.float64)     # float64 so the check below is exact
rng = np.random.default_rng(0)
for p in model.params.values():                    # larger weights than N(0, 0.01^2),
    p[...] = rng.normal(0, 0.5, p.shape)           # so the numbers are visible
loss_fn = SoftmaxCrossEntropy()

X = np.array([[0, 1, 2]])                          # (B=1, T=3): input tokens
Y = np.array([[1, 2, 3]])                          # targets: X shifted by one token

# ---- forward: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h),  O_t = H_t W_hq + b_q
logits, state = model.forward(X)                   # (1, 3, 4), (1, 3)
loss = loss_fn.forward(logits, Y)
print("H_0 .. H_T (model.rnn._H[:, 0]):\n", model.rnn._H[:, 0])
print("O_t (logits[0]):\n", logits[0])
print(f"L = mean_t -log softmax(O_t)[y_t] = {loss:.4f}")

# ---- backward: set a breakpoint in RNN.backward to watch dh_next flow back through time
dlogits = loss_fn.backward()                       # (softmax(O) - onehot(Y)) / (B*T)
model.zero_grad()
dstate0 = model.backward(dlogits)                  # returns dL/dH_0
print("dL/dO_t (dlogits[0]):\n", dlogits[0])
print("dL/dZ_t = dL/dH_t * (1 - H_t^2) (model.rnn._dZ[:, 0]):\n", model.rnn._dZ[:, 0])
print("dL/dH_0:\n", dstate0)
for name, g in model.grads.items():
    print(f"dL/d{name} {g.shape}:\n{g}")

# ---- and the proof: every gradient against centered differences
for name, err in check_model(model, X).items():
    print(f"gradient check {name:<10} max relative error {err:.1e}")
