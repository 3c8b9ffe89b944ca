"""Losses: a scalar from predictions and targets, and the gradient of that scalar.

``forward(...)`` returns the mean loss as a Python float and keeps what ``backward``
needs; ``backward(dout=1.0)`` returns ``dout * dL/d(prediction)``, already divided by
the number of terms in the mean.  Backward never modifies its cache, so calling it twice
gives the same array twice.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_array, check_loss_dout


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer targets, fused.

    forward: logits ``(..., V)``, targets ``(...)`` int in ``[0, V)``, optional ``mask``
    ``(...)`` of 0/1 (or weights) -> mean over the (unmasked) tokens of
    ``-log softmax(logits)[target]``.

    Stable: each row of logits is shifted before ``exp`` (softmax is unchanged by a shift),
    by its max, or by the target's logit when no exp can then overflow (see ``forward``).
    backward: ``dL/dlogits = (softmax(logits) - onehot(targets)) * mask / N`` with N the
    number of counted tokens.  Both work in the memory layout of ``logits``, without copies.
    """

    def __init__(self):
        self._probs = None

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
        # In the memory layout of ``logits`` (RNNLM's are a (B, T, V) view of a time-major
        # array): everything works along the last axis, with no reshape (it would copy).
        probs = np.empty_like(logits)                              # (..., V), logits' memory order
        z_y = np.take_along_axis(logits, targets[..., None], axis=-1)  # (..., 1) z_target
        # softmax(z) = exp(z - m) / sum_j exp(z_j - m) for any shift m of a row.  The usual
        # m = max_j z_j keeps every exp <= 1, but a max over many short rows is the slowest
        # pass here (twice the time of the alternative: benchmarks/throughput.py --choices).
        # So while max(z) - min(z) <= safe_spread (then no exp can overflow) the shift is
        # m = z_target, which needs no pass, and -log p_y = log sum_j e_j exactly (e_y = 1).
        safe_spread = np.log(np.finfo(logits.dtype).max) / 2       # V e^spread << largest float
        if logits.size and logits.max() - logits.min() <= safe_spread:    # 44 in float32
            m = z_y
        else:
            m = logits.max(axis=-1, keepdims=True)                 # (..., 1) max_j z_j
        np.subtract(logits, m, out=probs)                          # z - m
        np.exp(probs, out=probs)                                   # e_j = exp(z_j - m)
        s = np.einsum("...v->...", probs)                          # (...) sum_j e_j; einsum is 2-4x
        probs /= s[..., None]                                      # .sum's speed here.  p = e / s
        nll = np.log(s) - (z_y - m)[..., 0]                        # -log p_y = log s - (z_y - m)
        if mask is None:
            weights, count = None, targets.size
        else:
            weights = mask.astype(logits.dtype)                    # (...)
            count = float(weights.sum())
        self._probs, self._targets, self._weights, self._count = probs, targets, weights, count
        if count == 0:
            return 0.0
        total = nll.sum() if weights is None else (nll * weights).sum()
        return float(total / count)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self._probs is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        dout = check_loss_dout(dout)
        y = self._targets[..., None]
        scale = dout / self._count if self._count else 0.0        # 1/N: the loss is a mean of N
        if self._weights is not None:
            scale = (self._weights * scale)[..., None]             # (..., 1) w/N: masked tokens count 0
        d = np.multiply(self._probs, scale)                        # (..., V) p * s, new (cache kept)
        p_y = np.take_along_axis(d, y, axis=-1)                    # (..., 1) p_y * s
        np.put_along_axis(d, y, p_y - scale, axis=-1)              # (..., V) (p - onehot(y)) * s
        return d


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
