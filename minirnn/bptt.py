"""Backpropagation through time: the three strategies of the book's BPTT section, and
instruments that show how the gradient flows back through the steps.

Dimension letters: B batch, T steps (``num_steps``), D input, H hidden (``num_hiddens``),
V vocabulary.

Unrolled, the recurrence ``h_t = f(x_t, h_{t-1}, w)`` gives (the book's BPTT section)

    dh_t/dw = df/dw + (df/dh_{t-1}) dh_{t-1}/dw
            = df/dw + sum_{i=1}^{t-1} (prod_{j=i+1}^{t} df/dh_{j-1}) df/dw at step i,

a sum of products of per-step Jacobians ``dh_j/dh_{j-1}``.  The strategies differ in
how much of that sum they keep:

* ``'truncated'`` (regular truncation, the default the book trains with): windows of
  ``num_steps``; the state is carried to the next window but the gradient stops at the
  window edge (the trainer drops ``dL/dstate0``), so every product above is cut after
  at most ``num_steps`` factors.  ``truncation_keep`` writes the same computation as keep
  factors over a whole sequence: 0 at each window edge, 1 elsewhere.
* ``'full'``: the gradient flows over the whole sequence: one window per sequence, so
  the RNN caches every hidden state, input and output distribution of the sequence.
  It is rarely used: (1) memory grows linearly with the sequence length
  (``full_bptt_cache_bytes``: ``4 (4H + 5V) + 8V + 96`` bytes per token in float32 with
  one-hot inputs, so the 173,428 characters of The Time Machine as one sequence with
  H = 512 need about 1.6 GB);
  (2) the model is updated once per pass over the sequence instead of once per window
  (``examples/bptt.py``: 8 times fewer updates an epoch, and per update no better than
  truncation); (3) the long products of Jacobians vanish or explode (see
  ``minirnn.linear_rnn``): in that example the trained model's ``||dL/dh_t||`` falls by
  0.78 a step, so the terms beyond 35 steps are below 2e-4 of the nearest ones.  The book
  adds that truncation's bias towards short-term dependencies even regularizes.
* ``'randomized'`` (Tallec and Ollivier, 2017): going back through time, at each step
  the recurrent gradient is kept with probability ``p`` and then weighted by ``1/p``,
  else cut.  A term that crosses k steps is multiplied by k independent factors of mean
  1, so its expectation is unchanged: the estimate of the gradient is unbiased (its
  variance grows like ``p^-k``).  Over a window the estimate is unbiased for that
  window's gradient; over a whole sequence, for the full gradient.

The RNN's backward takes the per-step factors as ``keep`` (``RNN.backward(..., keep=k)``:
the gradient from ``H_t`` back to ``H_{t-1}`` is multiplied by ``k[t]``).

Gradient-flow instrumentation: ``rnn.record_grad_norms = True`` makes the RNN's backward
store ``||dL/dH_t||`` (Frobenius over the batch) in ``rnn.dh_norms`` (nothing is stored
or computed when it is off); ``jacobian_norms`` computes the per-step Jacobian norms
``||dH_t/dH_{t-1}||`` from the RNN's cached states after a forward; ``gradient_flow``
records both for one minibatch and returns them against the distance from the loss;
``fit_rate`` measures their geometric rate, and ``plot_gradient_flow`` (in
``minirnn.plotting``) draws them.  For any model with a recurrent layer ``model.rnn``
(the gated cells compared in ``examples/gated_cells.py``), ``flow_norms`` records the
norms sequence by sequence in float64 after a loss at the last step only
(``last_step_backward`` for a language model), and ``summarize_flow`` takes their
geometric mean and fitted rate.
"""
from __future__ import annotations

import copy
import tracemalloc
from typing import NamedTuple

import numpy as np

from ._checks import check_int, check_positive_int
from .layers import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, activation_grad
from .losses import SoftmaxCrossEntropy

__all__ = ["BPTT_STRATEGIES", "FullBPTTMemoryError", "validate_strategy", "keep_factors",
           "truncation_keep", "full_bptt_cache_bytes", "check_full_bptt_memory",
           "measure_peak_bytes", "jacobian_norms", "state_jacobians", "GradientFlow",
           "last_step_backward", "flow_norms", "summarize_flow",
           "gradient_flow", "fit_rate"]

BPTT_STRATEGIES = ("truncated", "full", "randomized")


class FullBPTTMemoryError(MemoryError, ValueError):
    """Full BPTT refused: its caches would not fit in the memory limit (raised before any
    allocation).  Both a ``MemoryError`` and a ``ValueError`` (the input is too long)."""


def validate_strategy(bptt: str, p: float | None = None) -> None:
    """Raise ValueError for an unknown strategy or a probability ``p`` outside (0, 1]."""
    if bptt not in BPTT_STRATEGIES:
        raise ValueError(f"bptt must be one of {', '.join(map(repr, BPTT_STRATEGIES))}, got {bptt!r}")
    if bptt == "randomized":
        if p is None or isinstance(p, bool) \
                or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 < p <= 1:
            raise ValueError(f"p (the keep probability of randomized truncation) must be in (0, 1], got {p!r}")


def keep_factors(bptt: str, num_steps: int, p: float | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray | None:
    """Per-step factors for ``RNN.backward(keep=...)``, shape ``(T,)``, or None.

    ``'randomized'``: ``xi_t / p`` with ``xi_t ~ Bernoulli(p)``: kept and reweighted, or cut.
    ``'truncated'`` and ``'full'`` need no factors (None): within a window the gradient
    flows unchanged.
    """
    validate_strategy(bptt, p)
    num_steps = check_positive_int(num_steps, "num_steps")
    if bptt != "randomized":
        return None
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng (a numpy Generator) is required for randomized truncation, "
                         f"got {type(rng).__name__}")
    return (rng.random(num_steps) < p) / p                          # E[xi_t / p] = 1: unbiased


def truncation_keep(seq_len: int, num_steps: int) -> np.ndarray:
    """Regular truncation written as keep factors over a whole sequence, shape ``(seq_len,)``.

    ``keep[t] = 0`` where step t starts a window (t = num_steps, 2 num_steps, ...), else 1:
    one backward over the sequence with these factors gives the same gradient as the
    trainer's windows of ``num_steps`` with the state carried and ``dL/dstate0`` dropped.
    ``keep[0]`` stays 1, so the gradient of the sequence's own initial state is exact.
    """
    seq_len = check_positive_int(seq_len, "seq_len")
    num_steps = check_positive_int(num_steps, "num_steps")
    keep = np.ones(seq_len)
    keep[num_steps::num_steps] = 0.0                                # cut at every window edge
    return keep


def full_bptt_cache_bytes(num_hiddens: int, input_size: int, batch_size: int, num_steps: int,
                          vocab_size: int, itemsize: int = 4) -> int:
    """Bytes one forward, loss and backward of the language model over a window of
    ``num_steps`` allocates: an upper estimate of its peak, so that full BPTT can be refused
    before anything is allocated.  Per token (there are T B of them):

    * hidden side, ``4 H`` items: the states ``(T+1, B, H)``, ``dL/dH`` from the output
      layer, ``f'(Z)`` and ``dL/dZ``;
    * output side, ``3 V`` items: logits, probabilities and ``dL/dlogits``;
    * input side, ``2 D`` items and ``8 D`` bytes: the inputs and ``dL/dX``, and the int64
      flat indices of the embedding's scatter-add (one-hot inputs, D = V, need less);
    * 96 bytes: int64 ids and targets, index arrays and per-token loss terms;

    plus parameter-sized temporaries, ``2 (H^2 + D H + H V)`` items (the contiguous
    ``W_hh^T`` and the weight-gradient GEMMs' results).

    Measured against the peak tracemalloc sees (``measure_peak_bytes``, a fresh model) on
    18 shapes from (V, H, B, T) = (6, 3, 2, 40) to (28, 256, 32, 300), (1000, 32, 4, 200)
    and embeddings of 8 to 500: the estimate is 1.01 to 1.75 times the peak (the largest
    for one-hot inputs with a large V); ``pytest tests/test_bptt.py -k peak`` checks that
    it stays between 1 and 2 times the peak.
    """
    H = check_positive_int(num_hiddens, "num_hiddens")
    D = check_positive_int(input_size, "input_size")
    B = check_positive_int(batch_size, "batch_size")
    T = check_positive_int(num_steps, "num_steps")
    V = check_positive_int(vocab_size, "vocab_size")
    itemsize = check_positive_int(itemsize, "itemsize")
    per_token = itemsize * (4 * H + 3 * V + 2 * D) + 8 * D + 96
    parameter_temporaries = itemsize * 2 * (H * H + D * H + H * V)
    return T * B * per_token + parameter_temporaries


def check_full_bptt_memory(nbytes: int, limit_bytes: int = 2 * 1024 ** 3) -> None:
    """Refuse full BPTT when its caches would need more than ``limit_bytes`` (2 GiB default):
    raise ``FullBPTTMemoryError`` (a MemoryError and a ValueError) giving the bytes needed."""
    nbytes = check_int(nbytes, "nbytes", minimum=0, why="from full_bptt_cache_bytes")
    limit_bytes = check_positive_int(limit_bytes, "limit_bytes")
    if nbytes > limit_bytes:
        raise FullBPTTMemoryError(
            f"full BPTT over this sequence needs about {nbytes:,} bytes of caches, "
            f"more than the limit of {limit_bytes:,} bytes: use bptt='truncated' "
            f"or 'randomized', or a shorter corpus")


def measure_peak_bytes(model, X: np.ndarray, Y: np.ndarray) -> int:
    """Peak bytes allocated (tracemalloc) by one forward, loss and backward of ``model``
    on ids ``X``, targets ``Y`` ``(B, T)``: the number ``full_bptt_cache_bytes`` estimates.
    The model's gradients are added to, as by any backward."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    try:
        loss = SoftmaxCrossEntropy()
        logits, _ = model.forward(X)
        loss.forward(logits, Y)
        model.backward(loss.backward())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peak - start


# --------------------------------------------------------------------------- gradient flow
def jacobian_norms(rnn, ord=2) -> np.ndarray:
    """Per-step Jacobian norms ``||dS_t/dS_{t-1}||`` of the state S from a one-layer
    recurrent layer's last forward (read from ``rnn.cache``), ``(T, B)``.

    For a ``GRU`` or ``LSTM`` (S = (H, C)) the Jacobians come from ``state_jacobians``;
    for the ``RNN`` (S = H) they are written out:

    For ``H_t = f(X_t W_xh + H_{t-1} W_hh + b_h)`` and one sequence b of the batch,

        dH_t/dH_{t-1} = diag(f'(Z_t)) W_hh^T       (H, H), entry [i, j] = dh_t[i]/dh_{t-1}[j]

    and backward applies it as ``dL/dH_{t-1} = dL/dH_t diag(f'(Z_t)) W_hh^T`` (before any
    keep factor), so ``||dL/dH_{t-1}|| <= ||dL/dH_t|| ||dH_t/dH_{t-1}||_2``.
    ``ord=2``: the spectral norm, the square root of the largest eigenvalue of
    ``J J^T = diag(f') W_hh^T W_hh diag(f')`` (a symmetric eigenvalue problem per step and
    sequence: B H^3 flops a step, about 10x faster than an SVD of J);
    ``ord='fro'``: the Frobenius norm, cheap and vectorized over all steps:
    ``||diag(f') W_hh^T||_F^2 = sum_i f'_i^2 sum_j W_hh[j, i]^2``.
    """
    if ord not in (2, "fro"):
        raise ValueError(f"ord must be 2 or 'fro', got {ord!r}")
    if rnn.cache is None:
        raise RuntimeError("jacobian_norms needs a forward pass of the RNN first")
    if not isinstance(rnn, RNN):                                   # GRU, LSTM: from their cells
        return np.linalg.norm(state_jacobians(rnn), ord, axis=(2, 3))
    W_hh = rnn.params["W_hh"]
    fprime = activation_grad(rnn.cache.H[1:], rnn.nonlinearity)   # f'(Z_t) from H_t  (T, B, H)
    T = fprime.shape[0]
    if ord == "fro":
        return np.sqrt((fprime * fprime) @ (W_hh * W_hh).sum(axis=0))  # (T, B)
    WtW = W_hh.T @ W_hh                                            # (H, H)
    out = np.empty(fprime.shape[:2])
    for t in range(T):
        JJt = fprime[t][:, :, None] * WtW * fprime[t][:, None, :]  # J J^T, J = diag(f'_t) W_hh^T  (B, H, H)
        top = np.linalg.eigvalsh(JJt)[:, -1]                       # largest eigenvalue = ||J||_2^2
        out[t] = np.sqrt(np.maximum(top, 0.0))
    return out


def state_jacobians(layer) -> np.ndarray:
    """The Jacobians ``J_t = dS_t/dS_{t-1}`` of every step and sequence of a one-layer
    recurrent layer's last forward, ``(T, B, S*H, S*H)``, S the number of state arrays
    (``(h,)``: 1; the LSTM's ``(h, c)``: 2, h's entries first); entry ``[t, b, j, i]`` is
    ``dS_t[j] / dS_{t-1}[i]`` for sequence b.

    No derivative is written again: the layer's own cell (``RNNCell``, ``GRUCell``,
    ``LSTMCell``, same parameters) redoes step t from the cached ``X_t`` and ``S_{t-1}``, and
    its ``step_backward`` with the upstream gradient ``e_j`` (the j-th unit vector) returns
    row j, ``e_j^T J_t``; all rows of all sequences at once, as one batch of B*S*H.
    """
    cells = {RNN: lambda: RNNCell(layer.input_size, layer.hidden_size, layer.nonlinearity),
             GRU: lambda: GRUCell(layer.input_size, layer.hidden_size, layer.reset_after),
             LSTM: lambda: LSTMCell(layer.input_size, layer.hidden_size)}
    if type(layer) not in cells or layer.layers is not None:
        raise TypeError(f"state_jacobians takes a one-layer, one-direction RNN, GRU or LSTM, "
                        f"got {layer!r}")
    if layer.cache is None:
        raise RuntimeError("state_jacobians needs a forward pass of the layer first")
    cell = cells[type(layer)]().astype(layer.dtype)
    for name, p in layer.params.items():
        cell.params[name][...] = p
    cache, H = layer.cache, layer.hidden_size
    states = [getattr(cache, name.upper()) for name in layer.state_names]  # (T+1, B, H) each
    T, B = cache.X.shape[:2]
    n = len(states) * H                                          # entries of the state S
    rows = np.tile(np.eye(n, dtype=cache.X.dtype), (B, 1))       # (B*n, n): e_j, for every b
    upstream = tuple(rows[:, i * H:(i + 1) * H] for i in range(len(states)))
    J = np.empty((T, B, n, n))
    for t in range(T):
        x = np.repeat(cache.X[t], n, axis=0)                     # (B*n, D): each row n times
        prev = tuple(np.repeat(S[t], n, axis=0) for S in states)  # S_{t-1}: (B*n, H) each
        _, step = cell.step_forward(x, prev)
        _, dprev = cell.step_backward(upstream, step)            # e_j^T dS_t/dS_{t-1}
        J[t] = np.concatenate(dprev, axis=1).reshape(B, n, n)
    return J


class GradientFlow(NamedTuple):
    """How the gradient flows back through one minibatch, every array ``(T,)`` in time order.

    distance        steps from the loss: ``T - 1 - t`` (0 at the last step, where the loss is)
    dh_norms        ``||dL/dH_t||``, Frobenius norm over the batch
    jacobian_norms  ``||dS_t/dS_{t-1}||_2`` of the state (H, or the LSTM's (H, C)), mean
                    over the batch
    loss            the loss value
    dc_norms        the LSTM's ``||dL/dC_t||`` (the gradient through the memory cell, the
                    one that carries far), or None for the RNN and GRU
    """
    distance: np.ndarray
    dh_norms: np.ndarray
    jacobian_norms: np.ndarray
    loss: float
    dc_norms: np.ndarray | None = None


def gradient_flow(model, X: np.ndarray, Y: np.ndarray, state: np.ndarray | None = None,
                  last_step_only: bool = True, ord=2) -> GradientFlow:
    """One forward and backward of a language model with recording on; the model's
    recurrent layer is ``model.rnn`` (as in ``RNNLM``).

    X, Y: ids ``(B, T)``; state a tuple like the model's, or None.  ``last_step_only=True`` counts only
    the prediction at the last step in the loss, so ``dL/dH_t`` is exactly the gradient
    carried back ``T - 1 - t`` steps (with a loss at every step, the local terms mix in).
    The model is left as it was: its gradients are restored and its recording flag reset.
    """
    rnn = model.rnn
    saved = {k: g.copy() for k, g in model.grads.items()}
    was_recording = rnn.record_grad_norms
    loss = SoftmaxCrossEntropy()
    try:
        logits, _ = model.forward(X, state)
        mask = None
        if last_step_only:
            mask = np.zeros(Y.shape)
            mask[:, -1] = 1.0                                       # only the last prediction counts
        value = loss.forward(logits, Y, mask)
        rnn.record_grad_norms = True
        model.backward(loss.backward())
        dh_norms = rnn.dh_norms.copy()
        dc_norms = None if getattr(rnn, "dc_norms", None) is None else rnn.dc_norms.copy()
        jac = jacobian_norms(rnn, ord).mean(axis=1)
    finally:
        rnn.record_grad_norms = was_recording
        for k, g in model.grads.items():
            g[...] = saved[k]
    T = dh_norms.shape[0]
    return GradientFlow(np.arange(T - 1, -1, -1), dh_norms, jac, value, dc_norms)


def fit_rate(distance: np.ndarray, norms: np.ndarray, min_distance: int = 0,
             max_distance: int | None = None) -> float:
    """Geometric rate r of ``norms ~ c r^distance``: ``exp`` of the least-squares slope of
    ``log norms`` against ``distance``, over ``min_distance <= distance <= max_distance``.
    r < 1: the gradient vanishes going back in time; r > 1: it explodes."""
    distance = np.asarray(distance, dtype=np.float64)
    norms = np.asarray(norms, dtype=np.float64)
    if distance.shape != norms.shape or distance.ndim != 1:
        raise ValueError(f"distance and norms must be 1-D of the same length, got shapes "
                         f"{distance.shape} and {norms.shape}")
    upper = np.inf if max_distance is None else max_distance
    sel = (distance >= min_distance) & (distance <= upper)
    if sel.sum() < 2:
        raise ValueError(f"need at least 2 points with {min_distance} <= distance <= {upper}, "
                         f"got {int(sel.sum())}")
    if not np.all(norms[sel] > 0) or not np.all(np.isfinite(norms[sel])):
        raise ValueError("norms must be positive and finite where the rate is fitted")
    slope = np.polyfit(distance[sel], np.log(norms[sel]), 1)[0]    # log n = log c + d log r
    return float(np.exp(slope))


def last_step_backward(model, X: np.ndarray, Y: np.ndarray) -> float:
    """Forward a language model, the loss of its prediction at the last step only (ids
    ``X``, ``Y`` ``(B, T)``), backward; returns the loss."""
    mask = np.zeros(Y.shape)
    mask[:, -1] = 1.0                                      # only the prediction at step T counts
    loss = SoftmaxCrossEntropy()
    value = loss.forward(model.forward(X)[0], Y, mask)
    model.backward(loss.backward())
    return value


def flow_norms(model, pairs, step=last_step_backward) -> dict:
    """``||dL/dh_t||`` (and ``||dL/dc_t||`` for the LSTM) for each ``(inputs, targets)`` of
    ``pairs`` (one sequence each), from ``step(model, inputs, targets)`` (forward, the loss at
    the last step, backward; ``last_step_backward`` for a language model): the loss at the last
    step only, so dL/dh_t is exactly what comes back T-1-t steps.  In float64 (the book's
    init makes the RNN's gradient ~1e-90 after 100 steps: float32 would flush it to 0).

    -> ``{"h": (S, T)[, "c": (S, T)]}``, S = len(pairs).
    """
    model = copy.deepcopy(model).astype(np.float64)       # the model itself is left as it was
    model.rnn.record_grad_norms = True
    kinds = ("h", "c") if isinstance(model.rnn, LSTM) else ("h",)
    norms = {kind: [] for kind in kinds}
    for inputs, targets in pairs:                         # one at a time: a norm per sequence
        if np.issubdtype(inputs.dtype, np.floating):      # the adding problem's numbers
            inputs, targets = inputs.astype(np.float64), targets.astype(np.float64)
        step(model, inputs, targets)
        norms["h"].append(model.rnn.dh_norms)
        if "c" in norms:
            norms["c"].append(model.rnn.dc_norms)
    return {kind: np.array(n) for kind, n in norms.items()}


def summarize_flow(norms: dict) -> dict:
    """Geometric mean over the sequences (a log scale's mean) and the fitted rate per step,
    over distances >= T / 2, of each kind of norm."""
    out = {}
    for kind, n in norms.items():                         # n: (S, T)
        T = n.shape[1]
        distance = np.arange(T - 1, -1, -1)               # steps from the loss, t = 0..T-1
        n = np.maximum(n, np.finfo(np.float64).tiny)      # a saturated tanh can give exactly 0
        mean = np.exp(np.log(n).mean(axis=0))             # geometric mean over the sequences
        out[kind] = {"distance": distance, "norm": mean,
                     "rate": fit_rate(distance, mean, min_distance=T // 2)}
    return out
