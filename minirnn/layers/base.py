"""The layer contract's base classes, the weight initialisers and ``Sequential``.

Dimension letters: B batch, T steps, D input features, H hidden units, V vocabulary.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .._checks import check_float_dtype, check_number, check_positive_int, make_rng  # noqa: F401

DEFAULT_DTYPE = np.float32


def init_weight(rng: np.random.Generator, shape: tuple, init: str = "normal",
                sigma: float = 0.01, dtype=DEFAULT_DTYPE) -> np.ndarray:
    """Draw a weight matrix ``(fan_in, fan_out)``.

    ``init='normal'``: N(0, sigma^2), the book's from-scratch choice (sigma = 0.01).
    ``init='xavier'``: Xavier/Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)),
    which the book's MLP uses.  ``init='uniform'``: U(-1/sqrt(n), 1/sqrt(n)) with n the
    number of output units, the default of the book's framework RNN layers (concise RNN).
    """
    dtype = check_float_dtype(dtype)
    sigma = check_number(sigma, "sigma", minimum=0, strict_minimum=True)   # NaN: NaN weights
    fan_in, fan_out = shape[0], shape[-1]
    if init == "normal":
        w = rng.normal(0.0, sigma, size=shape)
    elif init == "xavier":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=shape)
    elif init == "uniform":
        a = 1.0 / np.sqrt(fan_out)
        w = rng.uniform(-a, a, size=shape)
    else:
        raise ValueError(f"init must be 'normal', 'xavier' or 'uniform', got {init!r}")
    return w.astype(dtype)


class Layer:
    """Base class: a layer owns ``params`` and ``grads`` dicts with the same keys."""

    training = True               # False after eval(): dropout is the identity

    def sublayers(self) -> list:
        """The layers inside this one (a Module's children, a stack's copies)."""
        return []

    def train(self, mode: bool = True):
        """Training mode (dropout active) or, with ``mode=False``, evaluation mode, for this
        layer and every layer inside it; returns the layer."""
        self.training = bool(mode)
        for layer in self.sublayers():
            layer.train(mode)
        return self

    def eval(self):
        """Evaluation mode: dropout is the identity (``train(False)``)."""
        return self.train(False)

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register ``value`` as the parameter ``name`` (``params[name]``) with a zero
        gradient of the same shape and dtype (``grads[name]``); returns ``value``.  A layer
        of your own calls it in ``__init__`` for each weight (docs/layers-and-gradcheck.md)."""
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    def zero_grad(self) -> None:
        """Set every gradient to zero (in place: references stay valid)."""
        for g in self.grads.values():
            g.fill(0)

    def astype(self, dtype):
        """Cast parameters and gradients to ``dtype`` (float32 to train, float64 to check).

        Arrays already of ``dtype`` are kept; a real cast makes new arrays, so build the
        optimizer (which holds references to them) after casting."""
        dtype = check_float_dtype(dtype)
        for name in list(self.params):
            self.params[name] = self.params[name].astype(dtype, copy=False)
            self.grads[name] = self.grads[name].astype(dtype, copy=False)
        return self

    @property
    def dtype(self):
        for p in self.params.values():
            return p.dtype
        return getattr(self, "_dtype", DEFAULT_DTYPE)

    def __repr__(self):
        parts = [f"{k} {tuple(v.shape)} |grad|={np.linalg.norm(self.grads[k]):.3g}"
                 for k, v in self.params.items()]
        return f"{type(self).__name__}({', '.join(parts)})"


def storage(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself, or the base of a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


@contextmanager
def evaluating(layer):
    """``with evaluating(model):`` evaluation mode inside (dropout off), the previous mode
    after, also on an error.  A model without ``train`` / ``eval`` (one of your own, with no
    dropout) is left as it is."""
    if not (hasattr(layer, "train") and hasattr(layer, "eval")):
        yield layer
        return
    was = getattr(layer, "training", True)
    layer.eval()
    try:
        yield layer
    finally:
        layer.train(was)


class Module(Layer):
    """A layer built from named child layers; ``params`` keys are dotted (``"rnn.W_hh"``).

    The dicts hold the children's own arrays: updating one in place updates the model.
    They are built once and kept; a child that replaces one of its arrays (``astype``,
    weight tying) is noticed on the next access, which then builds them again.
    A parameter used in two places (weight tying: one child's array is the other's, or a
    view of it) is listed once, under the first name, so an optimizer step moves it once
    and clipping counts it once; its gradient array, shared the same way, holds the sum
    of both uses.
    """

    _named = None                 # (params, grads, the arrays they were built from)

    def __init__(self):
        self.children: dict[str, Layer] = {}

    def add(self, name: str, layer: Layer) -> Layer:
        self.children[name] = layer
        if name.isidentifier():
            setattr(self, name, layer)
        return layer

    def sublayers(self) -> list:
        return list(self.children.values())

    def named_parameters(self):
        """``(dotted name, param, grad)`` for every parameter, each memory once (first
        name wins)."""
        params, grads = self.params, self.grads
        return [(name, p, grads[name]) for name, p in params.items()]

    def _built(self) -> tuple:
        """``(params, grads)``, built again only when a child's arrays are not the ones
        they were built from."""
        arrays = []
        for child in self.children.values():
            for p in child.params.values():
                arrays.append(p)
            for g in child.grads.values():
                arrays.append(g)
        named = self._named
        if named is not None and len(named[2]) == len(arrays):
            for a, b in zip(named[2], arrays):
                if a is not b:
                    break
            else:                                             # the same arrays: kept as built
                return named[0], named[1]
        params, grads, seen = {}, {}, set()
        for cname, child in self.children.items():
            child_grads = child.grads
            for k, p in child.params.items():
                owner = id(storage(p))
                if owner in seen:                             # shared: listed under its first name
                    continue
                seen.add(owner)
                params[f"{cname}.{k}"], grads[f"{cname}.{k}"] = p, child_grads[k]
        self._named = (params, grads, arrays)
        return params, grads

    @property
    def params(self):
        return self._built()[0]

    @property
    def dtype(self):
        for child in self.children.values():
            for p in child.params.values():
                return p.dtype
        return getattr(self, "_dtype", DEFAULT_DTYPE)

    @property
    def grads(self):
        return self._built()[1]

    def zero_grad(self) -> None:
        for child in self.children.values():
            child.zero_grad()

    def astype(self, dtype):
        dtype = check_float_dtype(dtype)
        for child in self.children.values():
            child.astype(dtype)
        self._dtype = dtype
        return self

    def __repr__(self):
        inner = "\n".join(f"  ({name}): {child!r}".replace("\n", "\n  ")
                          for name, child in self.children.items())
        return f"{type(self).__name__}(\n{inner}\n)"


class Sequential(Module):
    """Layers applied in order; params are keyed ``"<index>.<name>"`` (``"0.W"``)."""

    def __init__(self, *layers: Layer):
        super().__init__()
        if not layers:
            raise ValueError("Sequential needs at least one layer, got none")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential layer {i} must be a Layer, got {type(layer).__name__}")
            self.add(str(i), layer)
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):                   # chain rule, last layer first
            dout = layer.backward(dout)
        return dout


