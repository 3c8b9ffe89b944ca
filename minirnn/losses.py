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


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer targets, fused.

    forward: logits ``(..., V)``, targets ``(...)`` int in ``[0, V)``, optional ``mask``
    ``(...)`` of 0/1 (or non-negative weights) -> the mean over the (unmasked) tokens of
    ``-log softmax(logits)[target]``; with weights w, ``sum_n w_n nll_n / sum_n w_n``.
    backward: ``dL/dlogits = (softmax(logits) - onehot(targets)) * w / sum(w)``.

    Stable for any logits: when some |logit| is large enough for ``exp`` to overflow or
    vanish, each row is shifted by its max first (softmax is unchanged by a shift).  The weights are normalised in
    float64, ``w / sum(w)``, before they meet the float32 losses, so neither huge nor tiny
    weights overflow or vanish.

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
        weights = None if mask is None else _mask_weights(mask, targets.shape)  # (N,) float64
        # softmax(z) = exp(z - m) / sum_j exp(z_j - m) for any m of a row.  While every
        # |z| <= 44 (float32; 354 in float64) no exp overflows or vanishes, so m = 0 and a
        # pass is saved; beyond that, m is each row's max (then exp(z - m) <= 1).
        safe = np.log(np.finfo(logits.dtype).max) / 2
        shift = logits.size > 0 and max(logits.max(), -logits.min()) > safe
        z = logits - logits.max(axis=-1, keepdims=True) if shift else logits   # z - m
        e = np.exp(z, order="C").reshape(-1, V)                    # e_j = exp(z_j - m)  (N, V)
        s = e @ np.ones(V, e.dtype)                                # s = sum_j e_j (N,): a BLAS
        rows, y = np.arange(len(e)), targets.reshape(-1)           # product, 10x e.sum(axis=1)
        e_y = e[rows, y]                                           # e at the targets    (N,)
        if shift:                                                  # -log p_y = log s - (z_y - m)
            nll = np.log(s) - np.take_along_axis(z, targets[..., None], -1).reshape(-1)
        else:                                                      # -log p_y = log(s / e_y): no
            nll = np.log(s / e_y)                                  # cancellation when p_y ~ 1
        self.cache = SoftmaxCache(e, s, e_y, y, weights, logits)
        self.token_nll = nll.reshape(targets.shape)
        if weights is None:
            return float(nll.mean()) if nll.size else 0.0
        return float(nll @ weights)                                # sum_n w_n nll_n / sum_n w_n

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self.cache is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        dout = check_loss_dout(dout)
        e, s, e_y, y, weights, logits = self.cache
        lead = logits.shape[:-1] + (1,)                            # (..., 1)
        scale = dout / max(len(s), 1) if weights is None else dout * weights  # 1/N, or w_n / sum(w)
        r = (scale / s).astype(e.dtype)                            # (N,) scale / s, as p = e / s
        d = np.empty_like(logits)                                  # laid out as the logits (the
        np.multiply(e.reshape(logits.shape), r.reshape(lead), out=d)  # output layer reads it so)
        np.put_along_axis(d, y.reshape(lead), ((e_y - s) * r).reshape(lead), -1)  # (p_y - 1) * scale
        return d                                                   # p_j * scale  (..., V)


def _mask_weights(mask, shape: tuple) -> np.ndarray:
    """The mask as weights normalised to sum 1, ``w / sum(w)`` in float64 ``(N,)`` (all
    zeros when the mask is all zero), or a ValueError / TypeError naming ``mask``."""
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask must have the targets' shape {shape}, got {mask.shape}")
    if not (np.issubdtype(mask.dtype, np.number) or mask.dtype == bool) or np.iscomplexobj(mask):
        raise TypeError(f"mask must hold real 0/1 values or weights, got dtype {mask.dtype}")
    w = mask.astype(np.float64).reshape(-1)
    if w.size and not (np.isfinite(w).all() and w.min() >= 0):
        raise ValueError(f"mask must hold finite non-negative weights, got values from "
                         f"{mask.min()} to {mask.max()}")
    with np.errstate(over="ignore"):
        total = w.sum()                                            # inf: refused just below
    if not np.isfinite(total):
        raise ValueError(f"mask's weights must have a finite sum, got {total} (from weights up "
                         f"to {mask.max()}): scale them down")
    return w / total if total > 0 else w


class SoftmaxCache(NamedTuple):
    """What ``SoftmaxCrossEntropy.backward`` needs (``loss.cache``), one row per token."""
    e: np.ndarray               # (N, V) exp(z - m), m 0 or each row's max: softmax before / s
    s: np.ndarray               # (N,)   sum_j e_j
    e_y: np.ndarray             # (N,)   e at the target
    y: np.ndarray               # (N,)   the targets
    weights: np.ndarray | None  # (N,)   mask weights / their sum (float64), or None
    logits: np.ndarray          # (..., V) the logits (the gradient takes their layout)


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
