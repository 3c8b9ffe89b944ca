"""Non-recurrent layers: inputs (``OneHot``, ``Embedding``), ``Linear``, activations.

Dimension letters: B batch, T steps, D input features, H hidden units, V vocabulary,
E embedding size.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import (check_array, check_float_dtype, check_positive_int, check_probability,
                       check_token_ids, make_rng)
from .base import DEFAULT_DTYPE, Layer, init_weight


class EmbeddingCache(NamedTuple):
    """What ``Embedding.backward`` needs (``embedding.cache``)."""
    ids: np.ndarray      # (...) int: the ids looked up


class LinearCache(NamedTuple):
    """What ``Linear.backward`` needs (``linear.cache``)."""
    x: np.ndarray        # (..., in): the input


class ActivationCache(NamedTuple):
    """What an activation's backward needs (``tanh.cache``): its output."""
    h: np.ndarray        # h = f(z), same shape as the input


def scatter_add_rows(target: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """``target[ids[i]] += rows[i]`` for every i, summing repeated ids.

    Same result as ``np.add.at(target, ids, rows)``, whose path for whole rows is 2 to 7
    times slower (benchmarks/throughput.py --choices): this adds entry by entry on flat views,
    NumPy's fast 1-D path.  ``target`` (V, ...) C-contiguous, ``ids`` N entries, ``rows`` (N, ...).
    """
    if not target.flags.c_contiguous:
        raise ValueError("target must be C-contiguous: it is updated through a flat view")
    E = int(np.prod(target.shape[1:]))                       # entries per row
    ids = ids.reshape(-1, 1).astype(np.intp, copy=False)     # (N, 1)
    flat = (ids * E + np.arange(E)).reshape(-1)              # (N*E,) flat index of (ids[i], j)
    np.add.at(target.reshape(-1), flat, rows.reshape(-1))    # target.flat[flat[k]] += rows.flat[k]


# --------------------------------------------------------------------------- inputs
class OneHot(Layer):
    """Token ids -> one-hot vectors, the book's from-scratch input encoding.

    forward: ids ``(T, B)`` int -> ``(T, B, V)``.  No parameters; ids have no gradient.
    """

    def __init__(self, vocab_size: int, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self._dtype = check_float_dtype(dtype)

    def astype(self, dtype):
        self._dtype = check_float_dtype(dtype)
        return self

    def forward(self, ids: np.ndarray) -> np.ndarray:
        check_token_ids(ids, self.vocab_size)
        out = np.zeros(ids.shape + (self.vocab_size,), dtype=self._dtype)
        np.put_along_axis(out, ids[..., None], 1, axis=-1)   # out[..., ids] = 1
        return out

    def backward(self, dout: np.ndarray) -> None:
        return None                                          # ids are not differentiable

    def __repr__(self):
        return f"OneHot(vocab_size={self.vocab_size})"


class Embedding(Layer):
    """A learned lookup table: ``out[t, b] = W[ids[t, b]]``.

    params: ``W (V, E)``.  forward: ids ``(T, B)`` -> ``(T, B, E)`` (any ids shape works).
    backward: scatter-adds ``dout`` into the rows of ``dW`` that were looked up; returns
    None (ids have no gradient).  One-hot times ``W_xh`` equals this lookup (a book exercise).
    """

    def __init__(self, vocab_size: int, embed_dim: int, seed=None, rng=None,
                 init: str = "normal", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        rng = make_rng(seed, rng)
        self.add_param("W", init_weight(rng, (self.vocab_size, self.embed_dim), init, sigma, dtype))
        self.cache: EmbeddingCache | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        check_token_ids(ids, self.vocab_size)
        self.cache = EmbeddingCache(ids)
        return self.params["W"][ids]                          # (..., E)

    def backward(self, dout: np.ndarray) -> None:
        if self.cache is None:
            raise RuntimeError("Embedding.backward called before forward")
        ids = self.cache.ids
        check_array(dout, "dout", shape=ids.shape + (self.embed_dim,), dtype=self.dtype)
        # dL/dW[v] = sum of dout over the positions whose id is v           (V, E)
        scatter_add_rows(self.grads["W"], ids, dout)
        return None


# --------------------------------------------------------------------------- dense
class Linear(Layer):
    """Affine map ``out = x @ W + b``.

    params: ``W (in, out)``, ``b (out,)``.  forward: ``(..., in)`` -> ``(..., out)``.
    As the RNN's output layer, ``W`` is the book's ``W_hq`` and ``b`` its ``b_q``.
    """

    def __init__(self, in_features: int, out_features: int, seed=None, rng=None,
                 init: str = "normal", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        rng = make_rng(seed, rng)
        self.add_param("W", init_weight(rng, (self.in_features, self.out_features), init, sigma, dtype))
        self.add_param("b", np.zeros(self.out_features, dtype=dtype))
        self.cache: LinearCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "x", last_dim=self.in_features, dtype=self.params["W"].dtype)
        self.cache = LinearCache(x)
        out = x @ self.params["W"]                            # x W      (..., out)
        out += self.params["b"]                               # + b, in place (one array)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.cache is None:
            raise RuntimeError("Linear.backward called before forward")
        x = self.cache.x
        check_array(dout, "dout", shape=x.shape[:-1] + (self.out_features,), dtype=x.dtype)
        x2 = x.reshape(-1, self.in_features)                  # (N, in), N = all leading dims
        d2 = dout.reshape(-1, self.out_features)              # (N, out)
        self.grads["W"] += x2.T @ d2                          # dL/dW = x^T dout    (in, out)
        self.grads["b"] += np.ones(len(d2), d2.dtype) @ d2    # dL/db = sum_n dout  (out,)
        return (d2 @ self.params["W"].T).reshape(x.shape)     # dL/dx = dout W^T    (..., in)


NONLINEARITIES = ("tanh", "relu")


def _activate(z: np.ndarray, nonlinearity: str, out: np.ndarray | None = None) -> np.ndarray:
    """h = f(z), written into ``out`` when given."""
    if nonlinearity == "tanh":
        return np.tanh(z, out=out)
    return np.maximum(z, 0, out=out)


def activation_grad(h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """f'(z) written in terms of the output h = f(z): tanh' = 1 - h^2, relu' = [h > 0]."""
    if nonlinearity == "tanh":
        g = h * h
        return np.subtract(1, g, out=g)                      # 1 - h^2, one new array
    return (h > 0).astype(h.dtype)


class _Activation(Layer):
    """An elementwise ``f``; backward uses the output ``h = f(z)``: ``activation_grad``."""
    nonlinearity = ""
    cache: ActivationCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "x")
        h = _activate(x, self.nonlinearity)
        self.cache = ActivationCache(h)
        return h.copy()                                       # the cache keeps its own h

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        h = self.cache.h
        check_array(dout, "dout", shape=h.shape, dtype=h.dtype)
        return dout * activation_grad(h, self.nonlinearity)  # dL/dz = dout * f'(z)


class Tanh(_Activation):
    """Elementwise ``tanh``; tanh'(z) = 1 - tanh(z)^2, from the output."""
    nonlinearity = "tanh"


class ReLU(_Activation):
    """Elementwise ``max(z, 0)``; relu'(z) = 1 where z > 0, else 0."""
    nonlinearity = "relu"


class DropoutCache(NamedTuple):
    """What ``Dropout.backward`` needs (``dropout.cache``)."""
    mask: np.ndarray | None   # same shape as the input: 1/(1-p) where kept, 0 where dropped;
                              # None when the forward was the identity (evaluation, p = 0)


class Dropout(Layer):
    """Inverted dropout: in training, each entry is zeroed with probability ``p`` and the
    rest scaled by ``1 / (1 - p)`` (so the expected output equals the input); in
    evaluation (``training = False``) and for ``p = 0`` it is the identity.

    forward: any shape -> same shape.  backward: ``dx = dout * mask``, the same mask.
    Seeded (``seed`` or ``rng``), so a run repeats exactly.  ``fixed_mask`` (an array of
    the input's shape, or None) replaces the random draw: a gradient check sets it, so
    that every forward of the check drops the same entries.
    """

    def __init__(self, p: float = 0.5, seed=None, rng=None):
        super().__init__()
        self.p = check_probability(p, "p (the dropout probability)", allow_one=False)
        self.rng = make_rng(seed, rng)
        self.training = True
        self.fixed_mask: np.ndarray | None = None
        self.cache: DropoutCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "x")
        mask = None
        if self.fixed_mask is not None:
            mask = check_array(self.fixed_mask, "fixed_mask", shape=x.shape, dtype=x.dtype)
        elif self.training and self.p > 0:
            keep = self.rng.random(x.shape) >= self.p                  # kept with probability 1 - p
            mask = keep.astype(x.dtype) / x.dtype.type(1 - self.p)     # 1/(1-p) where kept, else 0
        self.cache = DropoutCache(mask)
        return x.copy() if mask is None else x * mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.cache is None:
            raise RuntimeError("Dropout.backward called before forward")
        mask = self.cache.mask
        if mask is None:
            return dout.copy()                                        # identity: dx = dout
        check_array(dout, "dout", shape=mask.shape, dtype=mask.dtype)
        return dout * mask                                            # dL/dx = dout * mask

    def __repr__(self):
        return f"Dropout(p={self.p}{'' if self.training else ', eval'})"
