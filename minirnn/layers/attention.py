"""Attention scoring: the book's masked softmax, scaled dot-product and additive attention.

Dimension letters: B batch, Q queries, K key-value pairs, Dq / Dk / Dv the query, key and
value sizes, h the additive attention's hidden units (``num_hiddens``).

Attention pooling (the book's attention chapter), for each query q and the pairs (k_i, v_i):

    S_i     = a(q, k_i)                               the score          (B, Q, K)
    alpha_i = softmax_i(S) over the valid keys only   the weights        (B, Q, K)
    out     = sum_i alpha_i v_i                       the pooled value   (B, Q, Dv)

``valid_lens`` (B,) or (B, Q): only the first ``valid_lens`` keys of a sequence (of a
query) count.  The book's masked softmax replaces the scores past the valid length by
-1e6 before the softmax, so those weights are exactly 0 (exp(-1e6 - max) underflows to
0 in float32 and float64) and the gradient never reaches the masked keys and values.

Both layers keep ``attention_weights`` (B, Q, K) after ``forward`` (the heatmaps) and a
public ``cache``; ``backward(dout (B, Q, Dv)) -> (dqueries, dkeys, dvalues)`` adds the
parameter gradients into ``grads``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_positive_int, make_rng
from .base import DEFAULT_DTYPE, Layer, init_weight

MASK_VALUE = -1e6            # the book's: a masked score, far below any real one


def check_valid_lens(valid_lens, batch_size: int, num_queries: int, num_keys: int):
    """``valid_lens`` None, (B,) or (B, Q) ints in [1, K] -> an int64 array (B, Q) or None;
    anything else one line naming ``valid_lens``."""
    if valid_lens is None:
        return None
    if not isinstance(valid_lens, np.ndarray) or not np.issubdtype(valid_lens.dtype, np.integer):
        raise TypeError(f"valid_lens must be a numpy int array of shape ({batch_size},) or "
                        f"({batch_size}, {num_queries}), got "
                        f"{getattr(valid_lens, 'dtype', type(valid_lens).__name__)}")
    if valid_lens.shape not in ((batch_size,), (batch_size, num_queries)):
        raise ValueError(f"valid_lens must have shape ({batch_size},) or ({batch_size}, "
                         f"{num_queries}), got {valid_lens.shape}")
    lo, hi = int(valid_lens.min()), int(valid_lens.max())
    if lo < 1 or hi > num_keys:
        raise ValueError(f"valid_lens must be in [1, {num_keys}] (at least one key, at most "
                         f"the K={num_keys} keys), got {lo if lo < 1 else hi}")
    if valid_lens.ndim == 1:                                  # (B,): the same for every query
        valid_lens = np.repeat(valid_lens[:, None], num_queries, axis=1)
    return valid_lens.astype(np.int64, copy=False)


def masked_softmax(scores: np.ndarray, valid_lens: np.ndarray | None):
    """The book's ``masked_softmax``: ``scores (B, Q, K)``, ``valid_lens (B, Q)`` or None ->
    ``(weights (B, Q, K), mask (B, Q, K) bool or None)``; weights past each valid length are 0."""
    mask = None
    if valid_lens is not None:
        mask = np.arange(scores.shape[-1]) < valid_lens[..., None]   # (B, Q, K): key i valid
        scores = np.where(mask, scores, scores.dtype.type(MASK_VALUE))
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))   # max-shifted: no overflow
    return e / e.sum(axis=-1, keepdims=True), mask           # alpha_i = exp S_i / sum_j exp S_j


def softmax_backward(dweights: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """dL/dS from dL/dalpha: ``dS_i = alpha_i (dalpha_i - sum_j alpha_j dalpha_j)``.  A masked
    score has alpha_i = 0, so its gradient is 0 (it was a constant, -1e6)."""
    return weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))


def _check_qkv(queries, keys, values, dtype=None):
    """Shapes: ``queries (B, Q, Dq)``, ``keys (B, K, Dk)``, ``values (B, K, Dv)``, one dtype."""
    check_array(queries, "queries", ndim=3, dtype=dtype)
    dtype = queries.dtype
    check_array(keys, "keys", ndim=3, dtype=dtype)
    check_array(values, "values", ndim=3, dtype=dtype)
    B, K = keys.shape[:2]
    if queries.shape[0] != B or values.shape[0] != B:
        raise ValueError(f"queries, keys and values must have the same batch size, got "
                         f"{queries.shape[0]}, {B}, {values.shape[0]}")
    if values.shape[1] != K:
        raise ValueError(f"values must have one row per key (K={K}), got shape {values.shape}")
    if min(queries.shape[1], K) < 1:
        raise ValueError(f"queries and keys need at least one row each, got shapes "
                         f"{queries.shape} and {keys.shape}")


class AttentionCache(NamedTuple):
    queries: np.ndarray      # (B, Q, Dq)
    keys: np.ndarray         # (B, K, Dk)
    values: np.ndarray       # (B, K, Dv)
    weights: np.ndarray      # (B, Q, K) alpha, 0 past each valid length
    features: np.ndarray | None = None   # additive only: F = tanh(q W_q + k W_k)  (B, Q, K, h)


class DotProductAttention(Layer):
    """Scaled dot-product attention, ``a(q, k) = q^T k / sqrt(d)`` (queries and keys of the
    same size d); no parameters.

    forward: ``(queries (B, Q, d), keys (B, K, d), values (B, K, Dv), valid_lens=None)`` ->
    ``(B, Q, Dv)``.  backward: ``dout (B, Q, Dv)`` -> ``(dqueries, dkeys, dvalues)``.
    """

    def __init__(self):
        super().__init__()
        self.cache: AttentionCache | None = None
        self.attention_weights: np.ndarray | None = None

    def forward(self, queries, keys, values, valid_lens=None) -> np.ndarray:
        _check_qkv(queries, keys, values)
        if queries.shape[-1] != keys.shape[-1]:
            raise ValueError(f"queries and keys must have the same size d for q^T k, got "
                             f"{queries.shape[-1]} and {keys.shape[-1]}")
        B, Q, d = queries.shape
        valid = check_valid_lens(valid_lens, B, Q, keys.shape[1])
        scores = queries @ keys.transpose(0, 2, 1) / math.sqrt(d)   # S = Q K^T / sqrt(d)  (B, Q, K)
        weights, _ = masked_softmax(scores, valid)                # alpha  (B, Q, K)
        self.cache = AttentionCache(queries, keys, values, weights)
        self.attention_weights = weights
        return weights @ values                                   # sum_i alpha_i v_i  (B, Q, Dv)

    def backward(self, dout: np.ndarray) -> tuple:
        if self.cache is None:
            raise RuntimeError("DotProductAttention.backward called before forward")
        q, k, v, weights, _ = self.cache
        check_array(dout, "dout", shape=q.shape[:2] + v.shape[2:], dtype=v.dtype)
        dvalues = weights.transpose(0, 2, 1) @ dout               # dV = alpha^T dout  (B, K, Dv)
        dweights = dout @ v.transpose(0, 2, 1)                    # dalpha = dout V^T  (B, Q, K)
        dscores = softmax_backward(dweights, weights) / math.sqrt(q.shape[-1])   # dS / sqrt(d)
        dqueries = dscores @ k                                    # dQ = dS K / sqrt(d)  (B, Q, d)
        dkeys = dscores.transpose(0, 2, 1) @ q                    # dK = dS^T Q / sqrt(d)  (B, K, d)
        return dqueries, dkeys, dvalues


class AdditiveAttention(Layer):
    """The book's additive attention, ``a(q, k) = w_v^T tanh(W_q q + W_k k)``, no biases.

    params: ``W_q (query_size, num_hiddens)``, ``W_k (key_size, num_hiddens)``,
    ``w_v (num_hiddens,)`` (row-vector convention: ``q W_q`` is the book's ``W_q q``).

    forward: ``(queries (B, Q, Dq), keys (B, K, Dk), values (B, K, Dv), valid_lens=None)`` ->
    ``(B, Q, Dv)``.  backward: ``dout (B, Q, Dv)`` -> ``(dqueries, dkeys, dvalues)``, and
    ``dW_q``, ``dW_k``, ``dw_v`` added into ``grads``.
    """

    def __init__(self, query_size: int, key_size: int, num_hiddens: int, seed=None, rng=None,
                 init: str = "xavier", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.query_size = check_positive_int(query_size, "query_size")
        self.key_size = check_positive_int(key_size, "key_size")
        self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        rng = make_rng(seed, rng)
        h = self.num_hiddens
        self.add_param("W_q", init_weight(rng, (query_size, h), init, sigma, dtype))
        self.add_param("W_k", init_weight(rng, (key_size, h), init, sigma, dtype))
        self.add_param("w_v", init_weight(rng, (h, 1), init, sigma, dtype)[:, 0].copy())
        self.cache: AttentionCache | None = None
        self.attention_weights: np.ndarray | None = None

    def forward(self, queries, keys, values, valid_lens=None) -> np.ndarray:
        W_q, W_k, w_v = self.params["W_q"], self.params["W_k"], self.params["w_v"]
        _check_qkv(queries, keys, values, dtype=W_q.dtype)
        check_array(queries, "queries", last_dim=self.query_size)
        check_array(keys, "keys", last_dim=self.key_size)
        B, Q, _ = queries.shape
        valid = check_valid_lens(valid_lens, B, Q, keys.shape[1])
        q_proj = (queries.reshape(-1, self.query_size) @ W_q).reshape(B, Q, -1)   # q W_q (B, Q, h)
        k_proj = (keys.reshape(-1, self.key_size) @ W_k).reshape(B, keys.shape[1], -1)   # k W_k
        features = q_proj[:, :, None, :] + k_proj[:, None, :, :]   # (B, Q, K, h)
        np.tanh(features, out=features)                       # F = tanh(q W_q + k W_k)
        scores = features @ w_v                               # S = F w_v  (B, Q, K)
        weights, _ = masked_softmax(scores, valid)            # alpha  (B, Q, K)
        self.cache = AttentionCache(queries, keys, values, weights, features)
        self.attention_weights = weights
        return weights @ values                               # sum_i alpha_i v_i  (B, Q, Dv)

    def backward(self, dout: np.ndarray) -> tuple:
        if self.cache is None:
            raise RuntimeError("AdditiveAttention.backward called before forward")
        q, k, v, weights, F = self.cache
        check_array(dout, "dout", shape=q.shape[:2] + v.shape[2:], dtype=v.dtype)
        W_q, W_k, w_v = self.params["W_q"], self.params["W_k"], self.params["w_v"]
        h = self.num_hiddens
        dvalues = weights.transpose(0, 2, 1) @ dout           # dV = alpha^T dout  (B, K, Dv)
        dweights = dout @ v.transpose(0, 2, 1)                # dalpha = dout V^T  (B, Q, K)
        dscores = softmax_backward(dweights, weights)         # dS  (B, Q, K); 0 where masked
        self.grads["w_v"] += dscores.reshape(-1) @ F.reshape(-1, h)   # dw_v = sum dS F  (h,)
        dZ = 1 - F * F                                        # tanh' = 1 - F^2
        dZ *= dscores[..., None]                              # dZ = dS w_v^T (1 - F^2)
        dZ *= w_v                                             #   (B, Q, K, h)
        dq_proj = dZ.sum(axis=2)                              # q W_q is read by every key  (B, Q, h)
        dk_proj = dZ.sum(axis=1)                              # k W_k by every query  (B, K, h)
        self.grads["W_q"] += q.reshape(-1, self.query_size).T @ dq_proj.reshape(-1, h)
        self.grads["W_k"] += k.reshape(-1, self.key_size).T @ dk_proj.reshape(-1, h)
        dqueries = (dq_proj.reshape(-1, h) @ W_q.T).reshape(q.shape)   # dq = dq_proj W_q^T
        dkeys = (dk_proj.reshape(-1, h) @ W_k.T).reshape(k.shape)      # dk = dk_proj W_k^T
        return dqueries, dkeys, dvalues
