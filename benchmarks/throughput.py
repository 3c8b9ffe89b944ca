"""Training throughput of minirnn, against the GEMM bound, a naive loop and PyTorch.

    python benchmarks/throughput.py                  # the four configurations, every core
    python benchmarks/throughput.py --threads 1      # one BLAS (and PyTorch) thread: 45 s here
    python benchmarks/throughput.py --tiny           # a smoke run (what the test suite runs)

One training step is the book's: ``RNNLM.forward`` -> ``SoftmaxCrossEntropy`` forward and
backward -> ``RNNLM.backward`` -> ``clip_grad_norm`` (theta = 1) -> ``SGD.step`` (lr = 1),
in float32, on random token ids (no corpus needed).  Tokens per second = B*T / step time.
For each configuration, in one run on this machine:

* **minirnn**: the median step time over ``--repeats`` steps after ``--warmup`` steps
  (and, in a second table, the fastest step);
* **GEMM bound**: the same matrix products alone (same shapes and operand layouts,
  preallocated outputs), timed in the same run; *share* = GEMM time / minirnn time;
* **naive**: the classic 100-line NumPy character RNN (min-char-rnn): Python loops over
  the examples and the steps, one-hot ``(1, V)`` rows times the weight matrices;
  *speed-up* = naive time / minirnn time, the two taking turns step by step (they compute
  the same loss and gradients);
* **PyTorch** (when importable; never a dependency): ``torch.nn.RNN`` + ``torch.nn.Linear``
  on one-hot inputs (``nn.Embedding`` for the embedding model) holding the same weights,
  the same step, ``torch.set_num_threads`` = the BLAS threads;
* **memory**, in a fresh process per configuration: the peak of NumPy's allocations
  (``tracemalloc``, which NumPy reports to): the model's parameters and gradients plus
  ``minirnn.bptt.measure_peak_bytes`` over its first forward, loss and backward; and the
  growth of the peak resident set size over the process's baseline (``import numpy,
  minirnn`` and a tiny model trained once).  Both against the *nominal* bytes: parameters,
  gradients, optimizer state (none for SGD), BPTT caches (``cache_bytes``) and the batch.

The implementations take turns in blocks of ``--block`` steps, so that a machine shared
with other jobs slows them alike; the load average is printed with the results.
``--choices`` also times the alternatives behind the design choices of the vectorized core.
Writes ``<out>/throughput.md`` (the README's tables) and ``throughput.json``, and prints them.
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
from typing import Callable, NamedTuple          # noqa: E402

import numpy as np                               # noqa: E402
from tqdm import tqdm                            # noqa: E402

from minirnn.bptt import measure_peak_bytes      # noqa: E402
from minirnn.layers import OneHot, scatter_add_rows   # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy   # noqa: E402
from minirnn.models import RNNLM                 # noqa: E402
from minirnn.optim import SGD, clip_grad_norm    # noqa: E402

LR, THETA = 1.0, 1.0                             # the book's learning rate and clipping norm
TARGETS = {"torch": 1.0, "gemm_share": 0.5, "naive": 30.0, "memory": 1.5}


class Config(NamedTuple):
    """One shape: vocabulary V, hidden H, batch B, steps T, embedding E (None: one-hot)."""
    name: str
    vocab_size: int
    num_hiddens: int
    batch_size: int
    num_steps: int
    embed_dim: int | None = None

    @property
    def tokens(self) -> int:
        return self.batch_size * self.num_steps

    @property
    def input_size(self) -> int:
        return self.vocab_size if self.embed_dim is None else self.embed_dim


CONFIGS = [
    Config("0.17 scratch", 28, 512, 32, 35),
    Config("1.0 scratch", 28, 32, 1024, 32),
    Config("0.17 concise", 28, 256, 32, 35),
    Config("embedding", 28, 256, 32, 35, embed_dim=32),
]
TINY = [Config("tiny one-hot", 5, 8, 3, 4), Config("tiny embedding", 5, 8, 3, 4, embed_dim=3)]
BY_NAME = {c.name: c for c in CONFIGS + TINY}


# ------------------------------------------------------------------ what is timed
def random_batch(cfg: Config, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``X`` and targets ``Y``, both ``(B, T)`` int64, as the data iterators give them."""
    rng = np.random.default_rng(seed)
    shape = (cfg.batch_size, cfg.num_steps)
    return rng.integers(0, cfg.vocab_size, shape), rng.integers(0, cfg.vocab_size, shape)


def make_model(cfg: Config, dtype=np.float32) -> RNNLM:
    return RNNLM(cfg.vocab_size, cfg.num_hiddens, embed_dim=cfg.embed_dim, seed=0, dtype=dtype)


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


def make_gemm_step(cfg: Config, dtype=np.float32) -> Callable[[], None]:
    """Only the matrix products of one minirnn training step, with its shapes and operand
    layouts, into preallocated outputs: the time BLAS alone needs for the step."""
    T, B, H, V, D = cfg.num_steps, cfg.batch_size, cfg.num_hiddens, cfg.vocab_size, cfg.input_size
    N = T * B
    rng = np.random.default_rng(0)

    def a(*shape):
        return randn(rng, *shape, scale=0.1, dtype=dtype)

    X, W_xh, W_hh, W_hq = a(N, D), a(D, H), a(H, H), a(H, V)
    W_hh_T = np.ascontiguousarray(W_hh.T)
    Hbuf, dZ, dlogits = a(T + 1, B, H), a(T, B, H), a(N, V)
    P, step_out, logits, dHs = a(N, H), a(B, H), a(N, V), a(N, H)
    dW_xh, dW_hh, dW_hq, dX = a(D, H), a(H, H), a(H, V), a(N, D)
    Hs2, Hprev2, dZ2 = Hbuf[1:].reshape(N, H), Hbuf[:-1].reshape(N, H), dZ.reshape(N, H)

    def step() -> None:
        np.matmul(X, W_xh, out=P)                              # input projections
        for t in range(T):
            np.matmul(Hbuf[t], W_hh, out=step_out)             # recurrence, forward
        np.matmul(Hs2, W_hq, out=logits)                       # outputs
        np.matmul(Hs2.T, dlogits, out=dW_hq)                   # dW_hq
        np.matmul(dlogits, W_hq.T, out=dHs)                    # dL/dH from the outputs
        for t in range(T):
            np.matmul(dZ[t], W_hh_T, out=step_out)             # recurrence, backward
        np.matmul(X.T, dZ2, out=dW_xh)                         # dW_xh
        np.matmul(Hprev2.T, dZ2, out=dW_hh)                    # dW_hh
        if cfg.embed_dim is not None:
            np.matmul(dZ2, W_xh.T, out=dX)                     # dL/dX (one-hot inputs skip it)
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
    """``torch.nn.RNN`` + ``torch.nn.Linear`` (+ ``nn.Embedding``) holding ``model``'s weights;
    torch's second recurrent bias ``bias_hh`` is zero.  Forward: ids ``(T, B)`` -> logits
    ``(T, B, V)``."""
    import torch

    class TorchRNNLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            V, H, E = cfg.vocab_size, cfg.num_hiddens, cfg.embed_dim
            self.embedding = None if E is None else torch.nn.Embedding(V, E)
            self.rnn = torch.nn.RNN(cfg.input_size, H)         # tanh, time-major (T, B, D)
            self.output = torch.nn.Linear(H, V)

        def forward(self, X_tb):
            if self.embedding is None:
                inputs = torch.nn.functional.one_hot(X_tb, cfg.vocab_size).to(torch.float32)
            else:
                inputs = self.embedding(X_tb)
            Hs, _ = self.rnn(inputs)
            return self.output(Hs)

    net = TorchRNNLM()
    p = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.params.items()}
    with torch.no_grad():
        net.rnn.weight_ih_l0.copy_(p["rnn.W_xh"].T)            # torch stores W^T
        net.rnn.weight_hh_l0.copy_(p["rnn.W_hh"].T)
        net.rnn.bias_ih_l0.copy_(p["rnn.b_h"])
        net.rnn.bias_hh_l0.zero_()
        net.output.weight.copy_(p["output.W"].T)
        net.output.bias.copy_(p["output.b"])
        if net.embedding is not None:
            net.embedding.weight.copy_(p["embedding.W"])
    return net


def make_torch_step(cfg: Config, model: RNNLM, X: np.ndarray, Y: np.ndarray, threads: int):
    """The same training step in PyTorch: forward, mean cross-entropy, backward,
    ``clip_grad_norm_``, SGD."""
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
    return step


# ------------------------------------------------------------------ timing and memory
def time_in_turns(steps: dict[str, Callable], repeats: int, warmup: int, block: int,
                  progress=None) -> dict[str, np.ndarray]:
    """Seconds per call of each function.  After ``warmup`` untimed calls each, the
    functions take turns, ``block`` calls at a time, until each has ``repeats`` timed calls."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in steps}
    while any(len(t) < repeats for t in times.values()):
        for name, fn in steps.items():
            for _ in range(min(block, repeats - len(times[name]))):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
                if progress is not None:
                    progress.update(1)
    return {name: np.array(t) for name, t in times.items()}


def cache_bytes(cfg: Config, itemsize: int = 4) -> int:
    """The BPTT caches of one window: what the forward keeps for the backward, the inputs
    ``(T, B, D)``, the states ``H_0..H_T`` ``(T+1, B, H)``, the logits and the softmax
    ``2 x (T, B, V)``; and the window-long arrays every BPTT backward builds,
    ``dL/dlogits`` ``(T, B, V)``, ``dL/dH`` from the outputs and ``dL/dZ`` ``2 x (T, B, H)``."""
    T, B, H, V, D = cfg.num_steps, cfg.batch_size, cfg.num_hiddens, cfg.vocab_size, cfg.input_size
    return itemsize * (T * B * D + (T + 1) * B * H + 2 * T * B * H + 3 * T * B * V)


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
    tiny = TINY[0] if cfg.embed_dim is None else TINY[1]
    make_minirnn_step(make_model(tiny), *random_batch(tiny))()
    rss_baseline = peak_rss_bytes()
    model = make_model(cfg)
    X, Y = random_batch(cfg)
    traced = traced_peak_bytes(model, X, Y)
    step = make_minirnn_step(model, X, Y)
    for _ in range(steps):
        step()
    return {"traced_peak": traced, "rss_growth": peak_rss_bytes() - rss_baseline,
            "rss_baseline": rss_baseline, "nominal": nominal_bytes(cfg, model)}


def measure_memory_in_subprocess(cfg: Config) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(THREADS),
                          "--memory-child", cfg.name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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

        def shift_by_target():
            z_y = np.take_along_axis(logits, targets[..., None], axis=-1)
            if logits.max() - logits.min() <= 44:
                np.subtract(logits, z_y, out=probs)

        def shift_by_max():
            np.subtract(logits, logits.max(axis=-1, keepdims=True), out=probs)

        pairs = [
            ("one-hot inputs: X W_xh and dW_xh", "one-hot GEMMs", dense,
             "row gather + scatter-add", gather),
            ("embedding gradient (E = 32)", "scatter_add_rows (flat np.add.at)",
             lambda: scatter_add_rows(emb, ids, dX), "np.add.at on rows",
             lambda: np.add.at(emb, ids.reshape(-1), dX.reshape(-1, 32))),
            ("softmax shift before exp", "target logit (+ spread check)", shift_by_target,
             "row max", shift_by_max),
            ("row sums over V", 'np.einsum("...v->...")', lambda: np.einsum("...v->...", logits),
             ".sum(axis=-1)", lambda: logits.sum(axis=-1)),
            ("bias gradient", 'np.einsum("nk->k")', lambda: np.einsum("nk->k", d2),
             ".sum(axis=0)", lambda: d2.sum(axis=0)),
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
              use_torch: bool, use_naive: bool, progress=None) -> dict:
    X, Y = random_batch(cfg)
    steps = {"minirnn": make_minirnn_step(make_model(cfg), X, Y), "gemm": make_gemm_step(cfg)}
    if use_torch:
        steps["torch"] = make_torch_step(cfg, make_model(cfg), X, Y, THREADS)
    times = time_in_turns(steps, repeats, warmup, block, progress)
    if use_naive:                                              # slow: fewer steps, each one
        naive = make_naive_step(make_model(cfg).params, X, Y)  # paired with a minirnn step
        paired = time_in_turns({"naive": naive, "minirnn_paired": steps["minirnn"]},
                               naive_repeats, 1, 1, progress)
        times.update(paired)
    median = {name: float(np.median(t)) for name, t in times.items()}
    return {"config": cfg._asdict(), "median_s": median,
            "fastest_s": {name: float(np.min(t)) for name, t in times.items()},
            "tokens_per_s": {name: cfg.tokens / s for name, s in median.items()},
            "memory": measure_memory_in_subprocess(cfg)}


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _ratio(x: float | None, least: float | None = None, most: float | None = None,
           fmt: str = "{:.2f}x") -> str:
    """``x`` formatted, marked "(missed)" when below ``least`` or above ``most``."""
    if x is None:
        return "n/a"
    missed = (least is not None and x < least) or (most is not None and x > most)
    return fmt.format(x) + (" (missed)" if missed else "")


def markdown_tables(results: list[dict], threads: int, load: tuple, version: str | None) -> str:
    proc = platform.processor() or platform.machine()
    lines = [
        f"`python benchmarks/throughput.py --threads {threads}`: {proc}, {os.cpu_count()} cores, "
        f"NumPy {np.__version__}, {threads} BLAS thread(s), "
        + (f"PyTorch {version} ({threads} thread(s))" if version else "no PyTorch")
        + f"; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end. "
        "Median of the timed steps; one step = forward, loss, "
        "backward, clipping, SGD update, float32.", "",
        "| configuration | H | B | T | V | E | minirnn tokens/s | GEMM bound tokens/s | share of "
        "GEMM bound | naive tokens/s | speed-up vs naive | PyTorch tokens/s | minirnn / PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        c, rate, med = r["config"], r["tokens_per_s"], r["median_s"]
        targets = TARGETS if c["name"] in {k.name for k in CONFIGS} else {k: None for k in TARGETS}
        share = med["gemm"] / med["minirnn"]
        naive = med["naive"] / med["minirnn_paired"] if "naive" in med else None
        torch_ratio = rate["minirnn"] / rate["torch"] if "torch" in rate else None
        lines.append(
            f"| {c['name']} | {c['num_hiddens']} | {c['batch_size']} | {c['num_steps']} | "
            f"{c['vocab_size']} | {c['embed_dim'] or 'one-hot'} | {_rate(rate['minirnn'])} | "
            f"{_rate(rate['gemm'])} | "
            f"{_ratio(share, targets['gemm_share'] if c['num_hiddens'] >= 512 else None, fmt='{:.0%}')}"
            " | "
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
    lines += ["", "| configuration | nominal MB: params + grads + caches + batch | peak traced MB "
              "| traced / nominal | peak RSS growth MB | RSS growth / nominal | RSS baseline MB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        m = r["memory"]
        most = TARGETS["memory"] if r["config"]["name"] in {k.name for k in CONFIGS} else None
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
    parser.add_argument("--choices", action="store_true",
                        help="also time the alternatives behind the core's design choices")
    parser.add_argument("--out", default="figures", help="folder for the tables (default: figures/)")
    parser.add_argument("--memory-child", choices=list(BY_NAME), help=argparse.SUPPRESS)
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
        print(json.dumps(measure_memory(BY_NAME[args.memory_child])))
        return 0
    if args.tiny:
        configs, args.repeats, args.naive_repeats, args.warmup = TINY, 2, 1, 1
    else:
        configs = [c for c in CONFIGS if not args.configs or c.name in args.configs]
    version = None if args.no_torch else torch_version()
    per_config = (3 if version else 2) * args.repeats + (0 if args.no_naive else 2 * args.naive_repeats)
    load_start = os.getloadavg()[0]
    results = []
    with tqdm(total=per_config * len(configs), desc="timed steps", unit="step",
              disable=None) as progress:
        for cfg in configs:
            progress.set_postfix_str(cfg.name)
            results.append(benchmark(cfg, args.repeats, args.naive_repeats, args.warmup,
                                     args.block, version is not None, not args.no_naive, progress))
    text = markdown_tables(results, args.threads, (load_start, os.getloadavg()[0]), version)
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
