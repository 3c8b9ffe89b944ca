"""Losses: a scalar from predictions and targets, and the gradient of that scalar.

``forward(...)`` returns the mean loss as a Python float and keeps what ``backward``
needs; ``backward(dout=1.0)`` returns ``dout * dL/d(prediction)``, already divided by
the number of terms in the mean.  Backward never modifies its cache, so calling it twice
gives the same array twice.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_array, check_loss_dout
from ._threads import for_rows


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer targets, fused.

    forward: logits ``(..., V)``, targets ``(...)`` int in ``[0, V)``, optional ``mask``
    ``(...)`` of 0/1 (or weights) -> mean over the (unmasked) tokens of
    ``-log softmax(logits)[target]``.

    Stable: when some |logit| is large enough for ``exp`` to overflow or vanish, each row
    is shifted by its max first (softmax is unchanged by a shift; see ``forward``).
    backward: ``dL/dlogits = (softmax(logits) - onehot(targets)) * mask / N`` with N the
    number of counted tokens.  Both work on the rows in the memory order of ``logits``
    (no copies), over row blocks in threads when ``minirnn.set_num_threads(n > 1)``.

    ``token_nll``: the last forward's ``-log softmax(logits)[target]`` of every token,
    ``targets``' shape, before any mask (a sequence's log-likelihood is minus its sum).
    A forward that raises (bad logits, targets or mask) changes neither ``token_nll`` nor
    the cache: both stay the last successful forward's, a consistent pair.
    """

    def __init__(self):
        self.cache: SoftmaxCache | None = None
        self.token_nll: np.ndarray | None = None

    def forward(self, logits: np.ndarray, targets: np.ndarray,
                mask: np.ndarray | None = None) -> float:
        check_array(logits, "logits")
        if logits.ndim < 1:
            raise ValueError(f"logits must have at least 1 dimension (..., V), got shape {logits.shape}")
        V = logits.shape[-1]
        if not isinstance(targets, np.ndarray) or not np.issubdtype(targets.dtype, np.integer):
            raise TypeError(f"targets must be an integer numpy array, got "
                            f"{getattr(targets, 'dtype', type(targets).__name__)}")
        if targets.shape != logits.shape[:-1]:
            raise ValueError(f"targets must have shape {logits.shape[:-1]} to match logits "
                             f"{logits.shape}, got {targets.shape}")
        if targets.size and (targets.min() < 0 or targets.max() >= V):
            bad = targets.min() if targets.min() < 0 else targets.max()
            raise ValueError(f"target id {bad} out of range for {V} classes")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != targets.shape:
                raise ValueError(f"mask must have the targets' shape {targets.shape}, got {mask.shape}")
            if not (np.issubdtype(mask.dtype, np.number) or mask.dtype == bool) \
                    or np.iscomplexobj(mask):
                raise TypeError(f"mask must hold real 0/1 values or weights, got dtype {mask.dtype}")
            if mask.size and not (np.isfinite(mask).all() and mask.min() >= 0):
                raise ValueError(f"mask must hold finite non-negative weights, got values from "
                                 f"{mask.min()} to {mask.max()}")
        z, order = _rows_in_memory_order(logits)               # (N, V) view, N = targets.size
        y = targets.transpose(order).reshape(-1)               # (N,) the same rows' targets
        N, dtype = z.shape[0], logits.dtype
        # softmax(z) = exp(z - m) / sum_j exp(z_j - m) for any shift m of a row.  While every
        # |z| <= 44 (float32; 354 in float64) no exp can overflow or vanish, so m = 0 and the
        # step makes the fewest passes over the logits: e = exp(z) (read z, write e) and the
        # row sums (read e); the division by s waits for backward, which reads e once anyway.
        # Beyond that, each row is shifted by its max (e <= 1), a pass more.
        safe = np.log(np.finfo(dtype).max) / 2                     # 44 in float32
        e, s, e_y, nll = np.empty_like(z), np.empty(N, dtype), np.empty(N, dtype), np.empty(N, dtype)
        at_y = np.arange(N) * V + y                                # flat index of (n, y_n) in (N, V)
        ones = np.ones(V, dtype)

        def cross_entropy_rows(rows):                              # for a block of rows:
            zr = z[rows]
            shift = zr.size > 0 and (zr.max() > safe or zr.min() < -safe)  # rare: exp could overflow
            m = zr.max(axis=1, keepdims=True) if shift else 0      # (n, 1) max_j z_j, or 0
            np.exp(zr - m if shift else zr, out=e[rows])           # e_j = exp(z_j - m)
            np.matmul(e[rows], ones, out=s[rows])                  # s = sum_j e_j (a BLAS matvec)
            e_y[rows] = e.reshape(-1)[at_y[rows]]                  # e_target
            if shift:                                              # (e_y may underflow to 0 here)
                nll[rows] = np.log(s[rows]) - (z.reshape(-1)[at_y[rows]] - m[:, 0])  # log s - (z_y - m)
            else:
                nll[rows] = np.log(s[rows] / e_y[rows])            # -log p_y = log(s / e_y)
        for_rows(cross_entropy_rows, N, V)                         # threads: minirnn._threads
        if mask is None:
            weights, count = None, targets.size
        else:
            weights = mask.astype(dtype).transpose(order).reshape(-1)   # (N,)
            count = float(weights.sum())
        self.cache = SoftmaxCache(e, s, e_y, at_y, weights, count, logits.shape, order)
        self.token_nll = _restore_layout(nll, targets.shape + (1,), order)[..., 0]  # (...) as targets
        if count == 0:
            return 0.0
        total = nll.sum() if weights is None else nll @ weights
        return float(total / count)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self.cache is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        dout = check_loss_dout(dout)
        e, s, e_y, at_y, weights, count, shape, order = self.cache
        scale = dout / count if count else 0.0                     # 1/N: the loss is a mean of N
        if weights is not None:
            scale = weights * scale                                # (N,) w/N: masked tokens count 0
        d = np.empty_like(e)                                       # (N, V), new (cache kept)

        def grad_rows(rows):                                       # for a block of rows:
            r = (scale if weights is None else scale[rows]) / s[rows]  # (n,) scale / s: p = e / s
            np.multiply(e[rows], r[:, None], out=d[rows])          # p_j * scale = e_j * (scale / s)
            d.reshape(-1)[at_y[rows]] = (e_y[rows] - s[rows]) * r  # (p_y - 1) * scale, no cancellation
        for_rows(grad_rows, len(d), d.shape[1])
        return _restore_layout(d, shape, order)                    # (..., V) as the logits


class SoftmaxCache(NamedTuple):
    """What ``SoftmaxCrossEntropy.backward`` needs (``loss.cache``), over the N rows in the
    logits' memory order."""
    e: np.ndarray             # (N, V) exp(z - m): the softmax before dividing by s
                              # (m = 0, or each row's max in a block with large logits)
    s: np.ndarray             # (N,)   sum_j e_j
    e_y: np.ndarray           # (N,)   each row's e at its target
    at_y: np.ndarray          # (N,)   flat index of each row's target in (N, V)
    weights: np.ndarray | None  # (N,) mask weights, or None
    count: float              # the number of tokens (or the mask's sum) in the mean
    shape: tuple              # the logits' shape (..., V)
    order: tuple              # the leading axes in memory order (see _rows_in_memory_order)


def _rows_in_memory_order(logits: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The logits ``(..., V)`` as ``(N, V)`` rows in their memory order, and that order of
    the leading axes.  RNNLM's ``(B, T, V)`` logits are a view of a time-major ``(T, B, V)``
    array: taking the axes in memory order gives a C-contiguous ``(N, V)`` view, no copy
    (a reshape in the logical order would copy, and NumPy's broadcasting over short rows
    in a transposed view is several times slower).  Other layouts are copied once."""
    lead = logits.ndim - 1
    order = tuple(sorted(range(lead), key=lambda i: -logits.strides[i]))  # outermost first
    z = logits.transpose(order + (lead,))
    if not z.flags.c_contiguous:
        z = np.ascontiguousarray(z)
    return z.reshape(-1, logits.shape[-1]), order


def _restore_layout(d: np.ndarray, shape: tuple, order: tuple) -> np.ndarray:
    """``d`` ``(N, V)`` (rows in memory ``order``) as an array of the logits' ``shape``."""
    lead = len(order)
    d = d.reshape(tuple(shape[i] for i in order) + (shape[-1],))
    return d.transpose(tuple(np.argsort(order)) + (lead,))


class MSELoss:
    """Mean squared error: ``L = mean((pred - target)^2)`` over every element.

    backward: ``dL/dpred = 2 (pred - target) / N`` with N = ``pred.size``.
    """

    def __init__(self):
        self._diff = None

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        check_array(pred, "pred")
        check_array(target, "target", shape=pred.shape, dtype=pred.dtype)
        if pred.size == 0:
            raise ValueError(f"pred and target must hold at least one element (the loss is "
                             f"their mean), got shape {pred.shape}")
        self._diff = pred - target
        return float(np.mean(self._diff ** 2))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self._diff is None:
            raise RuntimeError("MSELoss.backward called before forward")
        dout = check_loss_dout(dout)
        return (2.0 * dout / self._diff.size) * self._diff          # 2 (pred - target) / N
