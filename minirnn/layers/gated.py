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
``k*H:(k+1)*H``: one GEMM for every input projection of every step before the time loop,
``X.reshape(T*B, D) @ W_x``, and few products per step (the LSTM: one ``H_{t-1} W_h`` for
all four gates; the book's GRU: one for R and Z, then one for the candidate, which needs
R_t first).  The book's per-gate names are read-only views of these arrays, recomputed on
every access (so they follow ``astype``): ``gru.W_xr`` is ``gru.params["W_x"][:, 0:H]``;
``gate_params()`` returns them all as a dict, and ``gate_grads()`` the matching views of
``grads``.  ``params`` lists only the fused arrays, so every number is listed once.

As ``RNNCell`` (``recurrent.py``), each cell holds its one step, ``step`` and ``step_grad``
(one formula a line, on the n rows still running), and ``weight_grads`` (GEMMs over
every step's rows); the layer (``GRU``, ``LSTM`` in ``lstm.py``) is the time loop that
runs them, and the cell's ``step_forward(x, state)`` / ``step_backward(dstate, cache)``
are the same pieces for one step.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_positive_int, make_rng
from .base import DEFAULT_DTYPE, Layer, init_weight
from .timeloop import (RecurrentLayer, batch_sizes, check_state, from_real_rows, input_projection,
                       real_rows)

__all__ = ["sigmoid", "GRUCell", "GRU", "GRUStepCache", "GRUCache", "GateView"]


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
        self.add_param("W_x", W_x)
        self.add_param("W_h", W_h)
        self.add_param("b", np.zeros(G * H, dtype=dtype))

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


def _check_step_cache(cache, cache_type) -> None:
    if not isinstance(cache, cache_type):
        raise TypeError(f"cache must be the {cache_type.__name__} that step_forward returned, "
                        f"got {type(cache).__name__}")


# --------------------------------------------------------------------------- the GRU cell
class GRUStepCache(NamedTuple):
    """What ``GRUCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray               # (B, D)   input X_t
    h_prev: np.ndarray          # (B, H)   H_{t-1}
    gates: np.ndarray           # (B, 3H)  [R_t | Z_t | H~_t]
    kept: np.ndarray            # (B, H)   R_t * H_{t-1} (the book's) or H_{t-1} W_hh + b_hn (reset_after)


class GRUCell(_GatedParams):
    """One step of the GRU, forward and backward; ``GRU``'s time loop runs it (the module
    docstring has the equations; ``reset_after`` picks the book's or PyTorch's candidate).

    params: fused ``W_x (D, 3H)``, ``W_h (H, 3H)``, ``b (3H,)``, gate blocks r, z, h (h: the
    candidate H~); with ``reset_after`` also ``b_hn (H,)``, the bias inside the reset
    product.  The book's names are views: ``W_xr, W_hr, b_r, W_xz, W_hz, b_z, W_xh, W_hh, b_h``.

    * ``step(h_prev, A, h, kept)`` and ``step_grad(dh, h_prev, A, kept, dA)``: one step of
      the recurrence and its derivative, on the n rows still running, the input projection
      given (``A`` holds ``X_t W_x + b`` on entry); ``weight_grads`` adds the parameter
      gradients from every step's rows after the loop;
    * ``step_forward(x, (h_prev,)) -> ((h,), cache)``, ``step_backward((dh,), cache) -> (dx,
      (dh_prev,))``: the same pieces for one step, with ``(B, H)`` state arrays.
    """

    GATES = ("r", "z", "h")                                # sigma, sigma, tanh
    state_names = ("h",)                                   # the state: (h,)
    W_xr, W_hr, b_r = GateView(), GateView(), GateView()
    W_xz, W_hz, b_z = GateView(), GateView(), GateView()
    W_xh, W_hh, b_h = GateView(), GateView(), GateView()
    b_hn = GateView()

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = False,
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after must be True (PyTorch's GRU) or False (the book's), "
                            f"got {reset_after!r}")
        super().__init__(input_size, hidden_size, seed, rng, init, sigma, dtype)
        self.reset_after = reset_after
        if reset_after:
            self.add_param("b_hn", np.zeros(self.hidden_size, dtype=dtype))

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

    # ------------------------------------------------------------------ the one step
    def step(self, h_prev: np.ndarray, A: np.ndarray, h: np.ndarray, kept: np.ndarray) -> None:
        """``h_prev`` = H_{t-1} ``(n, H)``; ``A`` ``(n, 3H)`` holds X_t W_x + b and receives
        [R_t | Z_t | H~_t]; ``h`` receives H_t and ``kept`` ``(n, H)`` what ``step_grad``
        needs: R_t * H_{t-1} (the book's GRU) or H_{t-1} W_hh + b_hn (``reset_after``)."""
        H, W_h = self.hidden_size, self.params["W_h"]
        RZ, R, Z, Ht = A[:, :2 * H], A[:, :H], A[:, H:2 * H], A[:, 2 * H:]
        RZ += h_prev @ W_h[:, :2 * H]                      # + H_{t-1} [W_hr | W_hz]     (n, 2H)
        sigmoid(RZ, out=RZ)                                # R_t, Z_t = sigma(...)       (n, 2H)
        if not self.reset_after:                           # the book: reset, then the product
            np.multiply(R, h_prev, out=kept)               # R_t * H_{t-1}               (n, H)
            Ht += kept @ W_h[:, 2 * H:]                    # + (R_t * H_{t-1}) W_hh      (n, H)
        else:                                              # PyTorch's: the product, then reset
            np.matmul(h_prev, W_h[:, 2 * H:], out=kept)
            kept += self.params["b_hn"]                    # H_{t-1} W_hh + b_hn         (n, H)
            Ht += R * kept                                 # + R_t * (H_{t-1} W_hh + b_hn)
        np.tanh(Ht, out=Ht)                                # H~_t = tanh(...)            (n, H)
        np.subtract(h_prev, Ht, out=h)                     # H_t = Z_t * H_{t-1} + (1 - Z_t) * H~_t
        h *= Z                                             #     = H~_t + Z_t * (H_{t-1} - H~_t)
        h += Ht                                            #                             (n, H)

    def step_grad(self, dh: np.ndarray, h_prev: np.ndarray, A: np.ndarray, kept: np.ndarray,
                  dA: np.ndarray, W_h_T: np.ndarray) -> np.ndarray:
        """``dh`` = dL/dH_t (from the output at t and from step t+1), ``h_prev``, ``A`` =
        [R_t | Z_t | H~_t] and ``kept`` of the step; ``dA`` ``(n, 3H)`` receives dL/d(each
        gate's pre-activation) [da_r | da_z | da_h]; ``W_h_T`` = W_h^T ``(3H, H)`` (a copy
        made once per backward, as ``RNNCell.step_grad``'s) -> dL/dH_{t-1} ``(n, H)``."""
        H = self.hidden_size
        RZ, R, Z, Ht = A[:, :2 * H], A[:, :H], A[:, H:2 * H], A[:, 2 * H:]
        dRZ, dR, dZ, dHt = dA[:, :2 * H], dA[:, :H], dA[:, H:2 * H], dA[:, 2 * H:]
        # H_t = Z_t * H_{t-1} + (1 - Z_t) * H~_t
        np.multiply(dh, h_prev - Ht, out=dZ)               # dL/dZ_t = dL/dH_t * (H_{t-1} - H~_t)
        np.multiply(dh - dh * Z, 1 - Ht * Ht, out=dHt)     # da_h = dL/dH_t * (1 - Z_t) * (1 - H~_t^2)
        if not self.reset_after:                           # H~ reads (R_t * H_{t-1}) W_hh
            drh = dHt @ W_h_T[2 * H:]                      # dL/d(R_t * H_{t-1}) = da_h W_hh^T (n, H)
            np.multiply(drh, h_prev, out=dR)               # dL/dR_t = that * H_{t-1}
            dh_candidate = drh * R                         # dL/dH_{t-1} through H~: that * R_t
        else:                                              # H~ reads R_t * (H_{t-1} W_hh + b_hn)
            np.multiply(dHt, kept, out=dR)                 # dL/dR_t = da_h * (H_{t-1} W_hh + b_hn)
            dh_candidate = (dHt * R) @ W_h_T[2 * H:]       # dL/dH_{t-1} through H~: (da_h * R_t) W_hh^T
        dRZ *= RZ * (1 - RZ)                               # da_r, da_z: * sigma' = s (1 - s)
        # dL/dH_{t-1} = dL/dH_t * Z_t (directly) + through H~_t + through R_t and Z_t  (n, H)
        return dh * Z + dh_candidate + dRZ @ W_h_T[:2 * H]

    def weight_grads(self, X: np.ndarray, H_prev: np.ndarray, A: np.ndarray, kept: np.ndarray,
                     dA: np.ndarray, input_grad: bool = True):
        """Add the parameter gradients from N rows (every real step of every sequence, or
        one step): ``X (N, D)``, ``H_prev (N, H)``, ``A``, ``dA (N, 3H)``, ``kept (N, H)``
        -> dL/dX ``(N, D)`` (None when ``input_grad`` is False)."""
        H, g = self.hidden_size, self.grads
        g["W_x"] += X.T @ dA                               # dL/dW_x = sum_t X_t^T da_t      (D, 3H)
        g["b"] += np.ones(len(dA), dA.dtype) @ dA          # dL/db   = sum_t sum_b da_t      (3H,)
        g["W_h"][:, :2 * H] += H_prev.T @ dA[:, :2 * H]    # dL/d[W_hr | W_hz] = sum_t H_{t-1}^T [da_r | da_z]
        if not self.reset_after:                           # dL/dW_hh = sum_t (R_t * H_{t-1})^T da_h
            g["W_h"][:, 2 * H:] += kept.T @ dA[:, 2 * H:]
        else:
            dhn = dA[:, 2 * H:] * A[:, :H]                 # dL/d(H_{t-1} W_hh + b_hn) = da_h * R_t
            g["W_h"][:, 2 * H:] += H_prev.T @ dhn          # dL/dW_hh  = sum_t H_{t-1}^T that  (H, H)
            g["b_hn"] += np.ones(len(dhn), dhn.dtype) @ dhn  # dL/db_hn = sum_t sum_b that    (H,)
        return dA @ self.params["W_x"].T if input_grad else None  # dL/dX_t = da_t W_x^T (N, D)

    # ------------------------------------------------------------------ one step by hand
    def step_forward(self, x: np.ndarray, state: tuple) -> tuple[tuple, GRUStepCache]:
        """x ``(B, D)``, state ``(h_prev,)`` with h_prev ``(B, H)`` -> ``((h,), cache)``."""
        check_array(x, "x", ndim=2, last_dim=self.input_size, dtype=self.dtype)
        (h_prev,) = check_state(state, "state", (x.shape[0], self.hidden_size), dtype=self.dtype)
        A = x @ self.params["W_x"] + self.params["b"]      # X_t W_x + b                 (B, 3H)
        h, kept = np.empty_like(h_prev), np.empty_like(h_prev)
        self.step(h_prev, A, h, kept)
        return (h,), GRUStepCache(x, h_prev, A, kept)

    def step_backward(self, dstate: tuple, cache: GRUStepCache) -> tuple[np.ndarray, tuple]:
        """dstate ``(dh,)``, dh = dL/dH_t ``(B, H)`` (from the output *and* from step t+1)
        -> ``(dx (B, D), (dh_prev,))``; adds this step's parameter gradients."""
        _check_step_cache(cache, GRUStepCache)
        (dh,) = check_state(dstate, "dstate", cache.h_prev.shape, dtype=self.dtype)
        dA = np.empty_like(cache.gates)
        dh_prev = self.step_grad(dh, cache.h_prev, cache.gates, cache.kept, dA, self.params["W_h"].T)
        dx = self.weight_grads(cache.x, cache.h_prev, cache.gates, cache.kept, dA)
        return dx, (dh_prev,)


# --------------------------------------------------------------------------- the GRU layer
class GRUCache(NamedTuple):
    """What ``GRU.backward`` needs from ``forward`` (``gru.cache``)."""
    X: np.ndarray               # (T, B, D)    the inputs X_1..X_T
    H: np.ndarray               # (T+1, B, H)  H[0] = H_0 (the initial state), H[t] = H_t
    gates: np.ndarray           # (T, B, 3H)   [R_t | Z_t | H~_t] for every step
    RH: np.ndarray | None       # (T, B, H)    R_t * H_{t-1} (the book's GRU; None with reset_after)
    HN: np.ndarray | None       # (T, B, H)    H_{t-1} W_hh + b_hn (reset_after; else None)
    lengths: np.ndarray | None  # (B,)         longest first; None: every sequence runs T steps


class GRU(RecurrentLayer, GRUCell):
    """The GRU over a whole sequence (time-major): ``GRUCell``'s step in a loop
    (``reset_after=False``: the book's; True: PyTorch's / cuDNN's).

    forward: ``X (T, B, D)``, ``state`` ``(h0,)`` with h0 ``(1, B, H)``, or None (zeros)
    -> ``(Hs (T, B, H), (h_T,))``.
    backward: ``(dHs (T, B, H), dstate (dh_T,) or None, keep)`` -> ``(dX (T, B, D), (dh0,))``
    (``input_grad=False`` skips dX and returns None for it: one-hot inputs).

    One GEMM computes every step's input projections before the loop; weight gradients are
    single GEMMs after it.  ``Hs`` is a read-only view of ``cache.H``.  BPTT hooks, as
    ``RNN``'s: ``keep`` ``(T,)`` or ``(T, B)`` multiplies the gradient that flows from H_t
    back to H_{t-1} (all of it: the direct ``Z_t`` path and the gates') by ``keep[t]``;
    ``record_grad_norms = True`` stores ``||dL/dH_t||`` in ``dh_norms`` (T,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 reset_after: bool = False, bidirectional: bool = False, dropout: float = 0.0,
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        rng = make_rng(seed, rng)
        if self._build_stack(input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                             lambda D: GRU(D, hidden_size, reset_after=reset_after, rng=rng,
                                           init=init, sigma=sigma, dtype=dtype)):
            self.reset_after = reset_after                     # a stack of one-layer GRUs
            return
        GRUCell.__init__(self, input_size, hidden_size, reset_after, None, rng, init, sigma, dtype)

    def forward(self, X: np.ndarray, state: tuple | None = None, lengths=None):
        """``X (T, B, D)``, ``state`` (a tuple of ``(L, B, H)`` arrays, or None: zeros),
        ``lengths (B,)`` or None -> ``(Hs (T, B, H * num_directions), state)``."""
        X, (h0,), lengths = self.begin_forward(X, state, lengths)  # padded: longest first
        if self.layers is not None:                           # a stack: each copy's forward
            return self.forward_stack(X, (h0,), lengths)
        T, B, D = X.shape
        H = np.empty((T + 1, B, self.hidden_size), dtype=X.dtype)  # H[0] = H_0, H[t] = H_t
        H[0] = h0[0]
        gates = np.empty((T, B, 3 * self.hidden_size), dtype=X.dtype)  # [R | Z | H~] per step
        # every step's input projection, one GEMM: gates[t] holds X_t W_x + b until step t
        input_projection(X, self.params["W_x"], self.params["b"], gates, lengths)
        kept = np.empty_like(H[1:])                          # R_t * H_{t-1} or H_{t-1} W_hh + b_hn
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in range(T):
            n = sizes[t]                                     # rows [:n] run (longest first)
            self.step(H[t, :n], gates[t, :n], H[t + 1, :n], kept[t, :n])  # H_t from H_{t-1}
            H[t + 1, n:], gates[t, n:], kept[t, n:] = 0, 0, 0  # a finished sequence outputs 0
        self.cache = GRUCache(X=X, H=H, gates=gates, RH=None if self.reset_after else kept,
                              HN=kept if self.reset_after else None, lengths=lengths)
        Hs = H[1:]
        Hs.flags.writeable = False                           # backward reads H: keep it intact
        h_T = H[T] if lengths is None else H[lengths, np.arange(B)]  # each at its own length
        return self.end_forward(Hs, (h_T[None].copy(),))     # (T, B, H), ((1, B, H),)

    def backward(self, dHs: np.ndarray, dstate: tuple | None = None,
                 keep: np.ndarray | None = None, input_grad: bool = True):
        """``dHs (T, B, H * num_directions)``, ``dstate`` (or None: zeros), ``keep`` ``(T,)``
        or ``(T, B)`` -> ``(dX (T, B, D), dstate0)``; adds dL/dparams into ``grads``, as
        ``RNN.backward`` (padded steps add nothing; a finished sequence's dL/dH passes
        straight through to its last real step)."""
        dHs, (dh_next,), keep = self.begin_backward(dHs, dstate, keep, input_grad)
        if self.layers is not None:                           # a stack: each copy's backward
            return self.backward_stack(dHs, (dh_next,), keep, input_grad)
        X, H, gates, RH, HN, lengths = self.cache
        kept = HN if self.reset_after else RH
        T, B, D = X.shape
        dh_next = dh_next[0]                                 # dL/dH_T from after the window (B, H)
        dA = np.empty_like(gates)                            # dL/d(pre-activations) of R, Z, H~
        W_h_T = np.ascontiguousarray(self.params["W_h"].T)   # W_h^T, once (see step_grad)
        if self.record_grad_norms:
            self.dh_norms = np.zeros(T)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in reversed(range(T)):
            n = sizes[t]                                     # rows [:n] run (longest first)
            dh = dHs[t, :n] + dh_next[:n]                    # dL/dH_t = from O_t + from H_{t+1}  (n, H)
            dh_next[:n] = self.step_grad(dh, H[t, :n], gates[t, :n], kept[t, :n], dA[t, :n], W_h_T)
            if keep is not None:
                dh_next[:n] *= keep[t, :n]                   # truncation: 0 cuts, 1/p reweights
            if self.record_grad_norms:
                self.dh_norms[t] = np.linalg.norm(dh)
        # after the loop, the weight gradients: one GEMM each over every real step's rows
        dX = self.weight_grads(*real_rows(lengths, X, H[:-1], gates, kept, dA), input_grad)
        dX = None if dX is None else from_real_rows(dX, lengths, X.shape)   # (T, B, D)
        return self.end_backward(dX, (dh_next[None],))       # dh_next is now dL/dH_0
