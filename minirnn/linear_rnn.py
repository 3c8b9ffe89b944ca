"""The book's BPTT analysis, made executable: a linear RNN, the closed form of its
gradient, vanishing and exploding gradients, and powers of a symmetric matrix.

Dimension letters: B batch, T steps, D input, H hidden (``num_hiddens``), Q outputs.

The book analyses the simplest RNN: identity activation, no bias, in column vectors

    h_t = W_hx x_t + W_hh h_{t-1},     o_t = W_qh h_t,     L = sum_t l(o_t, y_t).

minirnn keeps the batch in rows (as ``RNN`` does), so ``LinearRNN`` computes

    H_t = X_t W_xh + H_{t-1} W_hh,     O_t = H_t W_hq          (H_t: (B, H), one row a sequence)

and the book's matrices are the transposes of its parameters: ``W_hx = W_xh^T``,
``W_hh(book) = W_hh^T``, ``W_qh = W_hq^T``.

Backpropagation through time, written with the book's 1-based t = 1..T: the loss reaches
``h_t`` through ``o_t`` and through ``h_{t+1}``, so

    dL/dh_T = W_qh^T dL/do_T
    dL/dh_t = W_qh^T dL/do_t + W_hh^T dL/dh_{t+1}                    (t < T)

and unrolling the recursion (the output at step s = T + t - i reaches h_t through
s - t = T - i factors W_hh^T) gives the book's closed form

    dL/dh_t = sum_{i=t}^{T} (W_hh^T)^(T-i) W_qh^T dL/do_(T+t-i)         (``book_closed_form_dh``)

with ``dL/dW_hh = sum_t dL/dh_t h_{t-1}^T``.  Powers of ``W_hh^T`` decide everything:
with an eigenvalue of modulus above 1 the long-range terms explode, below 1 they vanish,
at the rate of the spectral radius (``spectral_radius_demo``).  And ``W^k v`` turns
towards the top eigenvector of W (the book's exercise, ``power_alignment``): for a
symmetric W the angle's tangent shrinks at least as fast as ``(|lambda_2|/|lambda_1|)^k``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .bptt import GradientFlow, fit_rate
from .layers import DEFAULT_DTYPE, Layer, check_array, check_positive_int, init_weight, make_rng

__all__ = ["LinearRNN", "book_closed_form_dh", "spectral_radius", "scale_to_spectral_radius",
           "random_symmetric", "linear_gradient_flow", "spectral_radius_demo", "Alignment", "power_alignment"]


class LinearRNN(Layer):
    """The book's linear RNN: identity activation, no bias, with its output layer.

        H_t = X_t W_xh + H_{t-1} W_hh,   t = 1..T,   H_0 = h0 (zeros if None)
        O_t = H_t W_hq

    params: ``W_xh (D, H)``, ``W_hh (H, H)``, ``W_hq (H, Q)``.
    forward: ``X (T, B, D)``, ``h0 (B, H)`` or None -> ``O (T, B, Q)``.
    backward: ``dO (T, B, Q)`` -> ``(dX (T, B, D), dh0 (B, H))``; keeps every
    ``dL/dH_t`` in ``dH (T, B, H)`` (the quantity of the book's closed form) and, with
    ``record_grad_norms = True``, their norms in ``dh_norms (T,)`` as ``RNN`` does.
    """

    def __init__(self, input_size: int, num_hiddens: int, num_outputs: int, seed=None, rng=None,
                 sigma: float = 0.5, dtype=DEFAULT_DTYPE):
        super().__init__()
        D = self.input_size = check_positive_int(input_size, "input_size")
        H = self.num_hiddens = check_positive_int(num_hiddens, "num_hiddens")
        Q = self.num_outputs = check_positive_int(num_outputs, "num_outputs")
        rng = make_rng(seed, rng)
        self.add_param("W_xh", init_weight(rng, (D, H), "normal", sigma, dtype))
        self.add_param("W_hh", init_weight(rng, (H, H), "normal", sigma, dtype))
        self.add_param("W_hq", init_weight(rng, (H, Q), "normal", sigma, dtype))
        self.record_grad_norms = False
        self.dh_norms = None
        self.dH = None
        self._X = None        # (T, B, D)
        self._H = None        # (T+1, B, H)  H[0] = h0, H[t] = H_t

    def forward(self, X: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        check_array(X, "X", ndim=3, last_dim=self.input_size)
        T, B, D = X.shape
        Hn = self.num_hiddens
        if h0 is not None:
            check_array(h0, "h0", shape=(B, Hn))
        p = self.params
        Hbuf = np.empty((T + 1, B, Hn), dtype=p["W_hh"].dtype)
        Hbuf[0] = 0 if h0 is None else h0
        Hbuf[1:] = (X.reshape(T * B, D) @ p["W_xh"]).reshape(T, B, Hn)   # X_t W_xh, all t at once
        for t in range(1, T + 1):
            Hbuf[t] += Hbuf[t - 1] @ p["W_hh"]                    # H_t = X_t W_xh + H_{t-1} W_hh
        self._X, self._H = X, Hbuf
        return Hbuf[1:] @ p["W_hq"]                               # O_t = H_t W_hq  (T, B, Q)

    def backward(self, dO: np.ndarray):
        if self._H is None:
            raise RuntimeError("LinearRNN.backward called before forward")
        X, Hbuf = self._X, self._H
        T, B, D = X.shape
        Hn = self.num_hiddens
        check_array(dO, "dO", shape=(T, B, self.num_outputs))
        p, g = self.params, self.grads
        dH = dO @ p["W_hq"].T                                     # W_qh^T dL/do_t, all t  (T, B, H)
        W_hh_T = p["W_hh"].T
        for t in range(T - 2, -1, -1):
            dH[t] += dH[t + 1] @ W_hh_T                           # dL/dh_t = W_qh^T dL/do_t + W_hh^T dL/dh_{t+1}
        if self.record_grad_norms:
            self.dh_norms = np.linalg.norm(dH.reshape(T, -1), axis=1)   # ||dL/dH_t||, Frobenius over B
        dH2 = dH.reshape(T * B, Hn)
        g["W_hq"] += Hbuf[1:].reshape(T * B, Hn).T @ dO.reshape(T * B, -1)  # dL/dW_hq = sum_t H_t^T dO_t
        g["W_hh"] += Hbuf[:-1].reshape(T * B, Hn).T @ dH2         # dL/dW_hh = sum_t H_{t-1}^T dH_t
        g["W_xh"] += X.reshape(T * B, D).T @ dH2                  # dL/dW_xh = sum_t X_t^T dH_t
        self.dH = dH
        dX = (dH2 @ p["W_xh"].T).reshape(T, B, D)                 # dL/dX_t = dH_t W_xh^T
        dh0 = dH[0] @ W_hh_T                                      # dL/dH_0 = dH_1 W_hh^T
        return dX, dh0


def book_closed_form_dh(W_hh: np.ndarray, W_hq: np.ndarray, dO: np.ndarray) -> np.ndarray:
    """The book's closed form, written as printed, in its column-vector notation:

        dL/dh_t = sum_{i=t}^{T} (W_hh^T)^(T-i) W_qh^T dL/do_(T+t-i),   t = 1..T

    where the book's ``W_hh`` and ``W_qh`` are ``LinearRNN``'s ``W_hh^T`` and ``W_hq^T``.
    dO ``(T, B, Q)`` -> dL/dh ``(T, B, H)`` in minirnn's row layout.  A reference with a
    double loop over t and i (O(T^2) matrix products), for checking the fast backward.
    """
    T = dO.shape[0]
    Whh_book, Wqh = W_hh.T, W_hq.T                                # column-vector notation
    dL_do = dO.transpose(0, 2, 1)                                 # (T, Q, B): one column a sequence
    powers = [np.eye(W_hh.shape[0])]                              # (W_hh^T)^k, k = 0..T-1
    for _ in range(T - 1):
        powers.append(Whh_book.T @ powers[-1])
    dh = np.zeros((T, W_hh.shape[0], dO.shape[1]))
    for t in range(1, T + 1):                                     # the book's 1-based indices
        for i in range(t, T + 1):
            dh[t - 1] += powers[T - i] @ Wqh.T @ dL_do[T + t - i - 1]
    return dh.transpose(0, 2, 1)                                  # (T, B, H)


# --------------------------------------------------------------------------- spectra
def spectral_radius(W: np.ndarray) -> float:
    """max |lambda| over the eigenvalues of the square matrix W."""
    check_array(W, "W", ndim=2)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square, got shape {W.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def scale_to_spectral_radius(W: np.ndarray, radius: float) -> np.ndarray:
    """``W * radius / rho(W)``: the same matrix with spectral radius ``radius``."""
    if not (isinstance(radius, (int, float, np.floating)) and np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    rho = spectral_radius(W)
    if rho == 0:
        raise ValueError("W is nilpotent (spectral radius 0): it cannot be scaled to a radius")
    return W * (radius / rho)


def random_symmetric(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(A + A^T) / 2`` with A standard normal ``(n, n)``: symmetric, so normal, so its powers'
    norms follow its eigenvalues exactly (no transient growth)."""
    n = check_positive_int(n, "n")
    A = rng.standard_normal((n, n))
    return (A + A.T) / 2


def linear_gradient_flow(rnn: LinearRNN, X: np.ndarray, dO_T: np.ndarray) -> GradientFlow:
    """Gradient flow of a linear RNN with the loss at the last step only: upstream
    ``dO_T (B, Q)`` at step T and zero elsewhere, so ``dL/dH_{T-k} = dO_T W_hq^T (W_hh^T)^k``.
    The per-step Jacobian ``dH_t/dH_{t-1} = W_hh^T`` has the same norm at every step."""
    T, B = X.shape[:2]
    rnn.forward(X)
    dO = np.zeros((T, B, rnn.num_outputs), dtype=rnn.params["W_hh"].dtype)
    dO[-1] = dO_T
    saved, was_recording = {k: g.copy() for k, g in rnn.grads.items()}, rnn.record_grad_norms
    try:
        rnn.record_grad_norms = True
        rnn.backward(dO)
        dh_norms = rnn.dh_norms.copy()
    finally:
        rnn.record_grad_norms = was_recording
        for k, g in rnn.grads.items():
            g[...] = saved[k]
    jac = np.full(T, np.linalg.norm(rnn.params["W_hh"], 2))
    return GradientFlow(np.arange(T - 1, -1, -1), dh_norms, jac, float("nan"))


def spectral_radius_demo(radii=(0.9, 1.0, 1.1), num_hiddens: int = 8, num_steps: int = 120,
                         batch_size: int = 4, min_distance: int | None = None,
                         seed: int = 0) -> dict[float, tuple[GradientFlow, float]]:
    """Vanishing and exploding gradients in a linear RNN, float64.

    One random symmetric ``W_hh`` is scaled to each spectral radius in ``radii``; with the
    loss at the last step, ``||dL/dH_{T-k}||`` is measured for k = 0..T-1 and its rate
    fitted (``fit_rate``) over ``k >= min_distance`` (default T/2, past the transient of
    the smaller eigenvalues).  Returns ``{radius: (flow, fitted rate)}``; the fitted rate
    matches the radius (``tests/test_bptt.py`` bounds the difference).
    """
    num_steps = check_positive_int(num_steps, "num_steps")
    rng = np.random.default_rng(seed)
    rnn = LinearRNN(1, num_hiddens, 1, rng=rng, dtype=np.float64)
    X = rng.standard_normal((num_steps, batch_size, 1))
    dO_T = rng.standard_normal((batch_size, 1))
    W = random_symmetric(num_hiddens, rng)
    k0 = num_steps // 2 if min_distance is None else min_distance
    out = {}
    for radius in radii:
        rnn.params["W_hh"][...] = scale_to_spectral_radius(W, radius)
        flow = linear_gradient_flow(rnn, X, dO_T)
        out[radius] = (flow, fit_rate(flow.distance, flow.dh_norms, min_distance=k0))
    return out


class Alignment(NamedTuple):
    """How ``W^k v`` lines up with the top eigenvector u_1, for k = 0..K, each ``(K+1,)``.

    cos  ``|cos angle(W^k v, u_1)|``, going to 1
    tan  ``tan angle(W^k v, u_1)``, going to 0 at the rate ``|lambda_2|/|lambda_1|``; computed
         from the component orthogonal to u_1, so it stays accurate where ``1 - cos`` is
         below the rounding error
    """
    cos: np.ndarray
    tan: np.ndarray


def power_alignment(W: np.ndarray, v: np.ndarray, num_powers: int) -> Alignment:
    """The book's exercise: the angle between ``W^k v`` and the top eigenvector u_1 (largest
    |lambda|) of the symmetric matrix W, for k = 0..num_powers.

    With ``v = sum_i c_i u_i`` in W's orthonormal eigenvectors, ``W^k v = sum_i c_i lambda_i^k u_i``
    and ``tan(angle_k) = ||sum_{i>1} c_i lambda_i^k u_i|| / |c_1 lambda_1^k|
    <= (|lambda_2|/|lambda_1|)^k tan(angle_0)``: the cosine goes to 1 at that rate.
    ``W^k v`` is renormalized each step (the direction is all that matters), so no
    overflow or underflow for any k.
    """
    check_array(W, "W", ndim=2)
    if W.shape[0] != W.shape[1] or not np.allclose(W, W.T):
        raise ValueError(f"W must be a symmetric square matrix, got shape {W.shape}")
    check_array(v, "v", shape=(W.shape[0],))
    num_powers = check_positive_int(num_powers, "num_powers")
    lam, U = np.linalg.eigh(W)
    u1 = U[:, np.argmax(np.abs(lam))]                             # top eigenvector (largest |lambda|)
    cos, tan = np.empty(num_powers + 1), np.empty(num_powers + 1)
    x = v / np.linalg.norm(v)
    for k in range(num_powers + 1):
        along = x @ u1                                            # component along u_1
        cos[k] = abs(along)                                       # |cos angle(W^k v, u_1)|, x is a unit vector
        tan[k] = np.linalg.norm(x - along * u1) / abs(along)      # ||x_perp|| / |x . u_1|
        x = W @ x
        x /= np.linalg.norm(x)                                    # the direction of W^(k+1) v
    return Alignment(cos, tan)
