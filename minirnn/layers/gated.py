"""Gated recurrent cells: the book's GRU and LSTM, each as a readable one-step cell and a
vectorized layer, following the recurrent contract of ``recurrent.py`` exactly as ``RNN``.

Dimension letters: B batch, T steps (``num_steps``), D input features, H hidden units
(``num_hiddens``), G gates (GRU 3, LSTM 4).  ``*`` is the elementwise product, ``@`` or
juxtaposition the matrix product, sigma the logistic sigmoid.

The book's GRU (``reset_after=False``, the default), gate blocks in the order r, z, h:

    R_t  = sigma(X_t W_xr + H_{t-1} W_hr + b_r)           reset gate
    Z_t  = sigma(X_t W_xz + H_{t-1} W_hz + b_z)           update gate
    H~_t = tanh(X_t W_xh + (R_t * H_{t-1}) W_hh + b_h)    candidate hidden state
    H_t  = Z_t * H_{t-1} + (1 - Z_t) * H~_t

PyTorch's ``nn.GRU`` and cuDNN (``reset_after=True``) reset *after* the product, with an
extra bias ``b_hn`` inside it (PyTorch's n is the book's H~):

    H~_t = tanh(X_t W_xh + b_h + R_t * (H_{t-1} W_hh + b_hn))

The two are different functions: the same weights give different outputs, so weights
trained in PyTorch need ``reset_after=True``, and a ``b_hn`` of zero does not make them
agree (R multiplies ``H_{t-1} W_hh`` after the product instead of ``H_{t-1}`` before it).
Resetting after the product is what lets PyTorch compute ``H_{t-1} W_h`` for all three
gates in one matrix product; the book's order needs R_t before the candidate's product.

The book's LSTM, gate blocks in the order i, f, o, c (the book's order; PyTorch's is
i, f, g, o, with g the book's C~):

    I_t  = sigma(X_t W_xi + H_{t-1} W_hi + b_i)           input gate
    F_t  = sigma(X_t W_xf + H_{t-1} W_hf + b_f)           forget gate
    O_t  = sigma(X_t W_xo + H_{t-1} W_ho + b_o)           output gate
    C~_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)            input node (candidate memory)
    C_t  = F_t * C_{t-1} + I_t * C~_t                     memory cell
    H_t  = O_t * tanh(C_t)

with the state the pair ``(h, c)``.

**Parameters are fused**: ``params`` holds ``W_x (D, G*H)``, ``W_h (H, G*H)``,
``b (G*H,)`` (and, for ``GRU(reset_after=True)``, ``b_hn (H,)``), gate k in columns
``k*H:(k+1)*H``.  That is what makes the layer fast: one GEMM for every input projection
of every step before the time loop, ``X.reshape(T*B, D) @ W_x``, and one product
``H_{t-1} @ W_h`` per step for all gates (the book's GRU: one for R and Z, then one for the
candidate, which needs R_t first).  The book's per-gate names are read-only views of
these arrays, recomputed on every access (so they follow ``astype``): ``gru.W_xr`` is
``gru.params["W_x"][:, 0:H]``; ``gate_params()`` returns them all as a dict, and
``gate_grads()`` the matching views of ``grads``.  ``params`` lists only the fused arrays,
so every number is listed once (an optimizer moves it once, clipping counts it once).

The recurrent contract (as ``RNN``): ``forward(X (T, B, D), state=None, lengths=None) ->
(Hs (T, B, H), state)`` with the state a tuple of ``(1, B, H)`` arrays, ``(h,)`` for the
GRU and ``(h, c)`` for the LSTM; ``backward(dHs, dstate=None, keep=None, input_grad=True)
-> (dX, dstate0)``.  The cells work on one step with ``(B, H)`` arrays:
``step_forward(x, state) -> (state, cache)``, ``step_backward(dstate, cache) -> (dx,
dstate_prev)``; tests keep each cell equal to its layer, and both equal to PyTorch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_positive_int, make_rng
from .base import DEFAULT_DTYPE, Layer, init_weight
from .recurrent import (RecurrentLayer, batch_sizes, check_state, from_real_rows, input_projection,
                        keep_factor, real_rows)

__all__ = ["sigmoid", "GRUCell", "GRU", "LSTMCell", "LSTM", "GRUStepCache", "GRUCache",
           "LSTMStepCache", "LSTMCache", "GateView"]


# --------------------------------------------------------------------------- activations
def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sigma(a) = 1 / (1 + exp(-a)), written into ``out`` when given (``out=a``: in place).

    Stable as written: for a < -88 (float32; -709 in float64) exp(-a) overflows to inf and
    1 / (1 + inf) = 0 is the right answer (the true value is below the smallest normal
    float); for large a it underflows to 0 and the answer is 1.  Both are expected, so
    they are silenced here, nowhere else.  Every other input keeps full relative
    precision, deep in the tails too (the identity (1 + tanh(a/2)) / 2 loses it there to
    cancellation: 1e-4 relative at a = -30; and np.tanh is slower than np.exp).
    """
    with np.errstate(over="ignore", under="ignore"):
        out = np.negative(a, out=out)                      # -a
        np.exp(out, out=out)                               # exp(-a), float32: inf for a < -88
    out += 1                                               # 1 + exp(-a)
    return np.reciprocal(out, out=out)                     # 1 / (1 + exp(-a))


def gate_derivatives(gates: np.ndarray, num_sigmoid_gates: int, hidden_size: int) -> np.ndarray:
    """Each gate's activation derivative from its output (no pre-activation needed):
    sigma' = s (1 - s) for the first ``num_sigmoid_gates`` blocks of ``hidden_size``
    columns, tanh' = 1 - t^2 for the rest.  ``gates (..., G*H)`` -> a new ``(..., G*H)``."""
    k = num_sigmoid_gates * hidden_size
    d = np.empty_like(gates)
    s, ds = gates[..., :k], d[..., :k]
    np.subtract(1, s, out=ds)
    ds *= s                                                # sigma'(a) = s (1 - s)
    c, dc = gates[..., k:], d[..., k:]
    np.multiply(c, c, out=dc)
    np.subtract(1, dc, out=dc)                             # tanh'(a) = 1 - t^2
    return d


# --------------------------------------------------------------------------- the parameters
class GateView:
    """A book name for one gate's block of a fused parameter (``gru.W_xr`` is
    ``gru.params["W_x"][:, 0:H]``): a read-only view, looked up anew on every access, so it
    always shows the current array (also after ``astype``).  To change a weight, write into
    the fused array in ``params``."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        views = layer.gate_params()
        if self.name not in views:
            raise AttributeError(f"{type(layer).__name__} has no {self.name}: its per-gate "
                                 f"parameters are {', '.join(views)}")
        return views[self.name]

    def __set__(self, layer, value):
        raise AttributeError(f"{self.name} is a read-only view of a fused parameter (see "
                             f"gate_params()); write into {type(layer).__name__}.params instead")


class _GatedParams(Layer):
    """The fused parameters of a gated cell and their per-gate views.

    ``W_x (D, G*H)``, ``W_h (H, G*H)``, ``b (G*H,)``; gate k (``GATES[k]``) owns columns
    ``k*H:(k+1)*H``.  Each gate's weights are drawn as the book draws them, one ``(D, H)``
    and one ``(H, H)`` matrix per gate, with ``init``: ``'normal'`` (the default,
    N(0, sigma^2) with sigma 0.01: the book's GRU and LSTM from scratch, as ``RNN``),
    ``'uniform'`` (U(+-1/sqrt(H)), PyTorch's ``nn.GRU`` / ``nn.LSTM``: per gate, so H and
    not G*H) or ``'xavier'``.  Biases start at zero (the book's; PyTorch draws its biases too).
    """

    GATES: tuple = ()          # the gate letters in the fused arrays' column order

    def __init__(self, input_size, hidden_size, seed, rng, init, sigma, dtype):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        rng = make_rng(seed, rng)
        D, H, G = self.input_size, self.hidden_size, len(self.GATES)
        W_x = np.empty((D, G * H), dtype=dtype)
        W_h = np.empty((H, G * H), dtype=dtype)
        for k in range(G):                                 # per gate, as the book: W_x*, W_h*
            W_x[:, k * H:(k + 1) * H] = init_weight(rng, (D, H), init, sigma, dtype)
            W_h[:, k * H:(k + 1) * H] = init_weight(rng, (H, H), init, sigma, dtype)
        self._add_param("W_x", W_x)
        self._add_param("W_h", W_h)
        self._add_param("b", np.zeros(G * H, dtype=dtype))

    def _gate_blocks(self, arrays: dict) -> dict:
        """``{"W_x<g>": W_x[:, block], "W_h<g>": W_h[:, block], "b_<g>": b[block]}`` for
        every gate g, in gate order: views of ``arrays`` (``params`` or ``grads``)."""
        if getattr(self, "layers", None) is not None:
            raise AttributeError(f"a stacked or bidirectional {type(self).__name__} has no "
                                 f"per-gate views of its own: its copies do "
                                 f"(layer.layers[k][d].gate_params())")
        H = self.hidden_size
        views = {}
        for k, gate in enumerate(self.GATES):
            block = slice(k * H, (k + 1) * H)
            views[f"W_x{gate}"] = arrays["W_x"][:, block]  # (D, H)
            views[f"W_h{gate}"] = arrays["W_h"][:, block]  # (H, H)
            views[f"b_{gate}"] = arrays["b"][block]        # (H,)
        return views

    def gate_params(self) -> dict:
        """The book's per-gate parameters, read-only views of the fused arrays
        (``{"W_xr": (D, H), "W_hr": (H, H), "b_r": (H,), ...}`` in gate order)."""
        views = self._gate_blocks(self.params)
        for v in views.values():
            v.flags.writeable = False
        return views

    def gate_grads(self) -> dict:
        """The per-gate gradients, views of the fused ``grads`` with ``gate_params()``'s
        names; writable, since backward adds into them (adding into one adds into the
        fused gradient)."""
        return self._gate_blocks(self.grads)

    def __repr__(self):
        return f"{super().__repr__()[:-1]}; gates {'|'.join(self.GATES)})"

    @property
    def num_hiddens(self) -> int:
        """The book's name for ``hidden_size``."""
        return self.hidden_size


class _GRUParams(_GatedParams):
    """The GRU's parameters: fused ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b (3H,)``, gate blocks
    r, z, h (h: the candidate H~); with ``reset_after`` also ``b_hn (H,)``, the bias inside
    the reset product.  The book's names are views: ``W_xr, W_hr, b_r, W_xz, W_hz, b_z,
    W_xh, W_hh, b_h``."""

    GATES = ("r", "z", "h")                                # sigma, sigma, tanh
    state_names = ("h",)                                   # the state: (h,)
    W_xr, W_hr, b_r = GateView(), GateView(), GateView()
    W_xz, W_hz, b_z = GateView(), GateView(), GateView()
    W_xh, W_hh, b_h = GateView(), GateView(), GateView()
    b_hn = GateView()

    def __init__(self, input_size, hidden_size, reset_after, seed, rng, init, sigma, dtype):
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after must be True (PyTorch's GRU) or False (the book's), "
                            f"got {reset_after!r}")
        super().__init__(input_size, hidden_size, seed, rng, init, sigma, dtype)
        self.reset_after = reset_after
        if reset_after:
            self._add_param("b_hn", np.zeros(self.hidden_size, dtype=dtype))

    def gate_params(self) -> dict:
        views = super().gate_params()
        if self.reset_after:
            views["b_hn"] = self.params["b_hn"].view()
            views["b_hn"].flags.writeable = False
        return views

    def gate_grads(self) -> dict:
        views = super().gate_grads()
        if self.reset_after:
            views["b_hn"] = self.grads["b_hn"]
        return views

    def __repr__(self):
        shown = super().__repr__()
        return f"{shown[:-1]}, reset_after=True)" if self.reset_after else shown


class _LSTMParams(_GatedParams):
    """The LSTM's parameters: fused ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``, gate blocks
    i, f, o, c (the three sigmoid gates first, then the tanh input node C~).  The book's
    names are views: ``W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c``.
    One bias per gate: PyTorch's two (``bias_ih + bias_hh``) sum into it."""

    GATES = ("i", "f", "o", "c")                           # sigma, sigma, sigma, tanh
    state_names = ("h", "c")                               # the state: (h, c)
    W_xi, W_hi, b_i = GateView(), GateView(), GateView()
    W_xf, W_hf, b_f = GateView(), GateView(), GateView()
    W_xo, W_ho, b_o = GateView(), GateView(), GateView()
    W_xc, W_hc, b_c = GateView(), GateView(), GateView()


def _check_step_cache(cache, cache_type) -> None:
    if not isinstance(cache, cache_type):
        raise TypeError(f"cache must be the {cache_type.__name__} that step_forward returned, "
                        f"got {type(cache).__name__}")


# --------------------------------------------------------------------------- the GRU cell
class GRUStepCache(NamedTuple):
    """What ``GRUCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray               # (B, D)  input X_t
    h_prev: np.ndarray          # (B, H)  H_{t-1}
    r: np.ndarray               # (B, H)  reset gate R_t
    z: np.ndarray               # (B, H)  update gate Z_t
    h_tilde: np.ndarray         # (B, H)  candidate H~_t
    hn: np.ndarray | None       # (B, H)  H_{t-1} W_hh + b_hn (reset_after only, else None)


class GRUCell(_GRUParams):
    """One step of the GRU, for reading and stepping through in a debugger (the module
    docstring has the equations; ``reset_after`` picks the book's or PyTorch's candidate).

    ``step_forward(x, (h_prev,)) -> ((h,), cache)`` and
    ``step_backward((dh,), cache) -> (dx, (dh_prev,))``, with ``(B, H)`` state arrays.
    Written gate by gate with the book's names; ``GRU`` is the same computation on the
    fused arrays, vectorized over the sequence, and a test keeps the two equal.
    """

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = False,
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        super().__init__(input_size, hidden_size, reset_after, seed, rng, init, sigma, dtype)

    def step_forward(self, x: np.ndarray, state: tuple) -> tuple[tuple, GRUStepCache]:
        """x ``(B, D)``, state ``(h_prev,)`` with h_prev ``(B, H)`` -> ``((h,), cache)``."""
        check_array(x, "x", ndim=2, last_dim=self.input_size, dtype=self.dtype)
        (h_prev,) = check_state(state, "state", (x.shape[0], self.hidden_size), dtype=self.dtype)
        p = self.gate_params()
        r = sigmoid(x @ p["W_xr"] + h_prev @ p["W_hr"] + p["b_r"])          # R_t   (B, H)
        z = sigmoid(x @ p["W_xz"] + h_prev @ p["W_hz"] + p["b_z"])          # Z_t   (B, H)
        if not self.reset_after:                                            # the book
            hn = None
            h_tilde = np.tanh(x @ p["W_xh"] + (r * h_prev) @ p["W_hh"] + p["b_h"])  # H~_t
        else:                                                               # PyTorch's
            hn = h_prev @ p["W_hh"] + p["b_hn"]                             # (B, H)
            h_tilde = np.tanh(x @ p["W_xh"] + p["b_h"] + r * hn)            # H~_t  (B, H)
        h = z * h_prev + (1 - z) * h_tilde                                  # H_t   (B, H)
        return (h,), GRUStepCache(x, h_prev, r, z, h_tilde, hn)

    def step_backward(self, dstate: tuple, cache: GRUStepCache) -> tuple[np.ndarray, tuple]:
        """dstate ``(dh,)``, dh = dL/dH_t ``(B, H)`` (from the output *and* from step t+1)
        -> ``(dx (B, D), (dh_prev,))``."""
        _check_step_cache(cache, GRUStepCache)
        (dh,) = check_state(dstate, "dstate", cache.h_prev.shape, dtype=self.dtype)
        x, h_prev, r, z, h_tilde, hn = cache
        p, g = self.gate_params(), self.gate_grads()
        # H_t = Z_t * H_{t-1} + (1 - Z_t) * H~_t
        dz = dh * (h_prev - h_tilde)                       # dL/dZ_t               (B, H)
        dh_tilde = dh * (1 - z)                            # dL/dH~_t              (B, H)
        da_h = dh_tilde * (1 - h_tilde ** 2)               # through tanh: tanh' = 1 - H~^2 (B, H)
        if not self.reset_after:
            drh = da_h @ p["W_hh"].T                       # dL/d(R_t * H_{t-1}) = da_h W_hh^T
            dr = drh * h_prev                              # dL/dR_t               (B, H)
        else:
            dhn = da_h * r                                 # dL/d(H_{t-1} W_hh + b_hn) (B, H)
            dr = da_h * hn                                 # dL/dR_t               (B, H)
        da_r = dr * r * (1 - r)                            # through sigma: sigma' = R (1 - R)
        da_z = dz * z * (1 - z)                            # through sigma: sigma' = Z (1 - Z)
        g["W_xr"] += x.T @ da_r                            # dL/dW_xr += X_t^T da_r      (D, H)
        g["W_hr"] += h_prev.T @ da_r                       # dL/dW_hr += H_{t-1}^T da_r  (H, H)
        g["b_r"] += da_r.sum(axis=0)                       # dL/db_r  += sum_b da_r      (H,)
        g["W_xz"] += x.T @ da_z                            # dL/dW_xz += X_t^T da_z      (D, H)
        g["W_hz"] += h_prev.T @ da_z                       # dL/dW_hz += H_{t-1}^T da_z  (H, H)
        g["b_z"] += da_z.sum(axis=0)                       # dL/db_z  += sum_b da_z      (H,)
        g["W_xh"] += x.T @ da_h                            # dL/dW_xh += X_t^T da_h      (D, H)
        g["b_h"] += da_h.sum(axis=0)                       # dL/db_h  += sum_b da_h      (H,)
        if not self.reset_after:
            g["W_hh"] += (r * h_prev).T @ da_h             # dL/dW_hh += (R_t*H_{t-1})^T da_h (H, H)
            dh_cand = drh * r                              # dL/dH_{t-1} via the candidate (B, H)
        else:
            g["W_hh"] += h_prev.T @ dhn                    # dL/dW_hh += H_{t-1}^T dhn   (H, H)
            g["b_hn"] += dhn.sum(axis=0)                   # dL/db_hn += sum_b dhn       (H,)
            dh_cand = dhn @ p["W_hh"].T                    # dL/dH_{t-1} via the candidate (B, H)
        # dL/dX_t = da_r W_xr^T + da_z W_xz^T + da_h W_xh^T                          (B, D)
        dx = da_r @ p["W_xr"].T + da_z @ p["W_xz"].T + da_h @ p["W_xh"].T
        # dL/dH_{t-1} = dh * Z_t (directly) + the candidate's + the gates' paths      (B, H)
        dh_prev = dh * z + dh_cand + da_r @ p["W_hr"].T + da_z @ p["W_hz"].T
        return dx, (dh_prev,)


# --------------------------------------------------------------------------- the LSTM cell
class LSTMStepCache(NamedTuple):
    """What ``LSTMCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray               # (B, D)  input X_t
    h_prev: np.ndarray          # (B, H)  H_{t-1}
    c_prev: np.ndarray          # (B, H)  C_{t-1}
    i: np.ndarray               # (B, H)  input gate I_t
    f: np.ndarray               # (B, H)  forget gate F_t
    o: np.ndarray               # (B, H)  output gate O_t
    c_tilde: np.ndarray         # (B, H)  input node C~_t
    c: np.ndarray               # (B, H)  memory cell C_t


class LSTMCell(_LSTMParams):
    """One step of the book's LSTM, for reading and stepping through in a debugger (the
    module docstring has the equations).

    ``step_forward(x, (h_prev, c_prev)) -> ((h, c), cache)`` and
    ``step_backward((dh, dc), cache) -> (dx, (dh_prev, dc_prev))``, with ``(B, H)`` arrays:
    dh = dL/dH_t from the output *and* from step t+1; dc = dL/dC_t from step t+1 only (the
    path through H_t = O_t * tanh(C_t) is added here).  ``LSTM`` is the same computation on
    the fused arrays, vectorized over the sequence, and a test keeps the two equal.
    """

    def __init__(self, input_size: int, hidden_size: int, seed=None, rng=None,
                 init: str = "normal", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__(input_size, hidden_size, seed, rng, init, sigma, dtype)

    def step_forward(self, x: np.ndarray, state: tuple) -> tuple[tuple, LSTMStepCache]:
        """x ``(B, D)``, state ``(h_prev, c_prev)``, each ``(B, H)`` -> ``((h, c), cache)``."""
        check_array(x, "x", ndim=2, last_dim=self.input_size, dtype=self.dtype)
        h_prev, c_prev = check_state(state, "state", (x.shape[0], self.hidden_size), 2, self.dtype)
        p = self.gate_params()
        i = sigmoid(x @ p["W_xi"] + h_prev @ p["W_hi"] + p["b_i"])          # I_t   (B, H)
        f = sigmoid(x @ p["W_xf"] + h_prev @ p["W_hf"] + p["b_f"])          # F_t   (B, H)
        o = sigmoid(x @ p["W_xo"] + h_prev @ p["W_ho"] + p["b_o"])          # O_t   (B, H)
        c_tilde = np.tanh(x @ p["W_xc"] + h_prev @ p["W_hc"] + p["b_c"])    # C~_t  (B, H)
        c = f * c_prev + i * c_tilde                                        # C_t   (B, H)
        h = o * np.tanh(c)                                                  # H_t   (B, H)
        return (h, c), LSTMStepCache(x, h_prev, c_prev, i, f, o, c_tilde, c)

    def step_backward(self, dstate: tuple, cache: LSTMStepCache) -> tuple[np.ndarray, tuple]:
        """dstate ``(dh, dc_next)``: dh = dL/dH_t (from the output and step t+1), dc_next =
        dL/dC_t from step t+1, each ``(B, H)`` -> ``(dx (B, D), (dh_prev, dc_prev))``."""
        _check_step_cache(cache, LSTMStepCache)
        dh, dc_next = check_state(dstate, "dstate", cache.h_prev.shape, 2, self.dtype)
        x, h_prev, c_prev, i, f, o, c_tilde, c = cache
        p, g = self.gate_params(), self.gate_grads()
        tanh_c = np.tanh(c)                                # tanh(C_t)             (B, H)
        # dL/dC_t = from step t+1 + through H_t = O_t * tanh(C_t): dh * O_t * (1 - tanh^2 C_t)
        dc = dc_next + dh * o * (1 - tanh_c ** 2)          #                       (B, H)
        do = dh * tanh_c                                   # dL/dO_t               (B, H)
        di = dc * c_tilde                                  # dL/dI_t  (C_t = F*C_{t-1} + I*C~)
        df = dc * c_prev                                   # dL/dF_t               (B, H)
        dc_tilde = dc * i                                  # dL/dC~_t              (B, H)
        da_i = di * i * (1 - i)                            # through sigma: sigma' = I (1 - I)
        da_f = df * f * (1 - f)                            # through sigma: sigma' = F (1 - F)
        da_o = do * o * (1 - o)                            # through sigma: sigma' = O (1 - O)
        da_c = dc_tilde * (1 - c_tilde ** 2)               # through tanh: tanh' = 1 - C~^2
        g["W_xi"] += x.T @ da_i                            # dL/dW_xi += X_t^T da_i      (D, H)
        g["W_hi"] += h_prev.T @ da_i                       # dL/dW_hi += H_{t-1}^T da_i  (H, H)
        g["b_i"] += da_i.sum(axis=0)                       # dL/db_i  += sum_b da_i      (H,)
        g["W_xf"] += x.T @ da_f                            # dL/dW_xf += X_t^T da_f      (D, H)
        g["W_hf"] += h_prev.T @ da_f                       # dL/dW_hf += H_{t-1}^T da_f  (H, H)
        g["b_f"] += da_f.sum(axis=0)                       # dL/db_f  += sum_b da_f      (H,)
        g["W_xo"] += x.T @ da_o                            # dL/dW_xo += X_t^T da_o      (D, H)
        g["W_ho"] += h_prev.T @ da_o                       # dL/dW_ho += H_{t-1}^T da_o  (H, H)
        g["b_o"] += da_o.sum(axis=0)                       # dL/db_o  += sum_b da_o      (H,)
        g["W_xc"] += x.T @ da_c                            # dL/dW_xc += X_t^T da_c      (D, H)
        g["W_hc"] += h_prev.T @ da_c                       # dL/dW_hc += H_{t-1}^T da_c  (H, H)
        g["b_c"] += da_c.sum(axis=0)                       # dL/db_c  += sum_b da_c      (H,)
        # dL/dX_t = sum over gates of da_* W_x*^T                                      (B, D)
        dx = da_i @ p["W_xi"].T + da_f @ p["W_xf"].T + da_o @ p["W_xo"].T + da_c @ p["W_xc"].T
        # dL/dH_{t-1} = sum over gates of da_* W_h*^T                                  (B, H)
        dh_prev = da_i @ p["W_hi"].T + da_f @ p["W_hf"].T + da_o @ p["W_ho"].T + da_c @ p["W_hc"].T
        dc_prev = dc * f                                   # dL/dC_{t-1} = dL/dC_t * F_t (B, H)
        return dx, (dh_prev, dc_prev)


# --------------------------------------------------------------------------- the layers
class GRUCache(NamedTuple):
    """What ``GRU.backward`` needs from ``forward`` (``gru.cache``)."""
    X: np.ndarray               # (T, B, D)    the inputs X_1..X_T
    H: np.ndarray               # (T+1, B, H)  H[0] = H_0 (the initial state), H[t] = H_t
    gates: np.ndarray           # (T, B, 3H)   [R_t | Z_t | H~_t] for every step
    RH: np.ndarray | None       # (T, B, H)    R_t * H_{t-1} (the book's GRU; None with reset_after)
    HN: np.ndarray | None       # (T, B, H)    H_{t-1} W_hh + b_hn (reset_after; else None)
    lengths: np.ndarray | None  # (B,)         longest first; None: every sequence runs T steps


class GRU(RecurrentLayer, _GRUParams):
    """The GRU over a whole sequence, vectorized (time-major); the equations are in the
    module docstring (``reset_after=False``: the book's; True: PyTorch's / cuDNN's).

    forward: ``X (T, B, D)``, ``state`` ``(h0,)`` with h0 ``(1, B, H)``, or None (zeros)
    -> ``(Hs (T, B, H), (h_T,))``.
    backward: ``(dHs (T, B, H), dstate (dh_T,) or None, keep)`` -> ``(dX (T, B, D), (dh0,))``
    (``input_grad=False`` skips dX and returns None for it: one-hot inputs).

    params: ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b (3H,)`` (+ ``b_hn (H,)`` with reset_after),
    gate blocks r, z, h; the book's names are read-only views (``gru.W_xr``, ``gate_params()``).
    One GEMM computes every step's input projections before the loop; each step then does
    one product ``H_{t-1} [W_hr | W_hz]`` for both gates and one ``(R_t * H_{t-1}) W_hh``
    for the candidate (it needs R_t first); with reset_after, one ``H_{t-1} W_h`` for all
    three.  Weight gradients are single GEMMs after the loop.  ``Hs`` is a read-only view of
    ``cache.H``.

    BPTT hooks, as ``RNN``'s: ``keep`` ``(T,)`` or ``(T, B)`` multiplies the gradient that
    flows from H_t back to H_{t-1} (all of it: the direct ``Z_t`` path and the gates') by
    ``keep[t]``; ``record_grad_norms = True`` stores ``||dL/dH_t||`` in ``dh_norms`` (T,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 reset_after: bool = False, bidirectional: bool = False, dropout: float = 0.0,
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        rng = make_rng(seed, rng)
        self.record_grad_norms, self.dh_norms, self.cache = False, None, None
        if self._build_stack(input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                             lambda D: GRU(D, hidden_size, reset_after=reset_after, rng=rng,
                                           init=init, sigma=sigma, dtype=dtype)):
            self.reset_after = reset_after                     # a stack of one-layer GRUs
            return
        _GRUParams.__init__(self, input_size, hidden_size, reset_after, None, rng, init,
                            sigma, dtype)

    def forward_steps(self, X: np.ndarray, state: tuple | None, lengths):
        """The one-layer forward (``forward`` checked the arguments and sorted a padded
        batch longest first): ``X (T, B, D)``, ``state`` ``(h0 (1, B, H),)`` or None,
        ``lengths (B,)`` sorted or None -> ``(Hs (T, B, H), (h_T (1, B, H),))``."""
        T, B, D = X.shape
        H = self.hidden_size
        p = self.params
        W_h = p["W_h"]
        dtype = W_h.dtype
        Hbuf = np.empty((T + 1, B, H), dtype=dtype)          # H[0] = H_0, H[t] = H_t
        Hbuf[0] = 0 if state is None else state[0][0]
        gates = np.empty((T, B, 3 * H), dtype=dtype)         # [R | Z | H~], first X_t W_x + b
        # all input projections at once: X_t [W_xr | W_xz | W_xh] + b  ->  (T, B, 3H)
        input_projection(X, p["W_x"], p["b"], gates, lengths)
        tmp_buf = np.empty((B, H), dtype=dtype)              # scratch for one (B, H) product
        if not self.reset_after:
            RH, HN = np.empty((T, B, H), dtype=dtype), None  # R_t * H_{t-1}, kept for dW_hh
            W_hrz = np.ascontiguousarray(W_h[:, :2 * H])     # [W_hr | W_hz]  (H, 2H)
            W_hh = np.ascontiguousarray(W_h[:, 2 * H:])      # W_hh           (H, H)
            hw_buf = np.empty((B, 2 * H), dtype=dtype)       # H_{t-1} [W_hr | W_hz]
        else:
            RH, HN = None, np.empty((T, B, H), dtype=dtype)  # H_{t-1} W_hh + b_hn, kept for dR
            b_hn = p["b_hn"]
            hw_buf = np.empty((B, 3 * H), dtype=dtype)       # H_{t-1} W_h, all three gates
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in range(T):
            n = sizes[t]                                     # rows [:n] (longest first)
            h_prev, h, hw, tmp = Hbuf[t, :n], Hbuf[t + 1, :n], hw_buf[:n], tmp_buf[:n]
            A = gates[t, :n]                                 # (n, 3H), holds X_t W_x + b
            RZ, R, Z, Ht = A[:, :2 * H], A[:, :H], A[:, H:2 * H], A[:, 2 * H:]
            if not self.reset_after:
                np.matmul(h_prev, W_hrz, out=hw)             # H_{t-1} [W_hr | W_hz]  (n, 2H)
                RZ += hw
                sigmoid(RZ, out=RZ)                          # R_t, Z_t = sigma(...)  (n, 2H)
                np.multiply(R, h_prev, out=RH[t, :n])        # R_t * H_{t-1}          (n, H)
                np.matmul(RH[t, :n], W_hh, out=tmp)          # (R_t * H_{t-1}) W_hh   (n, H)
            else:
                np.matmul(h_prev, W_h, out=hw)               # H_{t-1} W_h            (n, 3H)
                RZ += hw[:, :2 * H]
                sigmoid(RZ, out=RZ)                          # R_t, Z_t = sigma(...)  (n, 2H)
                np.add(hw[:, 2 * H:], b_hn, out=HN[t, :n])   # H_{t-1} W_hh + b_hn    (n, H)
                np.multiply(R, HN[t, :n], out=tmp)           # R_t * (H_{t-1} W_hh + b_hn)
            Ht += tmp
            np.tanh(Ht, out=Ht)                              # H~_t = tanh(...)       (n, H)
            # H_t = Z_t * H_{t-1} + (1 - Z_t) * H~_t = H~_t + Z_t * (H_{t-1} - H~_t)
            np.subtract(h_prev, Ht, out=h)
            h *= Z
            h += Ht
            if n < B:                                        # finished sequences: outputs 0,
                Hbuf[t + 1, n:] = 0                          # nothing computed at their steps
                gates[t, n:] = 0
                (RH if HN is None else HN)[t, n:] = 0
        self.cache = GRUCache(X=X, H=Hbuf, gates=gates, RH=RH, HN=HN, lengths=lengths)
        Hs = Hbuf[1:]
        Hs.flags.writeable = False                           # backward reads H: keep it intact
        # each sequence's state at its own length (its state passes through the padding)
        h_T = Hbuf[T] if lengths is None else Hbuf[lengths, np.arange(B)]
        return Hs, (h_T[None].copy(),)                       # (T, B, H), ((1, B, H),)

    def backward_steps(self, dHs: np.ndarray, dstate: tuple | None, keep, input_grad: bool):
        """The one-layer backward (``backward`` checked the arguments): padded steps add
        nothing to any gradient (the products after the loop read only real steps' rows),
        and a finished sequence's dL/dH passes straight through to
        its last real step (its row of ``dh_next`` is left alone until then)."""
        X, Hbuf, gates, RH, HN, lengths = self.cache
        T, B, D = X.shape
        H = self.hidden_size
        p, g = self.params, self.grads
        dtype = Hbuf.dtype
        fprime = gate_derivatives(gates, 2, H)               # (T, B, 3H): sigma', sigma', tanh'
        dA = np.empty((T, B, 3 * H), dtype=dtype)            # dL/d(pre-activations) of R, Z, H~
        dh_buf = np.empty((B, H), dtype=dtype)               # dL/dH_t
        dhz_buf = np.empty((B, H), dtype=dtype)              # dL/dH_t * Z_t
        dh_next = (np.zeros((B, H), dtype) if dstate is None
                   else dstate[0][0].astype(dtype))          # dL/dH_T from after the window (B, H)
        if not self.reset_after:
            W_hrz_T = np.ascontiguousarray(p["W_h"][:, :2 * H].T)  # [W_hr | W_hz]^T  (2H, H)
            W_hh_T = np.ascontiguousarray(p["W_h"][:, 2 * H:].T)   # W_hh^T           (H, H)
            drh_buf = np.empty((B, H), dtype=dtype)          # dL/d(R_t * H_{t-1})
        else:
            W_h_T = np.ascontiguousarray(p["W_h"].T)         # W_h^T  (3H, H)
            dHW = np.empty((T, B, 3 * H), dtype=dtype)       # dL/d(H_{t-1} W_h + [0 | 0 | b_hn])
        if self.record_grad_norms:
            self.dh_norms = np.empty(T)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in reversed(range(T)):
            n = sizes[t]                                     # rows [:n] (longest first)
            h_prev, dh_prev, dh, dhz = Hbuf[t, :n], dh_next[:n], dh_buf[:n], dhz_buf[:n]
            R, Z, Ht = gates[t, :n, :H], gates[t, :n, H:2 * H], gates[t, :n, 2 * H:]
            d = dA[t, :n]
            dRZ, dR, dZ, dHt = d[:, :2 * H], d[:, :H], d[:, H:2 * H], d[:, 2 * H:]
            # dL/dH_t = dHs[t] (from the output at t) + dh_next (from step t+1)       (n, H)
            np.add(dHs[t, :n], dh_prev, out=dh)
            if self.record_grad_norms:
                self.dh_norms[t] = np.linalg.norm(dh)
            # H_t = Z_t * H_{t-1} + (1 - Z_t) * H~_t
            np.multiply(dh, Z, out=dhz)                      # dL/dH_t * Z_t: straight on to H_{t-1}
            np.subtract(h_prev, Ht, out=dZ)
            dZ *= dh                                         # dL/dZ_t  = dL/dH_t * (H_{t-1} - H~_t)
            np.subtract(dh, dhz, out=dHt)                    # dL/dH~_t = dL/dH_t * (1 - Z_t)
            dHt *= fprime[t, :n, 2 * H:]                     # da_h = dL/dH~_t * (1 - H~_t^2)  (n, H)
            if not self.reset_after:
                drh = drh_buf[:n]
                np.matmul(dHt, W_hh_T, out=drh)              # dL/d(R_t * H_{t-1}) = da_h W_hh^T
                np.multiply(drh, h_prev, out=dR)             # dL/dR_t = that * H_{t-1}
                dRZ *= fprime[t, :n, :2 * H]                 # da_r, da_z: * sigma' = s (1 - s)
                np.matmul(dRZ, W_hrz_T, out=dh_prev)         # [da_r | da_z] [W_hr | W_hz]^T   (n, H)
                drh *= R                                     # dL/dH_{t-1} via the candidate: * R_t
                dh_prev += drh
            else:
                e = dHW[t, :n]                               # (n, 3H)
                np.multiply(dHt, HN[t, :n], out=dR)          # dL/dR_t = da_h * (H_{t-1} W_hh + b_hn)
                dRZ *= fprime[t, :n, :2 * H]                 # da_r, da_z: * sigma' = s (1 - s)
                e[:, :2 * H] = dRZ                           # r, z: the same on the hidden side
                np.multiply(dHt, R, out=e[:, 2 * H:])        # dL/d(H_{t-1} W_hh + b_hn) = da_h * R_t
                np.matmul(e, W_h_T, out=dh_prev)             # all three gates' path: e W_h^T  (n, H)
            dh_prev += dhz                                   # dL/dH_{t-1} = ... + dL/dH_t * Z_t
            if keep is not None:
                dh_prev *= keep_factor(keep, t, n)           # truncation: 0 cuts, 1/p reweights
        del fprime
        dA2 = real_rows(dA, lengths)                         # (N, 3H): every real step stacked
        Hprev2 = real_rows(Hbuf[:-1], lengths)               # (N, H):  H_{t-1} for every real step
        g["W_x"] += real_rows(X, lengths).T @ dA2            # dL/dW_x = sum_t X_t^T dA_t  (D, 3H)
        g["b"] += np.einsum("nk->k", dA2)                    # dL/db   = sum_t sum_b dA_t  (3H,)
        if not self.reset_after:
            # dL/d[W_hr | W_hz] = sum_t H_{t-1}^T [da_r | da_z]                      (H, 2H)
            g["W_h"][:, :2 * H] += Hprev2.T @ dA2[:, :2 * H]
            # dL/dW_hh = sum_t (R_t * H_{t-1})^T da_h                                 (H, H)
            g["W_h"][:, 2 * H:] += real_rows(RH, lengths).T @ dA2[:, 2 * H:]
        else:
            dHW2 = real_rows(dHW, lengths)                   # (N, 3H)
            g["W_h"] += Hprev2.T @ dHW2                      # dL/dW_h  = sum_t H_{t-1}^T dHW_t  (H, 3H)
            g["b_hn"] += np.einsum("nh->h", dHW2[:, 2 * H:])  # dL/db_hn = sum_t sum_b da_h * R_t (H,)
        dstate0 = (dh_next[None],)                           # dh_next is now dL/dH_0: ((1, B, H),)
        if not input_grad:                                   # e.g. one-hot inputs (no gradient)
            return None, dstate0
        dX = from_real_rows(dA2 @ p["W_x"].T, lengths, (T, B, D))  # dL/dX_t = dA_t W_x^T  (T, B, D)
        return dX, dstate0


class LSTMCache(NamedTuple):
    """What ``LSTM.backward`` needs from ``forward`` (``lstm.cache``)."""
    X: np.ndarray               # (T, B, D)    the inputs X_1..X_T
    H: np.ndarray               # (T+1, B, H)  H[0] = H_0 (the initial state), H[t] = H_t
    C: np.ndarray               # (T+1, B, H)  C[0] = C_0 (the initial state), C[t] = C_t
    gates: np.ndarray           # (T, B, 4H)   [I_t | F_t | O_t | C~_t] for every step
    tanh_C: np.ndarray          # (T, B, H)    tanh(C_t), t = 1..T (tanh_C[t-1] for C[t])
    lengths: np.ndarray | None  # (B,)         longest first; None: every sequence runs T steps


class LSTM(RecurrentLayer, _LSTMParams):
    """The book's LSTM over a whole sequence, vectorized (time-major); the equations are in
    the module docstring.

    forward: ``X (T, B, D)``, ``state`` ``(h0, c0)``, each ``(1, B, H)``, or None (zeros)
    -> ``(Hs (T, B, H), (h_T, c_T))``.
    backward: ``(dHs (T, B, H), dstate (dh_T, dc_T) or None, keep)``
    -> ``(dX (T, B, D), (dh0, dc0))`` (``input_grad=False``: dX is None).

    params: ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``, gate blocks i, f, o, c; the book's
    names are read-only views (``lstm.W_xi``, ``gate_params()``).  One GEMM computes every
    step's input projections before the loop, one product ``H_{t-1} W_h`` per step serves
    all four gates, and the weight gradients are single GEMMs after the loop.  ``Hs`` is a
    read-only view of ``cache.H``.

    BPTT hooks: ``keep`` ``(T,)`` or ``(T, B)`` multiplies the gradient flowing from step t
    back to step t-1 by ``keep[t]``, *both* dL/dH_{t-1} and dL/dC_{t-1} (truncation cuts
    the whole state); ``record_grad_norms = True`` stores ``||dL/dH_t||`` in ``dh_norms``
    and ``||dL/dC_t||`` (from step t+1 and through H_t) in ``dc_norms``, each (T,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 bidirectional: bool = False, dropout: float = 0.0, seed=None, rng=None,
                 init: str = "normal", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        rng = make_rng(seed, rng)
        self.record_grad_norms, self.dh_norms, self.dc_norms, self.cache = False, None, None, None
        if self._build_stack(input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                             lambda D: LSTM(D, hidden_size, rng=rng, init=init, sigma=sigma,
                                            dtype=dtype)):
            return                                             # a stack of one-layer LSTMs
        _LSTMParams.__init__(self, input_size, hidden_size, None, rng, init, sigma, dtype)

    def forward_steps(self, X: np.ndarray, state: tuple | None, lengths):
        """The one-layer forward (``forward`` checked the arguments and sorted a padded
        batch longest first): ``X (T, B, D)``, ``state`` ``(h0, c0)`` (each ``(1, B, H)``)
        or None, ``lengths (B,)`` sorted or None -> ``(Hs (T, B, H), (h_T, c_T))``."""
        T, B, D = X.shape
        H = self.hidden_size
        p = self.params
        W_h = p["W_h"]
        dtype = W_h.dtype
        Hbuf = np.empty((T + 1, B, H), dtype=dtype)          # H[0] = H_0, H[t] = H_t
        Cbuf = np.empty((T + 1, B, H), dtype=dtype)          # C[0] = C_0, C[t] = C_t
        Hbuf[0] = 0 if state is None else state[0][0]
        Cbuf[0] = 0 if state is None else state[1][0]
        gates = np.empty((T, B, 4 * H), dtype=dtype)         # [I | F | O | C~], first X_t W_x + b
        # all input projections at once: X_t [W_xi | W_xf | W_xo | W_xc] + b  ->  (T, B, 4H)
        input_projection(X, p["W_x"], p["b"], gates, lengths)
        tanh_C = np.empty((T, B, H), dtype=dtype)            # tanh(C_t), kept for backward
        hw_buf = np.empty((B, 4 * H), dtype=dtype)           # H_{t-1} W_h, all four gates
        tmp_buf = np.empty((B, H), dtype=dtype)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in range(T):
            n = sizes[t]                                     # rows [:n] (longest first)
            hw, tmp, c, tc = hw_buf[:n], tmp_buf[:n], Cbuf[t + 1, :n], tanh_C[t, :n]
            A = gates[t, :n]                                 # (n, 4H), holds X_t W_x + b
            IFO, I, F, O, Cc = (A[:, :3 * H], A[:, :H], A[:, H:2 * H], A[:, 2 * H:3 * H],
                                A[:, 3 * H:])
            np.matmul(Hbuf[t, :n], W_h, out=hw)              # H_{t-1} W_h            (n, 4H)
            A += hw
            sigmoid(IFO, out=IFO)                            # I_t, F_t, O_t = sigma(...)  (n, 3H)
            np.tanh(Cc, out=Cc)                              # C~_t = tanh(...)       (n, H)
            np.multiply(F, Cbuf[t, :n], out=c)               # C_t = F_t * C_{t-1}
            np.multiply(I, Cc, out=tmp)
            c += tmp                                         #       + I_t * C~_t     (n, H)
            np.tanh(c, out=tc)
            np.multiply(O, tc, out=Hbuf[t + 1, :n])          # H_t = O_t * tanh(C_t)  (n, H)
            if n < B:                                        # finished sequences: outputs 0,
                Hbuf[t + 1, n:] = 0                          # nothing computed at their steps
                Cbuf[t + 1, n:] = 0
                gates[t, n:] = 0
                tanh_C[t, n:] = 0
        self.cache = LSTMCache(X=X, H=Hbuf, C=Cbuf, gates=gates, tanh_C=tanh_C, lengths=lengths)
        Hs = Hbuf[1:]
        Hs.flags.writeable = False                           # backward reads H: keep it intact
        # each sequence's state at its own length (its state passes through the padding)
        if lengths is None:
            h_T, c_T = Hbuf[T], Cbuf[T]
        else:
            h_T, c_T = Hbuf[lengths, np.arange(B)], Cbuf[lengths, np.arange(B)]
        return Hs, (h_T[None].copy(), c_T[None].copy())      # (T, B, H), ((1, B, H),) * 2

    def backward_steps(self, dHs: np.ndarray, dstate: tuple | None, keep, input_grad: bool):
        """The one-layer backward (``backward`` checked the arguments): padded steps add
        nothing to any gradient (the products after the loop read only real steps' rows),
        and a finished sequence's dL/dH and dL/dC pass straight
        through to its last real step (its rows of ``dh_next``, ``dc_next`` are left alone)."""
        X, Hbuf, Cbuf, gates, tanh_C, lengths = self.cache
        T, B, D = X.shape
        H = self.hidden_size
        p, g = self.params, self.grads
        dtype = Hbuf.dtype
        fprime = gate_derivatives(gates, 3, H)               # (T, B, 4H): sigma' x 3, tanh'
        # dH_t/dC_t = O_t * (1 - tanh^2 C_t) for every step                          (T, B, H)
        dHdC = np.multiply(tanh_C, tanh_C)
        np.subtract(1, dHdC, out=dHdC)
        dHdC *= gates[:, :, 2 * H:3 * H]
        W_h_T = np.ascontiguousarray(p["W_h"].T)             # (4H, H), a copy: faster BLAS than a view
        dA = np.empty((T, B, 4 * H), dtype=dtype)            # dL/d(pre-activations) of I, F, O, C~
        dh_buf = np.empty((B, H), dtype=dtype)               # dL/dH_t
        dc_buf = np.empty((B, H), dtype=dtype)               # dL/dC_t
        if dstate is None:
            dh_next, dc_next = np.zeros((B, H), dtype), np.zeros((B, H), dtype)
        else:                                                # dL/dH_T, dL/dC_T from after the window
            dh_next, dc_next = dstate[0][0].astype(dtype), dstate[1][0].astype(dtype)
        if self.record_grad_norms:
            self.dh_norms, self.dc_norms = np.empty(T), np.empty(T)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in reversed(range(T)):
            n = sizes[t]                                     # rows [:n] (longest first)
            dh, dc, dh_prev, dc_prev = dh_buf[:n], dc_buf[:n], dh_next[:n], dc_next[:n]
            I, F, Cc = gates[t, :n, :H], gates[t, :n, H:2 * H], gates[t, :n, 3 * H:]
            d = dA[t, :n]
            dI, dF, dO, dCc = d[:, :H], d[:, H:2 * H], d[:, 2 * H:3 * H], d[:, 3 * H:]
            # dL/dH_t = dHs[t] (from the output at t) + dh_next (from step t+1)       (n, H)
            np.add(dHs[t, :n], dh_prev, out=dh)
            # dL/dC_t = dc_next (from step t+1) + dL/dH_t * O_t * (1 - tanh^2 C_t)    (n, H)
            np.multiply(dh, dHdC[t, :n], out=dc)
            dc += dc_prev
            if self.record_grad_norms:
                self.dh_norms[t] = np.linalg.norm(dh)
                self.dc_norms[t] = np.linalg.norm(dc)
            np.multiply(dc, Cc, out=dI)                      # dL/dI_t  = dL/dC_t * C~_t
            np.multiply(dc, Cbuf[t, :n], out=dF)             # dL/dF_t  = dL/dC_t * C_{t-1}
            np.multiply(dh, tanh_C[t, :n], out=dO)           # dL/dO_t  = dL/dH_t * tanh(C_t)
            np.multiply(dc, I, out=dCc)                      # dL/dC~_t = dL/dC_t * I_t
            d *= fprime[t, :n]                               # da = * sigma' (I, F, O), * tanh' (C~)
            np.multiply(dc, F, out=dc_prev)                  # dL/dC_{t-1} = dL/dC_t * F_t  (n, H)
            np.matmul(d, W_h_T, out=dh_prev)                 # dL/dH_{t-1} = da_t W_h^T     (n, H)
            if keep is not None:                             # truncation cuts the whole state
                k = keep_factor(keep, t, n)
                dh_prev *= k
                dc_prev *= k
        del fprime, dHdC, W_h_T
        dA2 = real_rows(dA, lengths)                         # (N, 4H): every real step stacked
        g["W_x"] += real_rows(X, lengths).T @ dA2            # dL/dW_x = sum_t X_t^T da_t      (D, 4H)
        g["W_h"] += real_rows(Hbuf[:-1], lengths).T @ dA2    # dL/dW_h = sum_t H_{t-1}^T da_t  (H, 4H)
        g["b"] += np.einsum("nk->k", dA2)                    # dL/db   = sum_t sum_b da_t      (4H,)
        dstate0 = (dh_next[None], dc_next[None])             # now dL/dH_0, dL/dC_0: ((1, B, H),) * 2
        if not input_grad:                                   # e.g. one-hot inputs (no gradient)
            return None, dstate0
        dX = from_real_rows(dA2 @ p["W_x"].T, lengths, (T, B, D))  # dL/dX_t = da_t W_x^T  (T, B, D)
        return dX, dstate0
