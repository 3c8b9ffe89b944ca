"""The book's LSTM: the one step (``LSTMCell``) and the layer whose time loop runs it.

Dimension letters: B batch, T steps, D input features, H hidden units, n the sequences
still running at a step.  The equations (gate blocks in the book's order i, f, o, c;
PyTorch's is i, f, g, o, with g the book's C~):

    I_t  = sigma(X_t W_xi + H_{t-1} W_hi + b_i)           input gate
    F_t  = sigma(X_t W_xf + H_{t-1} W_hf + b_f)           forget gate
    O_t  = sigma(X_t W_xo + H_{t-1} W_ho + b_o)           output gate
    C~_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)            input node (candidate memory)
    C_t  = F_t * C_{t-1} + I_t * C~_t                     memory cell
    H_t  = O_t * tanh(C_t)

with the state the pair ``(h, c)``.  Parameters are fused as the GRU's (``gated.py``):
``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``, the book's names read-only views.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, make_rng
from .base import DEFAULT_DTYPE
from .gated import GateView, _check_step_cache, _GatedParams, sigmoid
from .timeloop import (RecurrentLayer, batch_sizes, check_state, from_real_rows, input_projection,
                       real_rows)

__all__ = ["LSTMCell", "LSTM", "LSTMStepCache", "LSTMCache"]


class LSTMStepCache(NamedTuple):
    """What ``LSTMCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray               # (B, D)   input X_t
    h_prev: np.ndarray          # (B, H)   H_{t-1}
    c_prev: np.ndarray          # (B, H)   C_{t-1}
    gates: np.ndarray           # (B, 4H)  [I_t | F_t | O_t | C~_t]
    tanh_c: np.ndarray          # (B, H)   tanh(C_t)


class LSTMCell(_GatedParams):
    """One step of the book's LSTM, forward and backward; ``LSTM``'s time loop runs it.

    params: fused ``W_x (D, 4H)``, ``W_h (H, 4H)``, ``b (4H,)``, gate blocks i, f, o, c (the
    three sigmoid gates first, then the tanh input node C~); the book's names are views:
    ``W_xi, W_hi, b_i, ..., W_xc, W_hc, b_c``.  One bias per gate: PyTorch's two
    (``bias_ih + bias_hh``) sum into it.

    * ``step(h_prev, c_prev, A, h, c, tanh_c)`` and ``step_grad(dh, dc, c_prev, A, tanh_c,
      dA)``: one step and its derivative on the n rows still running, the input projection
      given (``A`` holds ``X_t W_x + b`` on entry); ``weight_grads`` adds the parameter
      gradients from every step's rows after the loop;
    * ``step_forward(x, (h_prev, c_prev)) -> ((h, c), cache)`` and
      ``step_backward((dh, dc), cache) -> (dx, (dh_prev, dc_prev))``: the same pieces for one
      step: dh = dL/dH_t from the output *and* step t+1; dc = dL/dC_t from step t+1 only
      (the path through H_t = O_t * tanh(C_t) is added in the step).
    """

    GATES = ("i", "f", "o", "c")                           # sigma, sigma, sigma, tanh
    state_names = ("h", "c")                               # the state: (h, c)
    W_xi, W_hi, b_i = GateView(), GateView(), GateView()
    W_xf, W_hf, b_f = GateView(), GateView(), GateView()
    W_xo, W_ho, b_o = GateView(), GateView(), GateView()
    W_xc, W_hc, b_c = GateView(), GateView(), GateView()

    def __init__(self, input_size: int, hidden_size: int, seed=None, rng=None,
                 init: str = "normal", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        super().__init__(input_size, hidden_size, seed, rng, init, sigma, dtype)

    # ------------------------------------------------------------------ the one step
    def step(self, h_prev: np.ndarray, c_prev: np.ndarray, A: np.ndarray, h: np.ndarray,
             c: np.ndarray, tanh_c: np.ndarray) -> None:
        """``h_prev``, ``c_prev`` = H_{t-1}, C_{t-1} ``(n, H)``; ``A`` ``(n, 4H)`` holds
        X_t W_x + b and receives [I_t | F_t | O_t | C~_t]; ``h``, ``c``, ``tanh_c`` receive
        H_t, C_t and tanh(C_t)."""
        H = self.hidden_size
        I, F, O, Cc = A[:, :H], A[:, H:2 * H], A[:, 2 * H:3 * H], A[:, 3 * H:]
        A += h_prev @ self.params["W_h"]                   # + H_{t-1} W_h, all four gates (n, 4H)
        sigmoid(A[:, :3 * H], out=A[:, :3 * H])            # I_t, F_t, O_t = sigma(...)    (n, 3H)
        np.tanh(Cc, out=Cc)                                # C~_t = tanh(...)              (n, H)
        np.multiply(F, c_prev, out=c)                      # C_t = F_t * C_{t-1}
        c += I * Cc                                        #       + I_t * C~_t            (n, H)
        np.tanh(c, out=tanh_c)                             # tanh(C_t)                     (n, H)
        np.multiply(O, tanh_c, out=h)                      # H_t = O_t * tanh(C_t)         (n, H)

    def step_grad(self, dh: np.ndarray, dc: np.ndarray, c_prev: np.ndarray, A: np.ndarray,
                  tanh_c: np.ndarray, dA: np.ndarray, W_h_T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``dh`` = dL/dH_t (from the output at t and from step t+1); ``dc`` holds dL/dC_t
        from step t+1 and receives the whole dL/dC_t (the path through H_t added); ``c_prev``,
        ``A`` = [I_t | F_t | O_t | C~_t], ``tanh_c`` of the step; ``dA`` ``(n, 4H)`` receives
        dL/d(each gate's pre-activation); ``W_h_T`` = W_h^T ``(4H, H)`` (a copy made once per
        backward, as ``RNNCell.step_grad``'s) -> (dL/dH_{t-1}, dL/dC_{t-1})."""
        H = self.hidden_size
        I, F, O, Cc = A[:, :H], A[:, H:2 * H], A[:, 2 * H:3 * H], A[:, 3 * H:]
        dI, dF, dO, dCc = dA[:, :H], dA[:, H:2 * H], dA[:, 2 * H:3 * H], dA[:, 3 * H:]
        # dL/dC_t = from C_{t+1} + through H_t = O_t * tanh(C_t): dL/dH_t * O_t * (1 - tanh^2 C_t)
        dc += dh * O * (1 - tanh_c * tanh_c)               #                               (n, H)
        np.multiply(dc, Cc, out=dI)                        # dL/dI_t  = dL/dC_t * C~_t
        np.multiply(dc, c_prev, out=dF)                    # dL/dF_t  = dL/dC_t * C_{t-1}
        np.multiply(dh, tanh_c, out=dO)                    # dL/dO_t  = dL/dH_t * tanh(C_t)
        np.multiply(dc, I, out=dCc)                        # dL/dC~_t = dL/dC_t * I_t
        S = A[:, :3 * H]
        dA[:, :3 * H] *= S * (1 - S)                       # da_i, da_f, da_o: * sigma' = s (1 - s)
        dCc *= 1 - Cc * Cc                                 # da_c: * tanh' = 1 - C~_t^2
        dh_prev = dA @ W_h_T                               # dL/dH_{t-1} = da_t W_h^T       (n, H)
        dc_prev = dc * F                                   # dL/dC_{t-1} = dL/dC_t * F_t: the forget gate
        return dh_prev, dc_prev

    def weight_grads(self, X: np.ndarray, H_prev: np.ndarray, dA: np.ndarray,
                     input_grad: bool = True):
        """Add the parameter gradients from N rows (every real step of every sequence, or
        one step): ``X (N, D)``, ``H_prev (N, H)``, ``dA (N, 4H)`` -> dL/dX ``(N, D)`` (None
        when ``input_grad`` is False)."""
        g = self.grads
        g["W_x"] += X.T @ dA                               # dL/dW_x = sum_t X_t^T da_t      (D, 4H)
        g["W_h"] += H_prev.T @ dA                          # dL/dW_h = sum_t H_{t-1}^T da_t  (H, 4H)
        g["b"] += np.ones(len(dA), dA.dtype) @ dA          # dL/db   = sum_t sum_b da_t      (4H,)
        return dA @ self.params["W_x"].T if input_grad else None  # dL/dX_t = da_t W_x^T (N, D)

    # ------------------------------------------------------------------ one step by hand
    def step_forward(self, x: np.ndarray, state: tuple) -> tuple[tuple, LSTMStepCache]:
        """x ``(B, D)``, state ``(h_prev, c_prev)``, each ``(B, H)`` -> ``((h, c), cache)``."""
        check_array(x, "x", ndim=2, last_dim=self.input_size, dtype=self.dtype)
        h_prev, c_prev = check_state(state, "state", (x.shape[0], self.hidden_size), 2, self.dtype)
        A = x @ self.params["W_x"] + self.params["b"]      # X_t W_x + b                   (B, 4H)
        h, c, tanh_c = np.empty_like(h_prev), np.empty_like(h_prev), np.empty_like(h_prev)
        self.step(h_prev, c_prev, A, h, c, tanh_c)
        return (h, c), LSTMStepCache(x, h_prev, c_prev, A, tanh_c)

    def step_backward(self, dstate: tuple, cache: LSTMStepCache) -> tuple[np.ndarray, tuple]:
        """dstate ``(dh, dc)``: dh = dL/dH_t (from the output and step t+1), dc = dL/dC_t
        from step t+1, each ``(B, H)`` -> ``(dx (B, D), (dh_prev, dc_prev))``; adds this
        step's parameter gradients."""
        _check_step_cache(cache, LSTMStepCache)
        dh, dc = check_state(dstate, "dstate", cache.h_prev.shape, 2, self.dtype)
        dA, dc = np.empty_like(cache.gates), dc.copy()    # (the step adds into dc)
        dh_prev, dc_prev = self.step_grad(dh, dc, cache.c_prev, cache.gates, cache.tanh_c, dA,
                                          self.params["W_h"].T)
        dx = self.weight_grads(cache.x, cache.h_prev, dA)
        return dx, (dh_prev, dc_prev)


class LSTMCache(NamedTuple):
    """What ``LSTM.backward`` needs from ``forward`` (``lstm.cache``)."""
    X: np.ndarray               # (T, B, D)    the inputs X_1..X_T
    H: np.ndarray               # (T+1, B, H)  H[0] = H_0 (the initial state), H[t] = H_t
    C: np.ndarray               # (T+1, B, H)  C[0] = C_0 (the initial state), C[t] = C_t
    gates: np.ndarray           # (T, B, 4H)   [I_t | F_t | O_t | C~_t] for every step
    tanh_C: np.ndarray          # (T, B, H)    tanh(C_t), t = 1..T (tanh_C[t-1] for C[t])
    lengths: np.ndarray | None  # (B,)         longest first; None: every sequence runs T steps


class LSTM(RecurrentLayer, LSTMCell):
    """The book's LSTM over a whole sequence (time-major): ``LSTMCell``'s step in a loop.

    forward: ``X (T, B, D)``, ``state`` ``(h0, c0)``, each ``(1, B, H)``, or None (zeros)
    -> ``(Hs (T, B, H), (h_T, c_T))``.
    backward: ``(dHs (T, B, H), dstate (dh_T, dc_T) or None, keep)``
    -> ``(dX (T, B, D), (dh0, dc0))`` (``input_grad=False``: dX is None).

    One GEMM computes every step's input projections before the loop, one product
    ``H_{t-1} W_h`` per step serves all four gates, and the weight gradients are single
    GEMMs after the loop.  ``Hs`` is a read-only view of ``cache.H``.

    BPTT hooks: ``keep`` ``(T,)`` or ``(T, B)`` multiplies the gradient flowing from step t
    back to step t-1 by ``keep[t]``, *both* dL/dH_{t-1} and dL/dC_{t-1} (truncation cuts
    the whole state); ``record_grad_norms = True`` stores ``||dL/dH_t||`` in ``dh_norms``
    and ``||dL/dC_t||`` (from step t+1 and through H_t) in ``dc_norms``, each (T,).
    """

    dc_norms = None

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 bidirectional: bool = False, dropout: float = 0.0, seed=None, rng=None,
                 init: str = "normal", sigma: float = 0.01, dtype=DEFAULT_DTYPE):
        rng = make_rng(seed, rng)
        if self._build_stack(input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                             lambda D: LSTM(D, hidden_size, rng=rng, init=init, sigma=sigma,
                                            dtype=dtype)):
            return                                             # a stack of one-layer LSTMs
        LSTMCell.__init__(self, input_size, hidden_size, None, rng, init, sigma, dtype)

    def forward(self, X: np.ndarray, state: tuple | None = None, lengths=None):
        """``X (T, B, D)``, ``state`` (a tuple of ``(L, B, H)`` arrays, or None: zeros),
        ``lengths (B,)`` or None -> ``(Hs (T, B, H * num_directions), state)``."""
        X, (h0, c0), lengths = self.begin_forward(X, state, lengths)  # padded: longest first
        if self.layers is not None:                           # a stack: each copy's forward
            return self.forward_stack(X, (h0, c0), lengths)
        T, B, D = X.shape
        H = np.empty((T + 1, B, self.hidden_size), dtype=X.dtype)  # H[0] = H_0, H[t] = H_t
        C = np.empty_like(H)                                 # C[0] = C_0, C[t] = C_t
        H[0], C[0] = h0[0], c0[0]
        gates = np.empty((T, B, 4 * self.hidden_size), dtype=X.dtype)  # [I | F | O | C~] per step
        # every step's input projection, one GEMM: gates[t] holds X_t W_x + b until step t
        input_projection(X, self.params["W_x"], self.params["b"], gates, lengths)
        tanh_C = np.empty_like(H[1:])                        # tanh(C_t), kept for backward
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in range(T):
            n = sizes[t]                                     # rows [:n] run (longest first)
            self.step(H[t, :n], C[t, :n], gates[t, :n], H[t + 1, :n], C[t + 1, :n], tanh_C[t, :n])
            H[t + 1, n:], C[t + 1, n:], gates[t, n:], tanh_C[t, n:] = 0, 0, 0, 0  # finished: 0
        self.cache = LSTMCache(X=X, H=H, C=C, gates=gates, tanh_C=tanh_C, lengths=lengths)
        Hs = H[1:]
        Hs.flags.writeable = False                           # backward reads H: keep it intact
        at = (T, slice(None)) if lengths is None else (lengths, np.arange(B))  # each at its length
        return self.end_forward(Hs, (H[at][None].copy(), C[at][None].copy()))

    def backward(self, dHs: np.ndarray, dstate: tuple | None = None,
                 keep: np.ndarray | None = None, input_grad: bool = True):
        """``dHs (T, B, H * num_directions)``, ``dstate`` ``(dh_T, dc_T)`` (or None: zeros),
        ``keep`` ``(T,)`` or ``(T, B)`` -> ``(dX (T, B, D), (dh0, dc0))``; adds dL/dparams
        into ``grads``, as ``RNN.backward`` (padded steps add nothing; a finished sequence's
        dL/dH and dL/dC pass straight through to its last real step)."""
        dHs, (dh_next, dc_next), keep = self.begin_backward(dHs, dstate, keep, input_grad)
        if self.layers is not None:                           # a stack: each copy's backward
            return self.backward_stack(dHs, (dh_next, dc_next), keep, input_grad)
        X, H, C, gates, tanh_C, lengths = self.cache
        T, B, D = X.shape
        dh_next, dc_next = dh_next[0], dc_next[0]            # dL/dH_T, dL/dC_T from after the window
        dA = np.empty_like(gates)                            # dL/d(pre-activations) of I, F, O, C~
        W_h_T = np.ascontiguousarray(self.params["W_h"].T)   # W_h^T, once (see step_grad)
        if self.record_grad_norms:
            self.dh_norms, self.dc_norms = np.zeros(T), np.zeros(T)
        sizes = batch_sizes(lengths, T, B)                   # n_t: sequences running at step t
        for t in reversed(range(T)):
            n = sizes[t]                                     # rows [:n] run (longest first)
            dh = dHs[t, :n] + dh_next[:n]                    # dL/dH_t = from O_t + from H_{t+1}  (n, H)
            dc = dc_next[:n].copy()                          # dL/dC_t from C_{t+1}, + via H_t in the step
            dh_next[:n], dc_next[:n] = self.step_grad(dh, dc, C[t, :n], gates[t, :n], tanh_C[t, :n], dA[t, :n], W_h_T)
            if keep is not None:                             # truncation cuts the whole state
                dh_next[:n] *= keep[t, :n]
                dc_next[:n] *= keep[t, :n]
            if self.record_grad_norms:
                self.dh_norms[t], self.dc_norms[t] = np.linalg.norm(dh), np.linalg.norm(dc)
        # after the loop, the weight gradients: one GEMM each over every real step's rows
        dX = self.weight_grads(*real_rows(lengths, X, H[:-1], dA), input_grad)
        dX = None if dX is None else from_real_rows(dX, lengths, X.shape)   # (T, B, D)
        return self.end_backward(dX, (dh_next[None], dc_next[None]))  # now dL/dH_0, dL/dC_0
