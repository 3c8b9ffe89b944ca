"""CPU time of one training step of the RNN language model, for an A/B of two checkouts
taking turns: ``PYTHONPATH=<checkout> python benchmarks/ab_step.py 1.0`` (or ``0.17``) prints
the median of 20 steps' ``time.process_time`` (after 5 warm-up steps) at the book's 1.0
shape (B 1024, T 32, H 32, V 28) or 0.17 shape (B 32, T 35, H 512, V 28)."""
import os, sys, time
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import numpy as np
from minirnn.models import RNNLM
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.optim import SGD, clip_grad_norm
B, T, V, H = (1024, 32, 28, 32) if sys.argv[1] == "1.0" else (32, 35, 28, 512)
rng = np.random.default_rng(0)
model = RNNLM(V, H, seed=0)
opt, loss = SGD(model.params, model.grads, 1.0), SoftmaxCrossEntropy()
X, Y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
times = []
for i in range(25):
    t0 = time.process_time()
    model.zero_grad(); logits, _ = model.forward(X); loss.forward(logits, Y)
    model.backward(loss.backward()); clip_grad_norm(model.grads, 1.0); opt.step()
    times.append(time.process_time() - t0)
print(np.median(times[5:]))
