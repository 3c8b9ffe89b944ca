"""Losses: a scalar from predictions and targets, and the gradient of that scalar.

``forward(...)`` returns the mean loss as a Python float and keeps what ``backward``
needs; ``backward(dout=1.0)`` returns ``dout * dL/d(prediction)``, already divided by
the number of terms in the mean.  Backward never modifies its cache, so calling it twice
gives the same array twice.
"""
from __future__ import annotations

import numpy as np

from .layers import check_array


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer targets, fused.

    forward: logits ``(..., V)``, targets ``(...)`` int in ``[0, V)``, optional ``mask``
    ``(...)`` of 0/1 (or weights) -> mean over the (unmasked) tokens of
    ``-log softmax(logits)[target]``.

    Stable: logits are shifted by their row max before ``exp`` (softmax is unchanged by
    the shift). backward: ``dL/dlogits = (softmax(logits) - onehot(targets)) * mask / N``
    with N the number of counted tokens.
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
        z = logits.reshape(-1, V)                                  # (N, V)
        y = targets.reshape(-1)                                    # (N,)
        shifted = z - z.max(axis=1, keepdims=True)                 # z - max_j z_j: exp cannot overflow
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax
        nll = -log_probs[np.arange(y.size), y]                     # (N,) -log p(target)
        if mask is None:
            weights, count = None, y.size
        else:
            weights = mask.reshape(-1).astype(logits.dtype)
            count = float(weights.sum())
        self._probs = np.exp(log_probs)                            # softmax, (N, V)
        self._targets, self._weights, self._count = y, weights, count
        self._shape = logits.shape
        if count == 0:
            return 0.0
        total = nll.sum() if weights is None else (nll * weights).sum()
        return float(total / count)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self._probs is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before forward")
        y, count = self._targets, self._count
        d = self._probs.copy()                                     # copy: never mutate the cache
        d[np.arange(y.size), y] -= 1                               # softmax - onehot(y)
        scale = dout / max(count, 1)
        if self._weights is None:
            d *= scale                                             # / N (mean over tokens)
        else:
            d *= (self._weights * scale)[:, None]                  # masked tokens count for nothing
        return d.reshape(self._shape)


class MSELoss:
    """Mean squared error: ``L = mean((pred - target)^2)`` over every element.

    backward: ``dL/dpred = 2 (pred - target) / N`` with N = ``pred.size``.
    """

    def __init__(self):
        self._diff = None

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        check_array(pred, "pred")
        check_array(target, "target", shape=pred.shape)
        self._diff = pred - target
        return float(np.mean(self._diff ** 2))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        if self._diff is None:
            raise RuntimeError("MSELoss.backward called before forward")
        return (2.0 * dout / self._diff.size) * self._diff          # 2 (pred - target) / N
