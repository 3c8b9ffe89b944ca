"""The book's RNN: the one step (``RNNCell``) and the layer whose time loop runs it.

Dimension letters: B batch, T steps (``num_steps``), D input features, H hidden units
(``num_hiddens``), L = num_layers * num_directions (1 here), n the sequences still
running at a step (all B without ``lengths``).

The recurrent contract (every recurrent layer follows it; ``minirnn.layers`` says more):

* ``forward(X (T, B, D), state=None, lengths=None) -> (Hs (T, B, H), state)``, where
  ``state`` is a tuple of arrays ``(L, B, H)``: ``(h,)`` for the RNN (None: zeros);
  ``lengths (B,)`` ints in [1, T] for a padded batch (any order): past its length a
  sequence's state passes through unchanged and its outputs are zero, so the returned
  state is each sequence's state at its own length;
* ``backward(dHs, dstate=None, keep=None) -> (dX, dstate0)``, ``dstate``/``dstate0``
  tuples shaped like ``state``; ``keep`` ``(T,)`` or ``(T, B)`` scales the gradient that
  flows from step t back to step t-1 (0 cuts it: truncation); with lengths, padded steps
  add nothing to any gradient and pass ``dstate`` straight through to each sequence's
  last real step;
* what backward needs is ``layer.cache``, a NamedTuple with named, shaped fields.

**One derivative per cell, in one place.**  The cell holds the one step: ``step`` (the
recurrence, given the step's input projection) and ``step_grad`` (its derivative), one
formula a line.  The layer's ``forward`` and ``backward`` are the time loops that run
them; around the loop, one GEMM computes every step's input projection before it, and
``weight_grads`` (single GEMMs over every step's rows) the parameter gradients after it.
The cell's own ``step_forward(x, state)`` / ``step_backward(dstate, cache)`` are the same
three pieces for one step (``examples/rnn_scratch.py`` loops them by hand).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_positive_int, make_rng
from .base import DEFAULT_DTYPE, Layer, init_weight
from .dense import NONLINEARITIES
from .timeloop import (RecurrentLayer, batch_sizes, check_state, from_real_rows, input_projection,
                       real_rows)

__all__ = ["RNNCell", "RNN", "StepCache", "RNNCache"]


# --------------------------------------------------------------------------- the cell
class StepCache(NamedTuple):
    """What ``RNNCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray        # (B, D)  input X_t
    h_prev: np.ndarray   # (B, H)  H_{t-1}
    h: np.ndarray        # (B, H)  H_t


class RNNCell(Layer):
    """One step of the book's RNN, forward and backward; ``RNN``'s time loop runs it:

        Z_t = X_t W_xh + H_{t-1} W_hh + b_h,   H_t = f(Z_t),   f = tanh (default) or relu

    params: ``W_xh (D, H)``, ``W_hh (H, H)``, ``b_h (H,)``.

    * ``step(h_prev, h)`` and ``step_grad(dh, h, dz)``: the recurrence of one step and its
      derivative, on the n rows still running; the input projection ``X_t W_xh + b_h``
      comes in (one GEMM for every step, before the loop) and the parameter gradients are
      left to ``weight_grads`` (GEMMs over every step's rows, after the loop);
    * ``step_forward(x, (h_prev,)) -> ((h,), cache)`` and
      ``step_backward((dh,), cache) -> (dx, (dh_prev,))``: the same pieces for one step,
      with ``(B, H)`` arrays, to loop over time by hand (``examples/rnn_scratch.py``).
    """

    state_names = ("h",)                                      # the state: (h,)

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        rng = make_rng(seed, rng)
        D, H = self.input_size, self.hidden_size
        self.add_param("W_xh", init_weight(rng, (D, H), init, sigma, dtype))
        self.add_param("W_hh", init_weight(rng, (H, H), init, sigma, dtype))
        self.add_param("b_h", np.zeros(H, dtype=dtype))

    def __repr__(self):
        shown = super().__repr__()
        return shown if self.nonlinearity == "tanh" else f"{shown[:-1]}, nonlinearity={self.nonlinearity!r})"

    @property
    def num_hiddens(self) -> int:
        """The book's name for ``hidden_size``."""
        return self.hidden_size

    # ------------------------------------------------------------------ the one step
    def step(self, h_prev: np.ndarray, h: np.ndarray) -> None:
        """``h_prev`` = H_{t-1} ``(n, H)``; ``h`` ``(n, H)`` holds X_t W_xh + b_h and
        receives H_t."""
        h += h_prev @ self.params["W_hh"]                    # Z_t = X_t W_xh + b_h + H_{t-1} W_hh
        if self.nonlinearity == "tanh":
            np.tanh(h, out=h)                                # H_t = tanh(Z_t)          (n, H)
        else:
            np.maximum(h, 0, out=h)                          # H_t = relu(Z_t)          (n, H)

    def step_grad(self, dh: np.ndarray, h: np.ndarray, dz: np.ndarray,
                  W_hh_T: np.ndarray) -> np.ndarray:
        """``dh`` = dL/dH_t (from the output at t *and* from step t+1), ``h`` = H_t, each
        ``(n, H)``; ``dz`` ``(n, H)`` receives dL/dZ_t; ``W_hh_T`` = W_hh^T ``(H, H)`` (the
        layer passes a copy made once per backward: BLAS multiplies by it up to 1.5x faster
        than by the view ``W_hh.T``) -> dL/dH_{t-1} ``(n, H)``."""
        if self.nonlinearity == "tanh":
            np.multiply(h, h, out=dz)
            np.subtract(1, dz, out=dz)                       # tanh'(Z_t) = 1 - H_t^2 (from the output)
        else:
            np.greater(h, 0, out=dz)                         # relu'(Z_t) = [H_t > 0]
        dz *= dh                                             # dL/dZ_t = dL/dH_t * f'(Z_t)  (n, H)
        return dz @ W_hh_T                                   # dL/dH_{t-1} = dZ_t W_hh^T  (n, H)

    def weight_grads(self, X: np.ndarray, H_prev: np.ndarray, dZ: np.ndarray,
                     input_grad: bool = True):
        """Add the parameter gradients from N rows (every real step of every sequence, or
        one step): ``X (N, D)``, ``H_prev (N, H)``, ``dZ (N, H)`` -> dL/dX ``(N, D)`` (None
        when ``input_grad`` is False)."""
        g = self.grads
        g["W_xh"] += X.T @ dZ                                # dL/dW_xh = sum_t X_t^T dZ_t      (D, H)
        g["W_hh"] += H_prev.T @ dZ                           # dL/dW_hh = sum_t H_{t-1}^T dZ_t  (H, H)
        g["b_h"] += np.ones(len(dZ), dZ.dtype) @ dZ          # dL/db_h  = sum_t sum_b dZ_t      (H,)
        return dZ @ self.params["W_xh"].T if input_grad else None  # dL/dX_t = dZ_t W_xh^T (N, D)

    # ------------------------------------------------------------------ one step by hand
    def step_forward(self, x: np.ndarray, state: tuple) -> tuple[tuple, StepCache]:
        """x ``(B, D)``, state ``(h_prev,)`` with h_prev ``(B, H)`` -> ``((h,), cache)``."""
        check_array(x, "x", ndim=2, last_dim=self.input_size, dtype=self.dtype)
        (h_prev,) = check_state(state, "state", (x.shape[0], self.hidden_size), dtype=self.dtype)
        h = x @ self.params["W_xh"] + self.params["b_h"]     # X_t W_xh + b_h           (B, H)
        self.step(h_prev, h)                                 # H_t = f(... + H_{t-1} W_hh)
        return (h,), StepCache(x, h_prev, h)

    def step_backward(self, dstate: tuple, cache: StepCache) -> tuple[np.ndarray, tuple]:
        """dstate ``(dh,)``, dh = dL/dH_t ``(B, H)`` (from the output *and* from step t+1)
        -> ``(dx (B, D), (dh_prev,))``; adds this step's parameter gradients."""
        if not isinstance(cache, StepCache):
            raise TypeError(f"cache must be the StepCache that step_forward returned, got "
                            f"{type(cache).__name__}")
        (dh,) = check_state(dstate, "dstate", cache.h.shape, dtype=self.dtype)
        dz = np.empty_like(dh)
        dh_prev = self.step_grad(dh, cache.h, dz, self.params["W_hh"].T)  # dL/dZ_t, dL/dH_{t-1}
        dx = self.weight_grads(cache.x, cache.h_prev, dz)    # dL/dW += ..., dL/dX_t
        return dx, (dh_prev,)


# --------------------------------------------------------------------------- the layer
class RNNCache(NamedTuple):
    """What ``RNN.backward`` needs from ``forward`` (``rnn.cache``)."""
    X: np.ndarray        # (T, B, D)    the inputs X_1..X_T
    H: np.ndarray        # (T+1, B, H)  H[0] = H_0 (the initial state), H[t] = H_t (0 past a length)
    lengths: np.ndarray | None  # (B,) longest first; None: every sequence runs T steps


class RNN(RecurrentLayer, RNNCell):
    """The book's RNN over a whole sequence (time-major): ``RNNCell``'s step in a loop,

        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),  t = 1..T,  H_0 = state[0][0] (zeros if None)

    forward: ``X (T, B, D)``, ``state`` ``(h0,)`` with h0 ``(1, B, H)``, or None
    -> ``(Hs (T, B, H), (h_T,))`` with h_T ``(1, B, H)``.
    backward: ``(dHs (T, B, H), dstate (dh_T,) or None, keep)`` -> ``(dX (T, B, D), (dh0,))``.

    Only the recurrence is a Python loop: the input projections are one GEMM before it
    and the weight gradients single GEMMs after it (``backward(..., input_grad=False)``
    skips dX's and returns None: one-hot inputs).  ``Hs`` is a read-only view of
    ``cache.H``, which backward reads: writing into it would change the gradient, so NumPy
    refuses (copy it to change it).

    ``num_layers``, ``bidirectional`` and ``dropout`` are PyTorch's: a stack of these
    one-layer layers (``RecurrentLayer``), states ``(num_layers * num_directions, B, H)``
    and outputs ``(T, B, H * num_directions)``.

    Two opt-in hooks for the BPTT section (see ``minirnn.bptt``):
    ``backward(..., keep=k)`` multiplies the gradient flowing from H_t back to H_{t-1} by
    ``k[t]`` (0 cuts it: truncation; 1/p keeps it, reweighted: randomized truncation);
    ``record_grad_norms = True`` stores ``||dL/dH_t||`` for every t in ``dh_norms`` (T,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 nonlinearity: str = "tanh", bidirectional: bool = False, dropout: float = 0.0,
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        rng = make_rng(seed, rng)
        self.nonlinearity = nonlinearity
        if self._build_stack(input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                             lambda D: RNN(D, hidden_size, nonlinearity=nonlinearity, rng=rng,
                                           init=init, sigma=sigma, dtype=dtype)):
            return                                             # a stack of one-layer RNNs
        RNNCell.__init__(self, input_size, hidden_size, nonlinearity, None, rng, init, sigma, dtype)

    def forward(self, X: np.ndarray, state: tuple | None = None, lengths=None):
        """``X (T, B, D)``, ``state`` (a tuple of ``(L, B, H)`` arrays, or None: zeros),
        ``lengths (B,)`` or None -> ``(Hs (T, B, H * num_directions), state)``."""
        X, (h0,), lengths = self.begin_forward(X, state, lengths)  # padded: longest first
        if self.layers is not None:                           # a stack: each copy's forward
            return self.forward_stack(X, (h0,), lengths)
        T, B, D = X.shape
        H = np.empty((T + 1, B, self.hidden_size), dtype=X.dtype)  # H[0] = H_0, H[t] = H_t
        H[0] = h0[0]
        # every step's input projection, one GEMM: H[t] holds X_t W_xh + b_h until step t
        input_projection(X, self.params["W_xh"], self.params["b_h"], H[1:], lengths)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in range(T):                                   # (t = 0 computes the book's H_1)
            n = sizes[t]                                     # rows [:n] run (longest first)
            self.step(H[t, :n], H[t + 1, :n])                # H_t = f(X_t W_xh + H_{t-1} W_hh + b_h)
            H[t + 1, n:] = 0                                 # a finished sequence outputs 0
        self.cache = RNNCache(X=X, H=H, lengths=lengths)
        Hs = H[1:]
        Hs.flags.writeable = False                           # backward reads H: keep it intact
        # each sequence's state at its own length (its state passes through the padding)
        h_T = H[T] if lengths is None else H[lengths, np.arange(B)]
        return self.end_forward(Hs, (h_T[None].copy(),))     # (T, B, H), ((1, B, H),)

    def backward(self, dHs: np.ndarray, dstate: tuple | None = None,
                 keep: np.ndarray | None = None, input_grad: bool = True):
        """``dHs (T, B, H * num_directions)`` (dL/dHs; padded positions are ignored),
        ``dstate`` (dL/d(final state), or None: zeros), ``keep`` ``(T,)`` or ``(T, B)``
        -> ``(dX (T, B, D), dstate0)``, dstate0 = dL/d(initial state); adds dL/dparams
        into ``grads``.  ``input_grad=False`` skips dX and returns None for it.  Padded
        steps add nothing to any gradient, and a finished sequence's dL/dH passes straight
        through to its last real step (its row of ``dh_next`` is left alone until then)."""
        dHs, (dh_next,), keep = self.begin_backward(dHs, dstate, keep, input_grad)
        if self.layers is not None:                           # a stack: each copy's backward
            return self.backward_stack(dHs, (dh_next,), keep, input_grad)
        X, H, lengths = self.cache
        T, B, D = X.shape
        dh_next = dh_next[0]                                 # dL/dH_T from after the window (B, H)
        dZ = np.empty_like(H[1:])                            # dL/dZ_t for every step   (T, B, H)
        W_hh_T = np.ascontiguousarray(self.params["W_hh"].T)  # W_hh^T, once (see step_grad)
        if self.record_grad_norms:
            self.dh_norms = np.zeros(T)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in reversed(range(T)):
            n = sizes[t]                                     # rows [:n] run (longest first)
            dh = dHs[t, :n] + dh_next[:n]                    # dL/dH_t = from O_t + from H_{t+1}  (n, H)
            dh_next[:n] = self.step_grad(dh, H[t + 1, :n], dZ[t, :n], W_hh_T)  # dZ_t; dL/dH_{t-1}
            if keep is not None:
                dh_next[:n] *= keep[t, :n]                   # truncation: 0 cuts, 1/p reweights
            if self.record_grad_norms:
                self.dh_norms[t] = np.linalg.norm(dh)
        # after the loop, the weight gradients: one GEMM each over every real step's rows
        dX = self.weight_grads(*real_rows(lengths, X, H[:-1], dZ), input_grad)
        dX = None if dX is None else from_real_rows(dX, lengths, X.shape)   # (T, B, D)
        return self.end_backward(dX, (dh_next[None],))       # dh_next is now dL/dH_0
