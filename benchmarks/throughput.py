"""Training throughput of minirnn, against the GEMM bound, a naive loop and PyTorch.

    python benchmarks/throughput.py                  # every configuration, every core
    python benchmarks/throughput.py --threads 1      # one BLAS (and PyTorch) thread
    python benchmarks/throughput.py --threads 1 --configs '0.17 concise' '0.17 GRU' \
        '0.17 GRU book' '0.17 LSTM' '0.17 deep LSTM' # the gated cells (and the RNN) at H = 256
    python benchmarks/throughput.py --tiny           # a smoke run (what the test suite runs)

One training step is the book's: ``RNNLM.forward`` -> ``SoftmaxCrossEntropy`` forward and
backward -> ``RNNLM.backward`` -> ``clip_grad_norm`` (theta = 1) -> ``SGD.step`` (lr = 1),
in float32, on random token ids (no corpus needed).  Tokens per second = B*T / step time.
The configurations: the RNN at the book's shapes, and the gated cells at the 0.17 book's
(hidden 256, batch 32, 35 steps, one-hot, V = 28): PyTorch's GRU (``reset_after=True``),
the book's GRU, the LSTM and a 2-layer LSTM.  For each, in one run on this machine:

* **minirnn**: the median step time over ``--repeats`` steps after ``--warmup`` steps
  (and, in a second table, the fastest step; in a third, the median CPU time of a step,
  ``time.process_time``, which leaves out the waits for a core on a busy machine: with one
  thread, the steadiest measure there);
* **GEMM bound**: the same matrix products alone (``gemm_products``: same shapes and
  operand layouts, preallocated outputs), timed in the same run; *share* = GEMM time /
  minirnn time;
* **naive**: the classic 100-line NumPy character RNN (min-char-rnn): Python loops over
  the examples and the steps, one-hot ``(1, V)`` rows times the weight matrices;
  *speed-up* = naive time / minirnn time, the two taking turns step by step (they compute
  the same loss and gradients).  The one-layer RNN only: there is no naive gated loop
  ("n/a"; the readable ``GRUCell`` / ``LSTMCell`` are batched, not that loop);
* **PyTorch** (when importable; never a dependency): ``torch.nn.RNN`` / ``GRU`` / ``LSTM``
  + ``torch.nn.Linear`` on one-hot inputs (``nn.Embedding`` for the embedding model)
  holding the same weights (``minirnn.interop``), the same step, ``torch.set_num_threads``
  = the BLAS threads; none for the book's GRU, which no PyTorch module computes;
* **memory**, after the timing, in a fresh process per configuration: the peak of
  NumPy's allocations (``tracemalloc``, which NumPy reports to): the model's parameters and
  gradients plus ``minirnn.bptt.measure_peak_bytes`` over its first forward, loss and
  backward; and the growth of the peak resident set size over the process's baseline
  (``import numpy, minirnn`` and a tiny model of the same kind trained once).  Both against
  the *nominal* bytes: parameters, gradients, optimizer state (none for SGD), BPTT caches
  (``cache_bytes``) and the batch.

The implementations take turns in blocks of ``--block`` steps, so that a machine shared
with other jobs slows them alike; the load average is printed with the results.
``--choices`` also times the alternatives behind the design choices of the vectorized core.
Writes ``<out>/throughput.md`` (the tables of docs/performance.md) and ``throughput.json``, and prints them.
"""
from __future__ import annotations

import os
import sys


def _set_blas_threads(argv) -> int:
    """``--threads N`` (default: every core).  BLAS reads its thread count when NumPy loads,
    so the environment is set here, before ``import numpy`` (unless NumPy is already loaded,
    e.g. when a test imports this module)."""
    threads = os.cpu_count() or 1
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv) and argv[i + 1].isdigit():
            threads = int(argv[i + 1])
        elif arg.startswith("--threads=") and arg.split("=", 1)[1].isdigit():
            threads = int(arg.split("=", 1)[1])
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    return threads


THREADS = _set_blas_threads(sys.argv)

import argparse                                  # noqa: E402  (after the BLAS threads are set)
import json                                      # noqa: E402
import platform                                  # noqa: E402
import resource                                  # noqa: E402
import subprocess                                # noqa: E402
import time                                      # noqa: E402
import warnings                                  # noqa: E402
from typing import Callable, NamedTuple          # noqa: E402

import numpy as np                               # noqa: E402
from tqdm import tqdm                            # noqa: E402

from minirnn.bptt import measure_peak_bytes      # noqa: E402
from minirnn.interop import to_torch_state_dict, torch_module_args   # noqa: E402
from minirnn.layers import RNN, OneHot, scatter_add_rows   # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy   # noqa: E402
from minirnn.models import RNNLM                 # noqa: E402
from minirnn.optim import SGD, clip_grad_norm    # noqa: E402

LR, THETA = 1.0, 1.0                             # the book's learning rate and clipping norm
TARGETS = {"torch": 1.0, "gemm_share": 0.5, "naive": 30.0, "memory": 1.5}   # the RNN's
GATED_TARGETS = {"torch": 1.0, "gemm_share": 0.6, "naive": None, "memory": 1.5}


class Config(NamedTuple):
    """One shape: vocabulary V, hidden H, batch B, steps T, embedding E (None: one-hot), and
    the recurrent layer: ``cell`` ``'rnn'``, ``'gru'`` or ``'lstm'``, ``num_layers``, and
    for the GRU ``reset_after`` (True: PyTorch's ``nn.GRU``; False: the book's)."""
    name: str
    vocab_size: int
    num_hiddens: int
    batch_size: int
    num_steps: int
    embed_dim: int | None = None
    cell: str = "rnn"
    num_layers: int = 1
    reset_after: bool = False

    @property
    def tokens(self) -> int:
        return self.batch_size * self.num_steps

    @property
    def input_size(self) -> int:
        return self.vocab_size if self.embed_dim is None else self.embed_dim

    @property
    def gates(self) -> int:
        """G: the gate blocks of the fused weights (RNN 1, GRU 3, LSTM 4)."""
        return GATES[self.cell]

    @property
    def layer(self) -> str:
        """The recurrent layer, for the tables: ``LSTM x 2``, ``GRU (book's)``."""
        name = self.cell.upper()
        if self.cell == "gru":
            name += " (PyTorch's)" if self.reset_after else " (book's)"
        return name + (f" x {self.num_layers}" if self.num_layers > 1 else "")

    @property
    def has_torch(self) -> bool:
        """Whether a PyTorch module computes this model (the book's GRU has none)."""
        return self.cell != "gru" or self.reset_after

    @property
    def has_naive(self) -> bool:
        """Whether the naive loop exists for it (one-layer RNN only: min-char-rnn)."""
        return self.cell == "rnn" and self.num_layers == 1


GATES = {"rnn": 1, "gru": 3, "lstm": 4}
CONFIGS = [
    Config("0.17 scratch", 28, 512, 32, 35),
    Config("1.0 scratch", 28, 32, 1024, 32),
    Config("0.17 concise", 28, 256, 32, 35),
    Config("embedding", 28, 256, 32, 35, embed_dim=32),
    # the 0.17 book's gated chapter: hidden 256, batch 32, 35 steps, one-hot, V = 28
    Config("0.17 GRU", 28, 256, 32, 35, cell="gru", reset_after=True),
    Config("0.17 GRU book", 28, 256, 32, 35, cell="gru"),
    Config("0.17 LSTM", 28, 256, 32, 35, cell="lstm"),
    Config("0.17 deep LSTM", 28, 256, 32, 35, cell="lstm", num_layers=2),
]
GATED = [c.name for c in CONFIGS if c.cell != "rnn"]
TINY = [Config("tiny one-hot", 5, 8, 3, 4), Config("tiny embedding", 5, 8, 3, 4, embed_dim=3),
        Config("tiny GRU", 5, 8, 3, 4, cell="gru", reset_after=True),
        Config("tiny GRU book", 5, 8, 3, 4, cell="gru"),
        Config("tiny deep LSTM", 5, 8, 3, 4, cell="lstm", num_layers=2)]
BY_NAME = {c.name: c for c in CONFIGS + TINY}


# ------------------------------------------------------------------ what is timed
def random_batch(cfg: Config, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``X`` and targets ``Y``, both ``(B, T)`` int64, as the data iterators give them."""
    rng = np.random.default_rng(seed)
    shape = (cfg.batch_size, cfg.num_steps)
    return rng.integers(0, cfg.vocab_size, shape), rng.integers(0, cfg.vocab_size, shape)


def make_model(cfg: Config, dtype=np.float32) -> RNNLM:
    return RNNLM(cfg.vocab_size, cfg.num_hiddens, embed_dim=cfg.embed_dim, seed=0, dtype=dtype,
                 cell=cfg.cell, num_layers=cfg.num_layers, reset_after=cfg.reset_after)


def make_minirnn_step(model: RNNLM, X: np.ndarray, Y: np.ndarray) -> Callable[[], float]:
    """The training step being measured; it returns the loss."""
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.params, model.grads, lr=LR)
    grads = model.grads

    def step() -> float:
        model.zero_grad()
        logits, _ = model.forward(X)
        loss = loss_fn.forward(logits, Y)
        model.backward(loss_fn.backward())
        clip_grad_norm(grads, THETA)
        optimizer.step()
        return loss
    return step


def randn(rng: np.random.Generator, *shape, scale: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Normal random entries of the given shape, in ``dtype``."""
    return (scale * rng.standard_normal(shape)).astype(dtype)


def gemm_products(cfg: Config, dtype=np.float32) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every matrix product of one minirnn training step, in its order, as ``(a, b, out)``
    for ``np.matmul(a, b, out=out)``: the shapes and operand layouts (transposed views,
    contiguous copies, column blocks) of the layers' own products, on random arrays.

    Per recurrent layer (input size D_k: D, then H; G gates; N = T*B), forward: the input
    projections ``(N, D_k) @ (D_k, G*H)`` and per step ``(B, H) @ (H, G*H)`` (the book's
    GRU: ``(B, H) @ (H, 2H)`` for R and Z, then ``(R*H)(B, H) @ (H, H)``); then the output
    layer ``(N, H) @ (H, V)``.  Backward: the output layer's ``dW_hq`` and ``dL/dH``; per
    layer, last first, per step ``(B, G*H) @ (G*H, H)`` (the book's GRU: ``(B, H) @ (H, H)``
    and ``(B, 2H) @ (2H, H)``), then ``dW_x``, ``dW_h`` (the book's GRU: two blocks) and
    ``dL/dX`` (skipped for one-hot inputs).  So every weight matrix takes part in three
    products of N rows, except one-hot inputs' ``W_x``, in two."""
    T, B, H, V, G = cfg.num_steps, cfg.batch_size, cfg.num_hiddens, cfg.vocab_size, cfg.gates
    N = T * B
    rng = np.random.default_rng(0)

    def a(*shape):
        return randn(rng, *shape, scale=0.1, dtype=dtype)

    book_gru = cfg.cell == "gru" and not cfg.reset_after
    layers = []                                                # what each layer's products use
    for k in range(cfg.num_layers):
        D = cfg.input_size if k == 0 else H
        W_x, W_h = a(D, G * H), a(H, G * H)
        L = {"X": a(N, D), "W_x": W_x, "W_h": W_h, "Hbuf": a(T + 1, B, H),
             "gates": a(N, G * H), "dA": a(T, B, G * H), "hw": a(B, G * H), "dh": a(B, H),
             "dW_x": a(D, G * H), "dW_h": a(H, G * H), "dX": a(N, D),
             "input_grad": k > 0 or cfg.embed_dim is not None}
        if book_gru:
            L.update(W_hrz=np.ascontiguousarray(W_h[:, :2 * H]),   # the layer's contiguous copies
                     W_hh=np.ascontiguousarray(W_h[:, 2 * H:]),
                     W_hrz_T=np.ascontiguousarray(W_h[:, :2 * H].T),
                     W_hh_T=np.ascontiguousarray(W_h[:, 2 * H:].T),
                     RH=a(T, B, H), hw=a(B, 2 * H), tmp=a(B, H), drh=a(B, H),
                     dW_hrz=a(H, 2 * H), dW_hh=a(H, H))
        else:
            L["W_h_T"] = np.ascontiguousarray(W_h.T)
            L["dHW"] = a(T, B, G * H) if cfg.cell == "gru" else L["dA"]   # reset_after: its own
        layers.append(L)
    W_hq, logits, dlogits, dHs, dW_hq = a(H, V), a(N, V), a(N, V), a(N, H), a(H, V)
    Hs2 = layers[-1]["Hbuf"][1:].reshape(N, H)

    products = []
    for L in layers:                                           # forward, first layer first
        products.append((L["X"], L["W_x"], L["gates"]))        # input projections
        for t in range(T):                                     # recurrence, forward
            if book_gru:
                products.append((L["Hbuf"][t], L["W_hrz"], L["hw"]))    # H_{t-1} [W_hr | W_hz]
                products.append((L["RH"][t], L["W_hh"], L["tmp"]))      # (R_t * H_{t-1}) W_hh
            else:
                products.append((L["Hbuf"][t], L["W_h"], L["hw"]))      # H_{t-1} W_h
    products.append((Hs2, W_hq, logits))                       # outputs
    products.append((Hs2.T, dlogits, dW_hq))                   # dW_hq
    products.append((dlogits, W_hq.T, dHs))                    # dL/dH from the outputs
    for L in reversed(layers):                                 # backward, last layer first
        dA, Hprev2 = L["dA"], L["Hbuf"][:-1].reshape(N, H)
        dA2 = dA.reshape(N, G * H)
        for t in reversed(range(T)):                           # recurrence, backward
            if book_gru:
                products.append((dA[t, :, 2 * H:], L["W_hh_T"], L["drh"]))  # da_h W_hh^T
                products.append((dA[t, :, :2 * H], L["W_hrz_T"], L["dh"]))  # [da_r | da_z] [.]^T
            else:
                products.append((dA[t], L["W_h_T"], L["dh"]))              # dA_t W_h^T
        products.append((L["X"].T, dA2, L["dW_x"]))            # dW_x
        if book_gru:
            products.append((Hprev2.T, dA2[:, :2 * H], L["dW_hrz"]))            # d[W_hr | W_hz]
            products.append((L["RH"].reshape(N, H).T, dA2[:, 2 * H:], L["dW_hh"]))  # dW_hh
        else:
            products.append((Hprev2.T, L["dHW"].reshape(N, G * H), L["dW_h"]))   # dW_h
        if L["input_grad"]:                                    # one-hot inputs skip dL/dX
            products.append((dA2, L["W_x"].T, L["dX"]))        # dL/dX = dA W_x^T
    return products


def gemm_flops(products) -> int:
    """Floating-point operations of the products: 2 m k n each."""
    return sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in products)


def make_gemm_step(cfg: Config, dtype=np.float32) -> Callable[[], None]:
    """Only the matrix products of one minirnn training step (``gemm_products``), into
    preallocated outputs: the time BLAS alone needs for the step."""
    products = gemm_products(cfg, dtype)
    matmul = np.matmul

    def step() -> None:
        for x, w, out in products:
            matmul(x, w, out=out)
    return step


def naive_loss_and_grads(params: dict, X: np.ndarray, Y: np.ndarray):
    """The classic loop (min-char-rnn, in the book's row-vector convention): one example at
    a time, one step at a time, each input a one-hot ``(1, V)`` row times the weights.

    params: minirnn's dotted names.  Returns ``(mean loss, grads)`` for the same mean loss
    as minirnn's step, so the two compute the same thing (a test checks it).
    """
    W_xh, W_hh, b_h = params["rnn.W_xh"], params["rnn.W_hh"], params["rnn.b_h"]
    W_hq, b_q = params["output.W"], params["output.b"]
    W_emb = params.get("embedding.W")                          # None: one-hot inputs
    B, T = X.shape
    V, H, dtype = W_hq.shape[1], W_hh.shape[0], W_hh.dtype
    grads = {k: np.zeros_like(p) for k, p in params.items()}
    n, total = B * T, 0.0
    for b in range(B):
        xs, inputs, hs, ps = [], [], [np.zeros((1, H), dtype)], []
        for t in range(T):                                     # forward, one token at a time
            x = np.zeros((1, V), dtype)
            x[0, X[b, t]] = 1                                  # one-hot (1, V)
            inp = x if W_emb is None else x @ W_emb            # (1, D)
            h = np.tanh(inp @ W_xh + hs[-1] @ W_hh + b_h)      # (1, H)
            o = h @ W_hq + b_q                                 # (1, V)
            p = np.exp(o - o.max())
            p /= p.sum()
            total -= float(np.log(p[0, Y[b, t]]))
            xs.append(x)
            inputs.append(inp)
            hs.append(h)
            ps.append(p)
        dh_next = np.zeros((1, H), dtype)
        for t in reversed(range(T)):                           # backward, one token at a time
            do = ps[t].copy()
            do[0, Y[b, t]] -= 1
            do /= n                                            # (softmax - onehot) / N
            grads["output.W"] += hs[t + 1].T @ do
            grads["output.b"] += do[0]
            dh = do @ W_hq.T + dh_next
            dz = dh * (1 - hs[t + 1] ** 2)
            grads["rnn.b_h"] += dz[0]
            grads["rnn.W_xh"] += inputs[t].T @ dz
            grads["rnn.W_hh"] += hs[t].T @ dz
            if W_emb is not None:
                grads["embedding.W"] += xs[t].T @ (dz @ W_xh.T)
            dh_next = dz @ W_hh.T
    return total / n, grads


def make_naive_step(params: dict, X: np.ndarray, Y: np.ndarray) -> Callable[[], float]:
    """The naive step on its own copy of the parameters: loop gradients, clip, SGD."""
    params = {k: p.copy() for k, p in params.items()}

    def step() -> float:
        loss, grads = naive_loss_and_grads(params, X, Y)
        clip_grad_norm(grads, THETA)
        for k, p in params.items():
            p -= LR * grads[k]
        return loss
    return step


def torch_version() -> str | None:
    """PyTorch's version if it can be imported, else None (it is optional)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def make_torch_model(cfg: Config, model: RNNLM):
    """``torch.nn.RNN`` / ``GRU`` / ``LSTM`` + ``torch.nn.Linear`` (+ ``nn.Embedding``)
    holding ``model``'s weights, through ``minirnn.interop`` (PyTorch's names, layouts and
    gate orders; the second recurrent bias carries only the GRU's ``b_hn``, else zero).
    Forward: ids ``(T, B)`` -> logits ``(T, B, V)``.  The book's GRU has no PyTorch module
    (``to_torch_state_dict`` refuses it)."""
    import torch

    name, kwargs = torch_module_args(model.rnn)

    class TorchRNNLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            V, H, E = cfg.vocab_size, cfg.num_hiddens, cfg.embed_dim
            if E is not None:
                self.embedding = torch.nn.Embedding(V, E)
            self.rnn = getattr(torch.nn, name)(**kwargs)       # time-major (T, B, D)
            self.output = torch.nn.Linear(H, V)

        def forward(self, X_tb):
            if cfg.embed_dim is None:
                inputs = torch.nn.functional.one_hot(X_tb, cfg.vocab_size).to(torch.float32)
            else:
                inputs = self.embedding(X_tb)
            Hs, _ = self.rnn(inputs)
            return self.output(Hs)

    net = TorchRNNLM()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(model).items()})
    return net


def make_torch_step(cfg: Config, model: RNNLM, X: np.ndarray, Y: np.ndarray, threads: int,
                    onednn: bool = True):
    """The same training step in PyTorch: forward, mean cross-entropy, backward,
    ``clip_grad_norm_``, SGD.  On the CPU, ``nn.LSTM`` runs oneDNN's fused LSTM kernels
    (``aten::mkldnn_rnn_layer`` and its backward); ``onednn=False`` turns oneDNN off for the
    step (``torch.backends.mkldnn.flags``), so it runs PyTorch's own per-step operators, as
    ``nn.RNN`` and ``nn.GRU`` always do."""
    import torch
    torch.set_num_threads(threads)
    net = make_torch_model(cfg, model)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    X_tb = torch.from_numpy(np.ascontiguousarray(X.T))
    Y_flat = torch.from_numpy(np.ascontiguousarray(Y.T)).reshape(-1)

    def step() -> float:
        optimizer.zero_grad()
        logits = net(X_tb)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), Y_flat)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), THETA)
        optimizer.step()
        return loss.item()

    def step_without_onednn() -> float:
        with warnings.catch_warnings():                        # torch warns about TF32 here
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):
                return step()
    return step if onednn else step_without_onednn


# ------------------------------------------------------------------ timing and memory
def time_in_turns(steps: dict[str, Callable], repeats: int, warmup: int, block: int,
                  progress=None, cpu_times: dict | None = None) -> dict[str, np.ndarray]:
    """Seconds per call of each function.  After ``warmup`` untimed calls each, the
    functions take turns, ``block`` calls at a time, until each has ``repeats`` timed calls.
    ``cpu_times``, a dict, receives each call's CPU seconds too (``time.process_time``)."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    while any(len(t) < repeats for t in times.values()):
        for name, fn in steps.items():
            for _ in range(min(block, repeats - len(times[name]))):
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
                if progress is not None:
                    progress.update(1)
    if cpu_times is not None:
        cpu_times.update({name: np.array(t) for name, t in cpu.items()})
    return {name: np.array(t) for name, t in times.items()}


def cache_bytes(cfg: Config, itemsize: int = 4) -> int:
    """The BPTT caches of one window: what the forward keeps for the backward, and the
    window-long arrays every BPTT backward builds.  Output side: the logits, the softmax
    and ``dL/dlogits``, ``3 x (T, B, V)``.  Kept by each recurrent layer (input size D_k:
    D, then H; G gates): the inputs ``(T, B, D_k)`` and the states ``H_0..H_T``
    ``(T+1, B, H)``; the gated cells' gates ``(T, B, G*H)``, and the book's GRU
    ``R_t * H_{t-1}``, PyTorch's GRU ``H_{t-1} W_hh + b_hn`` (each ``(T, B, H)``), the LSTM
    ``C_0..C_T`` ``(T+1, B, H)`` and ``tanh(C_t)`` ``(T, B, H)``.  Built by the backward
    of one layer at a time (a stack's layers run their backward in turn): ``dL/dH`` from
    above ``(T, B, H)`` and ``dL/d(pre-activations)`` (the RNN's ``dL/dZ`` ``(T, B, H)``,
    a gated cell's ``(T, B, G*H)``), and for PyTorch's GRU ``da_h * R_t`` ``(T, B, H)``
    (for ``dW_hh`` and ``db_hn``).

    Temporaries that live one phase (``f'``, contiguous copies of a weight, the
    weight-gradient GEMMs' results) are not counted: they are what the 1.5x allows."""
    T, B, H, V, G = cfg.num_steps, cfg.batch_size, cfg.num_hiddens, cfg.vocab_size, cfg.gates
    N = T * B
    kept = {"rnn": 0, "gru": N * G * H + N * H,
            "lstm": N * G * H + (T + 1) * B * H + N * H}[cfg.cell]
    built = N * H + N * G * H + (N * H if cfg.cell == "gru" and cfg.reset_after else 0)
    items = 3 * N * V + built
    for k in range(cfg.num_layers):
        D = cfg.input_size if k == 0 else H
        items += N * D + (T + 1) * B * H + kept
    return itemsize * items


def nominal_bytes(cfg: Config, model: RNNLM) -> dict[str, int]:
    """What training must hold: parameters, gradients, optimizer state (plain SGD: none),
    the BPTT caches and the minibatch (ids and targets, int64)."""
    params = sum(p.nbytes for p in model.params.values())
    return {"params": params, "grads": params, "optimizer": 0,
            "caches": cache_bytes(cfg, np.dtype(model.rnn.dtype).itemsize),
            "batch": 2 * cfg.tokens * np.dtype(np.int64).itemsize}


def peak_rss_bytes() -> int:
    """The process's peak resident set size.  Linux: ``VmHWM``, which (unlike ``ru_maxrss``,
    inherited through fork and exec) starts afresh in a new program."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024           # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def traced_peak_bytes(model: RNNLM, X: np.ndarray, Y: np.ndarray) -> int:
    """Peak of NumPy's allocations in training a *fresh* ``model`` (its buffers not yet
    allocated): its parameters and gradients, plus ``minirnn.bptt.measure_peak_bytes`` over
    the first forward, loss and backward (clipping and SGD then allocate less than that)."""
    held = sum(a.nbytes for a in model.params.values()) + sum(a.nbytes for a in model.grads.values())
    return held + measure_peak_bytes(model, X, Y)


def measure_memory(cfg: Config, steps: int = 3) -> dict:
    """Peak memory of training ``cfg``, measured in *this* process (run it in a fresh one).
    A tiny model trains first, so that lazy imports and BLAS's buffers are in the baseline."""
    tiny = TINY[0]._replace(embed_dim=None if cfg.embed_dim is None else 3, cell=cfg.cell,
                            num_layers=cfg.num_layers, reset_after=cfg.reset_after)
    make_minirnn_step(make_model(tiny), *random_batch(tiny))()
    rss_baseline = peak_rss_bytes()
    model = make_model(cfg)
    X, Y = random_batch(cfg)
    traced = traced_peak_bytes(model, X, Y)
    step = make_minirnn_step(model, X, Y)
    for _ in range(steps):
        step()
    return {"traced_peak": traced, "rss_growth": peak_rss_bytes() - rss_baseline,
            "rss_baseline": rss_baseline, "nominal": nominal_bytes(cfg, model),
            "model_cache_bytes": model.cache_bytes(cfg.batch_size, cfg.num_steps)}


def measure_memory_in_subprocesses(cfgs: list[Config], fresh: bool = True) -> list[dict]:
    """``measure_memory`` of each configuration in a fresh process of its own, all started
    at once, after the timing (a process's peaks are its own, whatever runs beside it).
    ``fresh=False`` (the smoke run) measures them all in one process: faster, but each
    RSS growth is then only what a configuration adds to the peaks before it."""
    groups = [[cfg] for cfg in cfgs] if fresh else [cfgs]
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--threads",
                               str(THREADS), "--memory-child", *[cfg.name for cfg in group]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for group in groups]
    results = []
    for group, proc in zip(groups, procs):
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"measuring the memory of {', '.join(c.name for c in group)} "
                               f"failed:\n{err}")
        results += [json.loads(line) for line in out.strip().splitlines()[-len(group):]]
    return results


# ------------------------------------------------------------------ design choices, measured
def measure_choices(repeats: int = 20) -> list[tuple]:
    """Time the alternatives behind the vectorized core's choices at the book's two shapes,
    each pair taking turns.  Rows ``(choice, shape, taken, seconds, alternative, seconds)``."""
    rng = np.random.default_rng(0)
    rows = []
    for cfg in CONFIGS[:2]:
        T, B, H, V = cfg.num_steps, cfg.batch_size, cfg.num_hiddens, cfg.vocab_size
        ids, targets = rng.integers(0, V, (T, B)), rng.integers(0, V, (B, T))
        W_xh, W_hh = randn(rng, V, H), randn(rng, H, H)
        dZ, dX = randn(rng, T, B, H), randn(rng, T, B, 32)
        W_hh_T = np.ascontiguousarray(W_hh.T)
        P, dh, dW, emb = randn(rng, T, B, H), randn(rng, B, H), randn(rng, V, H), randn(rng, V, 32)
        logits = randn(rng, T, B, V).transpose(1, 0, 2)       # (B, T, V), time-major as RNNLM's
        probs = np.empty_like(logits)
        d2 = np.ascontiguousarray(logits).reshape(-1, V)

        def dense():                                           # onehot(ids) W_xh and X^T dZ
            X = OneHot(V).forward(ids).reshape(T * B, V)
            np.matmul(X, W_xh, out=P.reshape(T * B, H))
            dW[...] += X.T @ dZ.reshape(T * B, H)

        def gather():                                          # W_xh[ids] and a scatter-add
            np.take(W_xh, ids, axis=0, out=P, mode="clip")
            scatter_add_rows(dW, ids, dZ)

        z = np.ascontiguousarray(logits.transpose(1, 0, 2)).reshape(-1, V)   # (N, V) rows in memory order
        e, s = np.empty_like(z), np.empty(len(z), np.float32)
        y = targets.T.reshape(-1)
        ones_V, ones_N = np.ones(V, np.float32), np.ones(len(z), np.float32)
        r = randn(rng, len(z), 1)
        r_bt = np.ascontiguousarray(r.reshape(T, B, 1).transpose(1, 0, 2))   # as take_along_axis gives
        dZ2 = dZ.reshape(T * B, H)
        W_xh_b = W_xh + 1.0                                    # W_xh + b_h, for the gather

        def no_shift():                                        # the loss's: exp(z) when |z| <= 44
            if z.max() <= 44 and z.min() >= -44:
                np.exp(z, out=e)

        def shift_by_target():                                 # the loss before: z - z_y, then exp
            z_y = z[np.arange(len(z)), y][:, None]
            np.subtract(z, z_y, out=e)
            np.exp(e, out=e)

        def shift_by_max():
            np.subtract(z, z.max(axis=1, keepdims=True), out=e)
            np.exp(e, out=e)

        def one_hot_gemm_forward():                            # onehot(ids) W_xh + b_h
            X = OneHot(V).forward(ids).reshape(T * B, V)
            np.matmul(X, W_xh, out=P.reshape(T * B, H))
            P[...] += W_xh[0]

        def gather_forward():                                  # (W_xh + b_h)[ids]: no one-hot
            np.take(W_xh_b, ids, axis=0, out=P)

        pairs = [
            ("one-hot inputs: X W_xh and dW_xh", "one-hot GEMMs", dense,
             "row gather + scatter-add", gather),
            ("one-hot inputs: X W_xh + b_h, forward only", "one-hot GEMM, + b_h", one_hot_gemm_forward,
             "gather of (W_xh + b_h) rows", gather_forward),
            ("embedding gradient (E = 32)", "scatter_add_rows (flat np.add.at)",
             lambda: scatter_add_rows(emb, ids, dX), "np.add.at on rows",
             lambda: np.add.at(emb, ids.reshape(-1), dX.reshape(-1, 32))),
            ("softmax: the shift before exp", "none while |z| <= 44 (max, min checked)", no_shift,
             "target logit", shift_by_target),
            ("softmax: the shift before exp", "none while |z| <= 44 (max, min checked)", no_shift,
             "row max", shift_by_max),
            ("softmax: a column (one number a row) against the logits", "(N, V) rows, (N, 1) column",
             lambda: np.subtract(z, r, out=e), "(B, T, V) view, C-ordered (B, T, 1) column",
             lambda: np.subtract(logits, r_bt, out=probs)),
            ("row sums over V", "BLAS matvec e 1", lambda: np.matmul(z, ones_V, out=s),
             'np.einsum("nv->n")', lambda: np.einsum("nv->n", z)),
            ("bias gradient", "BLAS matvec d^T 1", lambda: d2.T @ ones_N,
             'np.einsum("nk->k")', lambda: np.einsum("nk->k", d2)),
            ("backward loop: dZ_t W_hh^T, T times", "contiguous W_hh^T",
             lambda: [np.matmul(dZ[t], W_hh_T, out=dh) for t in range(T)], "view W_hh.T",
             lambda: [np.matmul(dZ[t], W_hh.T, out=dh) for t in range(T)]),
        ]
        for choice, taken, f, alternative, g in pairs:
            times = time_in_turns({"taken": f, "alternative": g}, repeats, 2, 1)
            rows.append((choice, cfg.name, taken, float(np.median(times["taken"])), alternative,
                         float(np.median(times["alternative"]))))
    return rows


# ------------------------------------------------------------------ the run and its tables
def benchmark(cfg: Config, repeats: int, naive_repeats: int, warmup: int, block: int,
              use_torch: bool, use_naive: bool, progress=None, onednn: bool = True) -> dict:
    X, Y = random_batch(cfg)
    steps = {"minirnn": make_minirnn_step(make_model(cfg), X, Y), "gemm": make_gemm_step(cfg)}
    if use_torch and cfg.has_torch:
        steps["torch"] = make_torch_step(cfg, make_model(cfg), X, Y, THREADS, onednn)
    cpu = {}
    times = time_in_turns(steps, repeats, warmup, block, progress, cpu)
    if use_naive and cfg.has_naive:                            # slow: fewer steps, each one
        naive = make_naive_step(make_model(cfg).params, X, Y)  # paired with a minirnn step
        paired = time_in_turns({"naive": naive, "minirnn_paired": steps["minirnn"]},
                               naive_repeats, 1, 1, progress, cpu)
        times.update(paired)
    median = {name: float(np.median(t)) for name, t in times.items()}
    return {"config": cfg._asdict(), "gemm_flops": gemm_flops(gemm_products(cfg)),
            "median_s": median,
            "fastest_s": {name: float(np.min(t)) for name, t in times.items()},
            "cpu_median_s": {name: float(np.median(t)) for name, t in cpu.items()},
            "tokens_per_s": {name: cfg.tokens / s for name, s in median.items()}}


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _ratio(x: float | None, least: float | None = None, most: float | None = None,
           fmt: str = "{:.2f}x") -> str:
    """``x`` formatted, marked "(missed)" when below ``least`` or above ``most``."""
    if x is None:
        return "n/a"
    missed = (least is not None and x < least) or (most is not None and x > most)
    return fmt.format(x) + (" (missed)" if missed else "")


def targets_for(name: str, threads: int) -> dict:
    """The targets of a configuration (None: none).  The RNN's: 1.0x PyTorch, 50% of the
    GEMM bound at H >= 512, 30x the naive loop, memory 1.5x; the gated cells': 1.0x PyTorch
    with one thread, 60% of the GEMM bound, memory 1.5x.  Tiny shapes have none."""
    cfg = BY_NAME[name]
    if cfg not in CONFIGS:
        return {k: None for k in TARGETS}
    if cfg.cell == "rnn":
        return dict(TARGETS, gemm_share=TARGETS["gemm_share"] if cfg.num_hiddens >= 512 else None)
    return dict(GATED_TARGETS, torch=GATED_TARGETS["torch"] if threads == 1 else None)


def markdown_tables(results: list[dict], threads: int, load: tuple, version: str | None,
                    command: str | None = None, onednn: bool = True) -> str:
    proc = platform.processor() or platform.machine()
    command = command or f"python benchmarks/throughput.py --threads {threads}"
    lines = [
        f"`{command}`: {proc}, {os.cpu_count()} cores, "
        f"NumPy {np.__version__}, {threads} BLAS thread(s), "
        + (f"PyTorch {version} ({threads} thread(s){', oneDNN off' if not onednn else ''})"
           if version else "no PyTorch")
        + f"; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end. "
        "Median of the timed steps; one step = forward, loss, "
        "backward, clipping, SGD update, float32.", "",
        "| configuration | layer | H | B | T | V | E | minirnn tokens/s | GEMM bound tokens/s | "
        "share of GEMM bound | naive tokens/s | speed-up vs naive | PyTorch tokens/s | "
        "minirnn / PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        c, rate, med = r["config"], r["tokens_per_s"], r["median_s"]
        targets = targets_for(c["name"], threads)
        share = med["gemm"] / med["minirnn"]
        naive = med["naive"] / med["minirnn_paired"] if "naive" in med else None
        torch_ratio = rate["minirnn"] / rate["torch"] if "torch" in rate else None
        lines.append(
            f"| {c['name']} | {BY_NAME[c['name']].layer} | {c['num_hiddens']} | "
            f"{c['batch_size']} | {c['num_steps']} | "
            f"{c['vocab_size']} | {c['embed_dim'] or 'one-hot'} | {_rate(rate['minirnn'])} | "
            f"{_rate(rate['gemm'])} | {_ratio(share, targets['gemm_share'], fmt='{:.0%}')} | "
            f"{_rate(rate.get('naive'))} | {_ratio(naive, targets['naive'], fmt='{:.0f}x')} | "
            f"{_rate(rate.get('torch'))} | {_ratio(torch_ratio, targets['torch'])} |")
    lines += ["", "The fastest step of each (other jobs can only slow a step down):", "",
              "| configuration | minirnn tokens/s | GEMM bound tokens/s | share of GEMM bound | "
              "PyTorch tokens/s | minirnn / PyTorch |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        c, fast = r["config"], r["fastest_s"]
        tokens = c["batch_size"] * c["num_steps"]
        lines.append(f"| {c['name']} | {_rate(tokens / fast['minirnn'])} | "
                     f"{_rate(tokens / fast['gemm'])} | {fast['gemm'] / fast['minirnn']:.0%} | "
                     + ("n/a | n/a |" if "torch" not in fast else
                        f"{_rate(tokens / fast['torch'])} | {fast['torch'] / fast['minirnn']:.2f}x |"))
    lines += ["", "CPU time of a step, median (`time.process_time`): the work itself, without the "
              "time spent waiting for a core on a busy machine" + ("" if threads == 1 else
              " (with more than one thread, the threads' CPU time adds up: compare with care)")
              + ":", "", "| configuration | minirnn ms | GEMM bound ms | share of GEMM bound | "
              "PyTorch ms | minirnn / PyTorch |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        c, cpu = r["config"], r["cpu_median_s"]
        lines.append(f"| {c['name']} | {cpu['minirnn'] * 1e3:.1f} | {cpu['gemm'] * 1e3:.1f} | "
                     f"{cpu['gemm'] / cpu['minirnn']:.0%} | "
                     + ("n/a | n/a |" if "torch" not in cpu else
                        f"{cpu['torch'] * 1e3:.1f} | {cpu['torch'] / cpu['minirnn']:.2f}x |"))
    lines += ["", "| configuration | nominal MB: params + grads + caches + batch | peak traced MB "
              "| traced / nominal | peak RSS growth MB | RSS growth / nominal | RSS baseline MB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        m = r["memory"]
        most = targets_for(r["config"]["name"], threads)["memory"]
        nominal = sum(m["nominal"].values())
        parts = " + ".join(f"{m['nominal'][k] / 1e6:.2f}"
                           for k in ("params", "grads", "caches", "batch"))
        lines.append(
            f"| {r['config']['name']} | {nominal / 1e6:.2f} = {parts} | {m['traced_peak'] / 1e6:.2f} | "
            f"{_ratio(m['traced_peak'] / nominal, most=most)} | {m['rss_growth'] / 1e6:.1f} | "
            f"{_ratio(m['rss_growth'] / nominal, most=most)} | {m['rss_baseline'] / 1e6:.0f} |")
    return "\n".join(lines) + "\n"


def choices_table(rows: list[tuple]) -> str:
    lines = ["| choice | shape | taken | ms | alternative | ms | alternative / taken |",
             "|---|---|---|---:|---|---:|---:|"]
    for choice, shape, taken, t_taken, alt, t_alt in rows:
        lines.append(f"| {choice} | {shape} | {taken} | {t_taken * 1e3:.3f} | {alt} | "
                     f"{t_alt * 1e3:.3f} | {t_alt / t_taken:.1f}x |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="BLAS and PyTorch threads (default: every core, %(default)s here)")
    parser.add_argument("--configs", nargs="+", choices=[c.name for c in CONFIGS], metavar="NAME",
                        help="a subset of: " + ", ".join(repr(c.name) for c in CONFIGS))
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, few repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per implementation")
    parser.add_argument("--naive-repeats", type=int, default=5,
                        help="timed steps of the naive loop, each paired with a minirnn step")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--block", type=int, default=5, help="steps in a row before the next turn")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if importable")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive loop")
    parser.add_argument("--torch-no-onednn", action="store_true",
                        help="PyTorch without oneDNN (whose fused kernels run nn.LSTM on the CPU)")
    parser.add_argument("--choices", action="store_true",
                        help="also time the alternatives behind the core's design choices")
    parser.add_argument("--out", default="figures", help="folder for the tables (default: figures/)")
    parser.add_argument("--memory-child", nargs="+", choices=list(BY_NAME), help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, least in (("threads", 1), ("repeats", 1), ("naive_repeats", 1), ("warmup", 0),
                        ("block", 1)):
        value = getattr(args, name)
        if value < least:
            parser.error(f"--{name.replace('_', '-')} must be at least {least}, got {value}")
    if args.memory_child:
        for name in args.memory_child:
            print(json.dumps(measure_memory(BY_NAME[name])))
        return 0
    if args.tiny:
        configs, args.repeats, args.naive_repeats, args.warmup = TINY, 2, 1, 1
    else:
        configs = [c for c in CONFIGS if not args.configs or c.name in args.configs]
    version = None if args.no_torch else torch_version()
    total = sum((3 if version and cfg.has_torch else 2) * args.repeats + (args.threads > 1) * args.repeats
                + (2 * args.naive_repeats if cfg.has_naive and not args.no_naive else 0)
                for cfg in configs)
    load_start = os.getloadavg()[0]
    results = []
    with tqdm(total=total, desc="timed steps", unit="step",
              disable=None) as progress:
        for cfg in configs:
            progress.set_postfix_str(cfg.name)
            results.append(benchmark(cfg, args.repeats, args.naive_repeats, args.warmup,
                                     args.block, version is not None, not args.no_naive, progress,
                                     onednn=not args.torch_no_onednn))
    load_end = os.getloadavg()[0]
    for r, memory in zip(results, measure_memory_in_subprocesses(configs, fresh=not args.tiny)):
        r["memory"] = memory
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/throughput.py"] + [f"'{a}'" if " " in a else a
                                                              for a in given])
    text = markdown_tables(results, args.threads, (load_start, load_end), version, command,
                           onednn=not args.torch_no_onednn)
    if args.choices:
        text += "\n" + choices_table(measure_choices(5 if args.tiny else 30))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "throughput.md")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "throughput.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
