"""Layers with explicit forward and hand-derived backward passes.

Dimension letters used in every shape below:

    B  batch size               T  number of time steps (``num_steps``)
    D  input features           H  hidden units (``num_hiddens``)
    V  vocabulary size          E  embedding size

The contract (see DESIGN.md) that every layer follows:

* ``layer.params`` and ``layer.grads`` are dicts name -> ``np.ndarray`` with the same
  keys and shapes;
* ``forward(...)`` keeps what ``backward`` needs as named attributes on the layer;
* ``backward(dout)`` returns the gradient with respect to the layer's input(s) and
  **adds** the parameter gradients into ``grads``; ``zero_grad()`` resets them.

Recurrent layers are time-major: ``X`` is ``(T, B, D)``, as in the book's concise RNN.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEFAULT_DTYPE = np.float32


# --------------------------------------------------------------------------- helpers
def make_rng(seed=None, rng=None) -> np.random.Generator:
    """Return ``rng`` if given, else a new generator seeded by ``seed``."""
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def check_positive_int(value, name: str) -> int:
    """Validate a size argument of a constructor: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_array(x, name: str, ndim: int | None = None, last_dim: int | None = None,
                shape: tuple | None = None, floating: bool = True) -> np.ndarray:
    """Validate an array argument and name it in the error."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if floating and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if last_dim is not None and (x.ndim == 0 or x.shape[-1] != last_dim):
        raise ValueError(f"{name} must have last dimension {last_dim}, got shape {x.shape}")
    if shape is not None and x.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {x.shape}")
    return x


def check_token_ids(ids, vocab_size: int, name: str = "ids") -> np.ndarray:
    """Validate an integer array of token ids in ``[0, vocab_size)``."""
    if not isinstance(ids, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of int token ids, got {type(ids).__name__}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    if ids.size:
        lo, hi = ids.min(), ids.max()
        if lo < 0:
            raise ValueError(f"token id {lo} in {name} is negative; ids must be in [0, {vocab_size})")
        if hi >= vocab_size:
            raise ValueError(f"token id {hi} in {name} out of range for vocab_size {vocab_size}")
    return ids


def init_weight(rng: np.random.Generator, shape: tuple, init: str = "normal",
                sigma: float = 0.01, dtype=DEFAULT_DTYPE) -> np.ndarray:
    """Draw a weight matrix ``(fan_in, fan_out)``.

    ``init='normal'``: N(0, sigma^2), the book's from-scratch choice (sigma = 0.01).
    ``init='xavier'``: Xavier/Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)),
    which the book's MLP uses.  ``init='uniform'``: U(-1/sqrt(n), 1/sqrt(n)) with n the
    number of output units, the default of the book's framework RNN layers (concise RNN).
    """
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


# --------------------------------------------------------------------------- base
class Layer:
    """Base class: a layer owns ``params`` and ``grads`` dicts with the same keys."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def _add_param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def zero_grad(self) -> None:
        """Set every gradient to zero (in place: references stay valid)."""
        for g in self.grads.values():
            g.fill(0)

    def astype(self, dtype):
        """Cast parameters and gradients to ``dtype`` (float32 to train, float64 to check).

        Arrays already of ``dtype`` are kept; a real cast makes new arrays, so build the
        optimizer (which holds references to them) after casting."""
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


class Module(Layer):
    """A layer built from named child layers; ``params`` keys are dotted (``"rnn.W_hh"``).

    The dicts are rebuilt on every access from the children's own dicts, so the arrays
    in them are the children's arrays: updating one in place updates the model.
    """

    def __init__(self):
        self.children: dict[str, Layer] = {}

    def add(self, name: str, layer: Layer) -> Layer:
        self.children[name] = layer
        if name.isidentifier():
            setattr(self, name, layer)
        return layer

    def _dotted(self, attr: str) -> dict[str, np.ndarray]:
        return {f"{cname}.{k}": v for cname, child in self.children.items()
                for k, v in getattr(child, attr).items()}

    @property
    def params(self):
        return self._dotted("params")

    @property
    def grads(self):
        return self._dotted("grads")

    def zero_grad(self) -> None:
        for child in self.children.values():
            child.zero_grad()

    def astype(self, dtype):
        for child in self.children.values():
            child.astype(dtype)
        self._dtype = np.dtype(dtype)
        return self

    def __repr__(self):
        inner = "\n".join(f"  ({name}): {child!r}".replace("\n", "\n  ")
                          for name, child in self.children.items())
        return f"{type(self).__name__}(\n{inner}\n)"


# --------------------------------------------------------------------------- inputs
class OneHot(Layer):
    """Token ids -> one-hot vectors, the book's from-scratch input encoding.

    forward: ids ``(T, B)`` int -> ``(T, B, V)``.  No parameters; ids have no gradient.
    """

    def __init__(self, vocab_size: int, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self._dtype = np.dtype(dtype)

    def astype(self, dtype):
        self._dtype = np.dtype(dtype)
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
        self._add_param("W", init_weight(rng, (self.vocab_size, self.embed_dim), init, sigma, dtype))
        self._ids = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        check_token_ids(ids, self.vocab_size)
        self._ids = ids
        return self.params["W"][ids]                          # (..., E)

    def backward(self, dout: np.ndarray) -> None:
        if self._ids is None:
            raise RuntimeError("Embedding.backward called before forward")
        check_array(dout, "dout", shape=self._ids.shape + (self.embed_dim,))
        # dL/dW[v] = sum of dout over the positions whose id is v           (V, E)
        scatter_add_rows(self.grads["W"], self._ids, dout)
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
        self._add_param("W", init_weight(rng, (self.in_features, self.out_features), init, sigma, dtype))
        self._add_param("b", np.zeros(self.out_features, dtype=dtype))
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "x", last_dim=self.in_features)
        self._x = x
        out = x @ self.params["W"]                            # (..., out)
        return np.add(out, self.params["b"], out=out)         # + b, in place

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        check_array(dout, "dout", shape=self._x.shape[:-1] + (self.out_features,))
        W = self.params["W"]
        x2 = self._x.reshape(-1, self.in_features)            # (N, in), N = all leading dims
        d2 = dout.reshape(-1, self.out_features)              # (N, out)
        self.grads["W"] += x2.T @ d2                          # dL/dW = x^T dout   (in, out)
        self.grads["b"] += np.einsum("nk->k", d2)             # dL/db = sum_n dout (out,)
        return (d2 @ W.T).reshape(self._x.shape)              # dL/dx = dout W^T   (..., in)


class _Activation(Layer):
    """An elementwise ``f``; backward uses the output ``h = f(z)``: ``activation_grad``."""
    nonlinearity = ""
    _out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(x, "x")
        self._out = _activate(x, self.nonlinearity)
        return self._out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._out is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        check_array(dout, "dout", shape=self._out.shape)
        return dout * activation_grad(self._out, self.nonlinearity)   # dL/dz = dout * f'(z)


class Tanh(_Activation):
    """Elementwise ``tanh``; tanh'(z) = 1 - tanh(z)^2, from the output."""
    nonlinearity = "tanh"


class ReLU(_Activation):
    """Elementwise ``max(z, 0)``; relu'(z) = 1 where z > 0, else 0."""
    nonlinearity = "relu"


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


# --------------------------------------------------------------------------- recurrent
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


class _RecurrentParams(Layer):
    """The parameters shared by ``RNNCell`` and ``RNN``: W_xh (D, H), W_hh (H, H), b_h (H,)."""

    def __init__(self, input_size, hidden_size, nonlinearity, seed, rng, init, sigma, dtype):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        rng = make_rng(seed, rng)
        D, H = self.input_size, self.hidden_size
        self._add_param("W_xh", init_weight(rng, (D, H), init, sigma, dtype))
        self._add_param("W_hh", init_weight(rng, (H, H), init, sigma, dtype))
        self._add_param("b_h", np.zeros(H, dtype=dtype))

    def __repr__(self):
        shown = super().__repr__()
        return shown if self.nonlinearity == "tanh" else f"{shown[:-1]}, nonlinearity={self.nonlinearity!r})"

    @property
    def num_hiddens(self) -> int:
        """The book's name for ``hidden_size``."""
        return self.hidden_size

    def _check_state(self, h, batch_size: int, name: str) -> None:
        check_array(h, name, shape=(batch_size, self.hidden_size))


class StepCache(NamedTuple):
    """What ``RNNCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray        # (B, D)  input X_t
    h_prev: np.ndarray   # (B, H)  H_{t-1}
    h: np.ndarray        # (B, H)  H_t


class RNNCell(_RecurrentParams):
    """One step of the book's RNN, for reading and stepping through in a debugger:

        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),   f = tanh (default) or relu

    ``step_forward(x, h_prev) -> (h, cache)`` and ``step_backward(dh, cache) -> (dx, dh_prev)``.
    Loop them over time yourself (see ``examples/rnn_scratch.py``); ``RNN`` is the same
    computation vectorized over the sequence, and a test keeps the two equal.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        super().__init__(input_size, hidden_size, nonlinearity, seed, rng, init, sigma, dtype)

    def step_forward(self, x: np.ndarray, h_prev: np.ndarray) -> tuple[np.ndarray, StepCache]:
        """x ``(B, D)``, h_prev ``(B, H)`` -> h ``(B, H)`` and the step's cache."""
        check_array(x, "x", ndim=2, last_dim=self.input_size)
        self._check_state(h_prev, x.shape[0], "h_prev")
        p = self.params
        h = _activate(x @ p["W_xh"] + h_prev @ p["W_hh"] + p["b_h"], self.nonlinearity)
        return h, StepCache(x, h_prev, h)

    def step_backward(self, dh: np.ndarray, cache: StepCache) -> tuple[np.ndarray, np.ndarray]:
        """dh = dL/dH_t ``(B, H)`` (from the output *and* from step t+1) -> (dx, dh_prev)."""
        p, g = self.params, self.grads
        dz = dh * activation_grad(cache.h, self.nonlinearity)   # dL/dZ_t = dL/dH_t * f'(Z_t)  (B, H)
        g["W_xh"] += cache.x.T @ dz                               # dL/dW_xh += X_t^T dZ_t      (D, H)
        g["W_hh"] += cache.h_prev.T @ dz                          # dL/dW_hh += H_{t-1}^T dZ_t  (H, H)
        g["b_h"] += dz.sum(axis=0)                                # dL/db_h  += sum_b dZ_t      (H,)
        dx = dz @ p["W_xh"].T                                     # dL/dX_t     = dZ_t W_xh^T   (B, D)
        dh_prev = dz @ p["W_hh"].T                                # dL/dH_{t-1} = dZ_t W_hh^T   (B, H)
        return dx, dh_prev


class RNN(_RecurrentParams):
    """The book's RNN over a whole sequence, vectorized (time-major):

        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),  t = 1..T,  H_0 = h0 (zeros if None)

    forward: ``X (T, B, D)``, ``h0 (B, H)`` or None -> ``(Hs (T, B, H), h_T (B, H))``.
    backward: ``(dHs (T, B, H), dh_T (B, H) or None)`` -> ``(dX (T, B, D), dh0 (B, H))``.

    Only the recurrence is a Python loop: input projections and weight gradients are one
    GEMM each (``backward(..., input_grad=False)`` skips dX's and returns None: one-hot
    inputs).  ``Hs`` views a buffer that the next ``forward`` of the same shape
    overwrites: copy it (``Hs.copy()``) to keep it longer.

    Two opt-in hooks for the BPTT section (see ``minirnn.bptt``):
    ``backward(..., keep=k)`` multiplies the gradient flowing from H_t back to H_{t-1} by
    ``k[t]`` (0 cuts it: truncation; 1/p keeps it, reweighted: randomized truncation);
    ``record_grad_norms = True`` stores ``||dL/dH_t||`` for every t in ``dh_norms`` (T,).
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        super().__init__(input_size, hidden_size, nonlinearity, seed, rng, init, sigma, dtype)
        self.record_grad_norms = False
        self.dh_norms = None
        self._X = None        # (T, B, D)    inputs of the last forward
        self._H = None        # (T+1, B, H)  H[0] = h0, H[t] = H_t: one preallocated buffer
        self._dZ = None       # (T, B, H)    backward buffer: dL/dZ_t for every step

    def _buffer(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """A preallocated array reused across minibatches of the same shape and dtype."""
        buf = getattr(self, name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            setattr(self, name, buf)
        return buf

    def check_backward_args(self, dh_T=None, keep=None, dh_T_name: str = "dh_T") -> None:
        """Check ``backward``'s ``dh_T (B, H)`` and ``keep (T,)`` against the last forward
        (a model calls it before its other layers' backward, so nothing changes first)."""
        if self._H is None or self._X is None:
            raise RuntimeError("RNN.backward called before forward")
        T, B = self._X.shape[:2]
        if dh_T is not None:
            self._check_state(dh_T, B, dh_T_name)
        if keep is not None and np.shape(keep) != (T,):
            raise ValueError(f"keep must have shape ({T},), got {np.shape(keep)}")

    def forward(self, X: np.ndarray, h0: np.ndarray | None = None):
        check_array(X, "X", ndim=3, last_dim=self.input_size)
        T, B, D = X.shape
        H = self.hidden_size
        if h0 is not None:
            self._check_state(h0, B, "h0")
        p = self.params
        dtype = p["W_hh"].dtype
        Hbuf = self._buffer("_H", (T + 1, B, H), dtype)
        Hbuf[0] = 0 if h0 is None else h0
        # all input projections at once: P_t = X_t W_xh + b_h  ->  (T, B, H), written into H[1:]
        np.matmul(X.reshape(T * B, D), p["W_xh"], out=Hbuf[1:].reshape(T * B, H))
        Hbuf[1:] += p["b_h"]
        W_hh = p["W_hh"]
        for t in range(T):                                     # H_{t+1} = f(P_t + H_t W_hh)
            Hbuf[t + 1] += Hbuf[t] @ W_hh
            _activate(Hbuf[t + 1], self.nonlinearity, out=Hbuf[t + 1])
        self._X = X
        return Hbuf[1:], Hbuf[T].copy()

    def backward(self, dHs: np.ndarray, dh_T: np.ndarray | None = None,
                 keep: np.ndarray | None = None, input_grad: bool = True):
        self.check_backward_args(dh_T, keep)                   # and that forward came first
        X, Hbuf = self._X, self._H
        T, B, D = X.shape
        H = self.hidden_size
        check_array(dHs, "dHs", shape=(T, B, H))
        p, g = self.params, self.grads
        W_hh_T = np.ascontiguousarray(p["W_hh"].T)             # (H, H), a copy: BLAS is slower on a view
        dZ = self._buffer("_dZ", (T, B, H), Hbuf.dtype)
        fprime = activation_grad(Hbuf[1:], self.nonlinearity)  # (T, B, H) f'(Z_t) from H_t, all t
        dh_next = np.zeros((B, H), Hbuf.dtype) if dh_T is None else dh_T.astype(Hbuf.dtype)  # (B, H)
        if self.record_grad_norms:
            self.dh_norms = np.empty(T)
        for t in reversed(range(T)):
            # dL/dH_t = dHs[t] (from the output at t) + dh_next (from step t+1)      (B, H)
            np.add(dHs[t], dh_next, out=dZ[t])
            if self.record_grad_norms:
                self.dh_norms[t] = np.linalg.norm(dZ[t])
            dZ[t] *= fprime[t]                                 # dL/dZ_t = dL/dH_t * f'(Z_t)  (B, H)
            np.matmul(dZ[t], W_hh_T, out=dh_next)              # dL/dH_{t-1} = dZ_t W_hh^T    (B, H)
            if keep is not None:
                dh_next *= keep[t]                             # truncation: 0 cuts, 1/p reweights
        del fprime, W_hh_T                                     # freed before the GEMMs' temporaries
        dZ2 = dZ.reshape(T * B, H)                             # (T*B, H): every step's dZ_t stacked
        g["W_xh"] += X.reshape(T * B, D).T @ dZ2               # dL/dW_xh = sum_t X_t^T dZ_t      (D, H)
        g["W_hh"] += Hbuf[:-1].reshape(T * B, H).T @ dZ2       # dL/dW_hh = sum_t H_{t-1}^T dZ_t  (H, H)
        g["b_h"] += np.einsum("nh->h", dZ2)                    # dL/db_h  = sum_t sum_b dZ_t      (H,)
        if not input_grad:                                     # e.g. one-hot inputs (no gradient)
            return None, dh_next                               # dh_next is now dL/dH_0
        dX = (dZ2 @ p["W_xh"].T).reshape(T, B, D)              # dL/dX_t  = dZ_t W_xh^T  (T, B, D)
        return dX, dh_next                                     # dh_next is now dL/dH_0
