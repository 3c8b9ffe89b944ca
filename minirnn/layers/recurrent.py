"""The book's RNN: a readable one-step cell and the vectorized layer, one contract for both.

Dimension letters: B batch, T steps (``num_steps``), D input features, H hidden units
(``num_hiddens``), L = num_layers * num_directions (1 here).

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

The cell works on one step with ``(B, H)`` arrays: ``step_forward(x, state) -> (state,
cache)`` and ``step_backward(dstate, cache) -> (dx, dstate_prev)``.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .._checks import (check_array, check_bool, check_lengths, check_positive_int, check_probability,
                       make_rng)
from .._threads import for_rows, matmul_at, matmul_rows, thin
from .base import DEFAULT_DTYPE, Layer, init_weight
from .dense import NONLINEARITIES, Dropout, _activate, activation_grad


# --------------------------------------------------------------------------- the state
def check_state(state, name: str, shape: tuple, num_arrays: int = 1, dtype=None) -> tuple:
    """A state is a tuple of ``num_arrays`` floating arrays of ``shape``: name what is
    wrong (``state[0] must have shape ...``) before anything changes."""
    if not isinstance(state, tuple):
        hint = " (a tuple: wrap one array as (h,))" if isinstance(state, np.ndarray) else ""
        raise TypeError(f"{name} must be a tuple of {num_arrays} array(s) of shape {shape}, "
                        f"got {type(state).__name__}{hint}")
    if len(state) != num_arrays:
        raise ValueError(f"{name} must be a tuple of {num_arrays} array(s) of shape {shape}, "
                         f"got a tuple of {len(state)}")
    for i, a in enumerate(state):
        check_array(a, f"{name}[{i}]", shape=shape, dtype=dtype)
    return state


def check_keep(keep, T: int, B: int):
    """``keep`` is None, ``(T,)`` (one factor a step) or ``(T, B)`` (one a step and sequence),
    of finite real numbers -> None or keep as an array."""
    if keep is None:
        return None
    if np.shape(keep) not in ((T,), (T, B)):
        raise ValueError(f"keep must have shape ({T},) or ({T}, {B}), got {np.shape(keep)}")
    keep = np.asarray(keep)
    if not (keep.dtype == bool or np.issubdtype(keep.dtype, np.integer)
            or np.issubdtype(keep.dtype, np.floating)):
        raise TypeError(f"keep must hold real numbers (truncation factors), got dtype {keep.dtype}")
    if not np.isfinite(keep).all():
        bad = keep[~np.isfinite(keep)].flat[0]
        raise ValueError(f"keep must hold finite factors (0 cuts, 1 keeps), got {bad}")
    return keep


def keep_factor(keep, t: int, n: int | None = None, a: int = 0):
    """The factor for step t, shaped to broadcast over ``(n - a, H)`` (rows ``a:n`` of the
    batch, the sequences still running among them): a scalar or ``(n - a, 1)``."""
    k = keep[t]
    return k if np.ndim(k) == 0 else np.asarray(k)[a:n, None]


def reverse_keep(keep, lengths=None):
    """``keep`` for the reverse direction: the same cuts, in its own order of steps.

    The reverse copy's step s reads position L-1-s (L a sequence's length: T without
    ``lengths``), so its gradient from step s back to s-1 crosses the boundary between
    positions L-s and L-1-s, which ``keep[L-s]`` scales in the forward direction; step 0's
    factor (towards the initial state) stays ``keep[0]``.  -> ``(T,)``, or ``(T, B)``
    with ``lengths``.
    """
    if keep is None:
        return None
    keep = np.asarray(keep)
    if lengths is None:
        return np.concatenate([keep[:1], keep[:0:-1]])          # [k_0, k_{T-1}, ..., k_1]
    T, B = keep.shape[0], lengths.shape[0]
    keep = keep if keep.ndim == 2 else np.broadcast_to(keep[:, None], (T, B))
    s = np.arange(T)[:, None]                                    # (T, 1) the reverse copy's step
    src = np.where((s >= 1) & (s < lengths), lengths - s, 0)     # (T, B) keep[L-s], keep[0] at s=0
    return keep[src, np.arange(B)]


def reverse_padded(A: np.ndarray, lengths=None) -> np.ndarray:
    """Each sequence's real steps in reverse order, padding left where it is:
    ``out[s, b] = A[lengths[b] - 1 - s, b]`` for ``s < lengths[b]``, ``A[s, b]`` after.
    ``A (T, B, ...)``; without ``lengths``, ``A[::-1]``.  Its own inverse."""
    if lengths is None:
        return A[::-1]
    T, B = A.shape[:2]
    t = np.arange(T)[:, None]                                    # (T, 1)
    src = np.where(t < lengths, lengths - 1 - t, t)              # (T, B) the step to read
    return A[src, np.arange(B)]                                  # a new (T, B, ...) array


def batch_sizes(lengths, num_steps: int, batch_size: int) -> list:
    """How many sequences are still running at each step: ``n_t = #{b: lengths[b] > t}``
    (PyTorch's ``PackedSequence.batch_sizes``), a list of T ints; all B without lengths.
    With lengths sorted longest first, the running sequences at step t are rows ``[:n_t]``."""
    if lengths is None:
        return [batch_size] * num_steps
    return (lengths[None, :] > np.arange(num_steps)[:, None]).sum(axis=1).tolist()


def real_rows(A: np.ndarray, lengths=None) -> np.ndarray:
    """Every real step's rows of ``A (T, B, ...)`` stacked, step by step: ``(N, ...)``,
    N = sum(lengths) (a copy); without lengths all ``T * B`` rows (``A.reshape``, no copy).
    The matrix products outside the time loop run on these, so padding costs them nothing."""
    if lengths is None:
        return A.reshape(A.shape[0] * A.shape[1], *A.shape[2:])
    return A[np.arange(A.shape[0])[:, None] < lengths]         # (T, B) mask: t < lengths[b]


def from_real_rows(rows: np.ndarray, lengths, shape: tuple) -> np.ndarray:
    """The inverse of ``real_rows``: ``rows (N, ...)`` back at their steps in a new array
    of ``shape (T, B, ...)``, zero at padded steps."""
    if lengths is None:
        return rows.reshape(shape)
    out = np.zeros(shape, dtype=rows.dtype)
    out[np.arange(shape[0])[:, None] < lengths] = rows
    return out


def input_projection(X: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray,
                     lengths=None) -> None:
    """``out[t] = X_t W + b`` for every step at once, one GEMM ``(T*B, D) @ (D, K)``, into
    ``out (T, B, K)``; with lengths, for the real steps only (padded rows left alone)."""
    T, B, D = X.shape
    if lengths is None:
        X2, P = X.reshape(T * B, D), out.reshape(T * B, W.shape[1])

        def project(rows):                                     # (row blocks: minirnn._threads)
            np.matmul(X2[rows], W, out=P[rows])                # X_t W
            P[rows] += b                                       # + b
        for_rows(project, T * B, D + W.shape[1], split=thin(D, W.shape[1]))
    else:
        real = np.arange(T)[:, None] < lengths                  # (T, B) t < lengths[b]
        out[real] = X[real] @ W + b


def longest_first(lengths):
    """The permutation that sorts a batch by length, longest first (stable), or None when
    it is sorted already (or there are no lengths)."""
    if lengths is None or np.all(lengths[:-1] >= lengths[1:]):
        return None
    return np.argsort(-lengths, kind="stable")


class StackCache(NamedTuple):
    """What a stacked or bidirectional layer keeps (``layer.cache``): its input; each
    one-layer copy (``layer.layers[k][d]``) and each dropout keeps its own cache."""
    X: np.ndarray                # (T, B, D)  the input of the first layer (sorted, as run)
    lengths: np.ndarray | None   # (B,) lengths, longest first; None: every sequence T steps


class RecurrentLayer(Layer):
    """What every recurrent layer (``RNN``, ``GRU``, ``LSTM``) shares: the state's shape,
    the zero state, the argument checks, and stacks.

    ``state_names`` (a class attribute of each cell's parameters, which come after this
    class in the bases) names the state's arrays: ``("h",)``, or ``("h", "c")`` for the LSTM.

    **Stacks and both directions.**  With ``num_layers > 1`` or ``bidirectional=True`` a
    layer holds one-layer, one-direction copies of itself in ``layers`` (``layers[k][0]``
    reads layer k's input forward in time, ``layers[k][1]`` reads it backward), and runs
    them with the same one-layer code: no second copy of any derivative.  Layer k > 0 reads
    layer k-1's outputs, both directions concatenated (``H * num_directions`` features),
    through ``Dropout(dropout)`` (training only, as PyTorch's).  ``params`` are the copies'
    own arrays, prefixed ``l{k}.`` and ``l{k}_reverse.`` (``l0.W_xh``, ``l1_reverse.W_h``);
    state arrays are ``(num_layers * num_directions, B, H)``, row ``k * num_directions + d``
    for copy ``layers[k][d]``, as PyTorch's.  The reverse copy reads ``X[::-1]`` (with
    ``lengths``: each sequence from its own last real step, ``reverse_padded``) and its
    outputs are flipped back, so ``Hs[t]`` holds both directions' state at position t.
    """

    num_layers = 1
    num_directions = 1
    layers = None                 # the one-layer copies of a stacked or bidirectional layer
    dropouts = ()
    cache = None
    order = None                  # the last forward's sort of the batch (None: in order)

    def _build_stack(self, input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                     make_layer) -> bool:
        """Check the stack's arguments; for more than one layer or both directions, build
        the copies (``make_layer(input_size)``: a one-layer, one-direction layer) and return
        True; for one layer, one direction, return False (the layer holds its own params)."""
        num_layers = check_positive_int(num_layers, "num_layers")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be True or False, got {bidirectional!r}")
        dropout = check_probability(dropout, "dropout", allow_one=False)
        self.num_layers, self.num_directions = num_layers, 2 if bidirectional else 1
        self.dropout = dropout
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} acts between layers and num_layers=1: it has no "
                          f"effect (as in PyTorch)", UserWarning, stacklevel=3)
        if num_layers == 1 and not bidirectional:
            return False
        Layer.__init__(self)
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        H, nd = self.hidden_size, self.num_directions
        self.layers = [[make_layer(self.input_size if k == 0 else H * nd) for _ in range(nd)]
                       for k in range(num_layers)]
        self.dropouts = [Dropout(dropout, rng=rng) for _ in range(num_layers - 1)]
        self._collect_params()
        self.record_grad_norms = False
        return True

    def _collect_params(self) -> None:
        """A stack's ``params`` / ``grads``: its copies' own arrays under prefixed names."""
        self.params, self.grads = {}, {}
        for k, copies in enumerate(self.layers):
            for d, layer in enumerate(copies):
                prefix = f"l{k}{'_reverse' if d else ''}."
                for name, p in layer.params.items():
                    self.params[prefix + name] = p
                    self.grads[prefix + name] = layer.grads[name]

    def astype(self, dtype):
        if self.layers is None:
            return super().astype(dtype)
        for copies in self.layers:
            for layer in copies:
                layer.astype(dtype)
        self._collect_params()                              # the cast made new arrays
        return self

    def sublayers(self) -> list:
        return [] if self.layers is None else [l for copies in self.layers for l in copies] + \
            list(self.dropouts)

    @property
    def num_hiddens(self) -> int:
        """The book's name for ``hidden_size``."""
        return self.hidden_size

    def state_shape(self, batch_size: int) -> tuple:
        """The shape of each array of the state: ``(num_layers * num_directions, B, H)``."""
        return (self.num_layers * self.num_directions, batch_size, self.hidden_size)

    def begin_state(self, batch_size: int) -> tuple:
        """The zero state: one ``(L, B, H)`` array per name in ``state_names``."""
        check_positive_int(batch_size, "batch_size")
        return tuple(np.zeros(self.state_shape(batch_size), dtype=self.dtype)
                     for _ in self.state_names)

    def check_forward_args(self, X, state, lengths):
        """Check ``forward``'s arguments before anything changes; -> lengths as int64 or None."""
        check_array(X, "X", ndim=3, last_dim=self.input_size, dtype=self.dtype)
        T, B = X.shape[:2]
        if T == 0 or B == 0:
            raise ValueError(f"X must hold at least one step and one sequence (T, B, D) with "
                             f"T, B >= 1, got shape {X.shape}")
        if state is not None:
            check_state(state, "state", self.state_shape(B), len(self.state_names), self.dtype)
        return None if lengths is None else check_lengths(lengths, T, B)

    def check_backward_args(self, dstate=None, keep=None, dstate_name: str = "dstate") -> None:
        """Check ``backward``'s ``dstate`` and ``keep`` against the last forward (a model
        calls it before its other layers' backward, so nothing changes first)."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        T, B = self.cache.X.shape[:2]
        if dstate is not None:
            check_state(dstate, dstate_name, self.state_shape(B), len(self.state_names),
                        self.dtype)
        check_keep(keep, T, B)

    # ------------------------------------------------------------------ the contract
    def forward(self, X: np.ndarray, state: tuple | None = None, lengths=None):
        """``X (T, B, D)``, ``state`` (a tuple of ``(L, B, H)`` arrays, or None: zeros),
        ``lengths (B,)`` or None -> ``(Hs (T, B, H * num_directions), state)``.

        The computation is ``forward_steps`` (one layer, one direction: the equations) or
        ``forward_stack`` (layers and directions); this method checks the arguments and,
        for a padded batch that is not sorted longest first, sorts it and puts the results
        back in the caller's order (the steps work on the first ``n_t`` rows of the batch,
        the sequences still running at step t).
        """
        lengths = self.check_forward_args(X, state, lengths)
        if lengths is not None and lengths.min() == X.shape[0]:
            lengths = None                                    # no padding: the plain batch
        self.order = order = longest_first(lengths)           # None: already in order
        if order is not None:                                 # sort longest first
            X, lengths = X[:, order], lengths[order]
            state = None if state is None else tuple(a[:, order] for a in state)
        run = self.forward_steps if self.layers is None else self.forward_stack
        Hs, state = run(X, state, lengths)
        if order is not None:                                 # back to the caller's order
            inverse = np.argsort(order)
            Hs, state = Hs[:, inverse], tuple(a[:, inverse] for a in state)
        return Hs, state

    def backward(self, dHs: np.ndarray, dstate: tuple | None = None,
                 keep: np.ndarray | None = None, input_grad: bool = True):
        """``dHs (T, B, H * num_directions)`` (dL/dHs; padded positions are ignored),
        ``dstate`` (dL/d(final state), or None: zeros), ``keep`` ``(T,)`` or ``(T, B)``
        -> ``(dX (T, B, D), dstate0)``, dstate0 = dL/d(initial state); adds dL/dparams
        into ``grads``.  ``input_grad=False`` skips dX and returns None for it (one-hot
        inputs).  The derivatives are ``backward_steps`` / ``backward_stack``."""
        self.check_backward_args(dstate, keep)                # and that forward came first
        check_bool(input_grad, "input_grad")
        T, B = self.cache.X.shape[:2]
        keep = check_keep(keep, T, B)                         # a list: as an array
        check_array(dHs, "dHs", shape=(T, B, self.hidden_size * self.num_directions),
                    dtype=self.dtype)
        order = self.order
        if order is not None:                                 # into the order forward ran in
            dHs = dHs[:, order]
            dstate = None if dstate is None else tuple(a[:, order] for a in dstate)
            keep = keep[:, order] if np.ndim(keep) == 2 else keep
        run = self.backward_steps if self.layers is None else self.backward_stack
        dX, dstate0 = run(dHs, dstate, keep, input_grad)
        if order is not None:                                 # back to the caller's order
            inverse = np.argsort(order)
            dX = None if dX is None else dX[:, inverse]
            dstate0 = tuple(a[:, inverse] for a in dstate0)
        return dX, dstate0

    # ------------------------------------------------------------------ the stack
    def forward_stack(self, X: np.ndarray, state: tuple | None, lengths):
        """``forward`` of a stacked or bidirectional layer: each copy's own ``forward``.
        The reverse copy reads each sequence from its own last real step
        (``reverse_padded``), and its outputs are put back at their positions."""
        nd, finals = self.num_directions, [[] for _ in self.state_names]
        inputs = X                                             # (T, B, D), then (T, B, H*nd)
        for k, copies in enumerate(self.layers):
            if k > 0:
                inputs = self.dropouts[k - 1].forward(inputs)  # between layers, training only
            outputs = []
            for d, layer in enumerate(copies):
                row = k * nd + d                               # this copy's row of the state
                s0 = None if state is None else tuple(a[row:row + 1] for a in state)
                if d == 0:
                    Hs, sT = layer.forward(inputs, s0, lengths)
                else:                                          # reverse: read back to front
                    Hs, sT = layer.forward(reverse_padded(inputs, lengths), s0, lengths)
                    Hs = reverse_padded(Hs, lengths)           # flip back to positions
                outputs.append(Hs)
                for i, a in enumerate(sT):
                    finals[i].append(a[0])
            inputs = outputs[0] if nd == 1 else np.concatenate(outputs, axis=-1)
        self.cache = StackCache(X, lengths)
        return inputs, tuple(np.stack(f) for f in finals)      # (T, B, H*nd), ((L, B, H), ...)

    def backward_stack(self, dHs: np.ndarray, dstate: tuple | None, keep, input_grad: bool):
        """``backward`` of a stacked or bidirectional layer: each copy's own ``backward``,
        last layer first; a layer's input gradient is the sum of both directions'."""
        lengths = self.cache.lengths
        H, nd = self.hidden_size, self.num_directions
        dstate0 = [[None] * (self.num_layers * nd) for _ in self.state_names]
        dout = dHs                                             # dL/d(outputs of layer k)
        for k in reversed(range(self.num_layers)):
            dinputs = None
            for d, layer in enumerate(self.layers[k]):
                row = k * nd + d
                dH = dout[..., d * H:(d + 1) * H]              # this direction's outputs
                dsT = None if dstate is None else tuple(a[row:row + 1] for a in dstate)
                if d == 0:
                    dx, ds0 = layer.backward(np.ascontiguousarray(dH), dsT, keep,
                                             input_grad=input_grad or k > 0)
                else:                                          # reverse: in its own step order
                    dx, ds0 = layer.backward(np.ascontiguousarray(reverse_padded(dH, lengths)), dsT,
                                             reverse_keep(keep, lengths),
                                             input_grad=input_grad or k > 0)
                    dx = None if dx is None else reverse_padded(dx, lengths)  # to positions
                if dx is not None:
                    dinputs = dx if dinputs is None else dinputs + dx  # both directions read it
                for i, a in enumerate(ds0):
                    dstate0[i][row] = a[0]
            if k > 0:
                dout = self.dropouts[k - 1].backward(dinputs)  # dL/d(layer k-1's outputs)
        return dinputs, tuple(np.stack(rows) for rows in dstate0)


class _RNNParams(Layer):
    """The parameters shared by ``RNNCell`` and ``RNN``: W_xh (D, H), W_hh (H, H), b_h (H,)."""

    state_names = ("h",)                                      # the state: (h,)

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


# --------------------------------------------------------------------------- the cell
class StepCache(NamedTuple):
    """What ``RNNCell.step_backward`` needs from one ``step_forward``."""
    x: np.ndarray        # (B, D)  input X_t
    h_prev: np.ndarray   # (B, H)  H_{t-1}
    h: np.ndarray        # (B, H)  H_t


class RNNCell(_RNNParams):
    """One step of the book's RNN, for reading and stepping through in a debugger:

        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),   f = tanh (default) or relu

    ``step_forward(x, (h_prev,)) -> ((h,), cache)`` and
    ``step_backward((dh,), cache) -> (dx, (dh_prev,))``, with ``(B, H)`` state arrays.
    Loop them over time yourself (see ``examples/rnn_scratch.py``); ``RNN`` is the same
    computation vectorized over the sequence, and a test keeps the two equal.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 seed=None, rng=None, init: str = "normal", sigma: float = 0.01,
                 dtype=DEFAULT_DTYPE):
        super().__init__(input_size, hidden_size, nonlinearity, seed, rng, init, sigma, dtype)

    def step_forward(self, x: np.ndarray, state: tuple) -> tuple[tuple, StepCache]:
        """x ``(B, D)``, state ``(h_prev,)`` with h_prev ``(B, H)`` -> ``((h,), cache)``."""
        check_array(x, "x", ndim=2, last_dim=self.input_size, dtype=self.dtype)
        (h_prev,) = check_state(state, "state", (x.shape[0], self.hidden_size), dtype=self.dtype)
        p = self.params
        h = _activate(x @ p["W_xh"] + h_prev @ p["W_hh"] + p["b_h"], self.nonlinearity)
        return (h,), StepCache(x, h_prev, h)

    def step_backward(self, dstate: tuple, cache: StepCache) -> tuple[np.ndarray, tuple]:
        """dstate ``(dh,)``, dh = dL/dH_t ``(B, H)`` (from the output *and* from step t+1)
        -> ``(dx (B, D), (dh_prev,))``."""
        if not isinstance(cache, StepCache):
            raise TypeError(f"cache must be the StepCache that step_forward returned, got "
                            f"{type(cache).__name__}")
        (dh,) = check_state(dstate, "dstate", cache.h.shape, dtype=self.dtype)
        p, g = self.params, self.grads
        dz = dh * activation_grad(cache.h, self.nonlinearity)   # dL/dZ_t = dL/dH_t * f'(Z_t)  (B, H)
        g["W_xh"] += cache.x.T @ dz                               # dL/dW_xh += X_t^T dZ_t      (D, H)
        g["W_hh"] += cache.h_prev.T @ dz                          # dL/dW_hh += H_{t-1}^T dZ_t  (H, H)
        g["b_h"] += dz.sum(axis=0)                                # dL/db_h  += sum_b dZ_t      (H,)
        dx = dz @ p["W_xh"].T                                     # dL/dX_t     = dZ_t W_xh^T   (B, D)
        dh_prev = dz @ p["W_hh"].T                                # dL/dH_{t-1} = dZ_t W_hh^T   (B, H)
        return dx, (dh_prev,)


# --------------------------------------------------------------------------- the layer
class RNNCache(NamedTuple):
    """What ``RNN.backward`` needs from ``forward`` (``rnn.cache``)."""
    X: np.ndarray        # (T, B, D)    the inputs X_1..X_T
    H: np.ndarray        # (T+1, B, H)  H[0] = H_0 (the initial state), H[t] = H_t (0 past a length)
    lengths: np.ndarray | None  # (B,) longest first; None: every sequence runs T steps


class RNN(RecurrentLayer, _RNNParams):
    """The book's RNN over a whole sequence, vectorized (time-major):

        H_t = f(X_t W_xh + H_{t-1} W_hh + b_h),  t = 1..T,  H_0 = state[0][0] (zeros if None)

    forward: ``X (T, B, D)``, ``state`` ``(h0,)`` with h0 ``(1, B, H)``, or None
    -> ``(Hs (T, B, H), (h_T,))`` with h_T ``(1, B, H)``.
    backward: ``(dHs (T, B, H), dstate (dh_T,) or None, keep)`` -> ``(dX (T, B, D), (dh0,))``.

    Only the recurrence is a Python loop: input projections and weight gradients are one
    GEMM each (``backward(..., input_grad=False)`` skips dX's and returns None: one-hot
    inputs).  Each row of the batch has its own recurrence, forward and backward, so both
    loops are written for rows ``a:b`` (``recurrence`` in ``forward_steps``, ``backprop`` in
    ``backward_steps``) and ``minirnn._threads.for_rows`` runs them: all rows at once in
    the calling thread (the default: a debugger stops in them,
    ``examples/step_through_backprop.py``), or blocks of rows in threads after
    ``minirnn.set_num_threads(n > 1)``.  ``Hs`` is a read-only view of ``cache.H``,
    which backward reads: writing into it would change the gradient, so NumPy refuses
    (copy it to change it).

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
        self.record_grad_norms, self.dh_norms, self.cache = False, None, None
        if self._build_stack(input_size, hidden_size, num_layers, bidirectional, dropout, rng,
                             lambda D: RNN(D, hidden_size, nonlinearity=nonlinearity, rng=rng,
                                           init=init, sigma=sigma, dtype=dtype)):
            return                                             # a stack of one-layer RNNs
        _RNNParams.__init__(self, input_size, hidden_size, nonlinearity, None, rng, init,
                            sigma, dtype)

    def forward_steps(self, X: np.ndarray, state: tuple | None, lengths):
        """The one-layer forward (``forward`` checked the arguments and sorted a padded
        batch longest first): ``X (T, B, D)``, ``state`` ``(h0 (1, B, H),)`` or None,
        ``lengths (B,)`` sorted or None -> ``(Hs (T, B, H), (h_T (1, B, H),))``."""
        T, B, D = X.shape
        H = self.hidden_size
        p = self.params
        Hbuf = np.empty((T + 1, B, H), dtype=p["W_hh"].dtype)  # H[0] = H_0, H[t] = H_t
        Hbuf[0] = 0 if state is None else state[0][0]
        # all input projections at once: P_t = X_t W_xh + b_h  ->  (T, B, H), written into H[1:]
        input_projection(X, p["W_xh"], p["b_h"], Hbuf[1:], lengths)
        W_hh = p["W_hh"]
        sizes = batch_sizes(lengths, T, B)                     # n_t: sequences running at step t

        def recurrence(rows):                                  # rows a:b of the batch (each row's
            a, b = rows.start, rows.stop                       # recurrence is its own)
            for t in range(T):                                 # H_{t+1} = f(P_t + H_t W_hh)
                n = min(max(sizes[t], a), b)                   # rows [a:n] still run (longest first)
                h = Hbuf[t + 1, a:n]
                h += Hbuf[t, a:n] @ W_hh
                _activate(h, self.nonlinearity, out=h)
                if n < b:
                    Hbuf[t + 1, n:b] = 0                       # a finished sequence outputs 0
        for_rows(recurrence, B, T * H)                         # blocks of rows in threads, if set
        self.cache = RNNCache(X=X, H=Hbuf, lengths=lengths)
        Hs = Hbuf[1:]
        Hs.flags.writeable = False                             # backward reads H: keep it intact
        # each sequence's state at its own length (its state passes through the padding)
        h_T = Hbuf[T] if lengths is None else Hbuf[lengths, np.arange(B)]
        return Hs, (h_T[None].copy(),)                         # (T, B, H), ((1, B, H),)

    def backward_steps(self, dHs: np.ndarray, dstate: tuple | None, keep, input_grad: bool):
        """The one-layer backward (``backward`` checked the arguments): padded steps add
        nothing to any gradient (the products after the loop read only real steps'
        rows), and a finished sequence's dL/dH passes straight through to its last real
        step (its row of ``dh_next`` is left alone until then)."""
        X, Hbuf, lengths = self.cache
        T, B, D = X.shape
        H = self.hidden_size
        p, g = self.params, self.grads
        W_hh_T = np.ascontiguousarray(p["W_hh"].T)             # (H, H), a copy: BLAS is slower on a view
        dZ = np.empty((T, B, H), dtype=Hbuf.dtype)             # dL/dZ_t for every step
        dh_next = (np.zeros((B, H), Hbuf.dtype) if dstate is None
                   else dstate[0][0].astype(Hbuf.dtype))       # dL/dH_T from after the window (B, H)
        if self.record_grad_norms:
            self.dh_norms = np.empty(T)
        sizes = batch_sizes(lengths, T, B)                     # n_t: sequences running at step t

        def backprop(rows):                                    # rows a:b of the batch (each row's
            a, b = rows.start, rows.stop                       # gradient flows back on its own)
            for t in reversed(range(T)):
                n = min(max(sizes[t], a), b)                   # rows [a:n] still run (longest first)
                dz, dh = dZ[t, a:n], dh_next[a:n]
                # dL/dH_t = dHs[t] (from the output at t) + dh_next (from step t+1)  (n-a, H)
                np.add(dHs[t, a:n], dh, out=dz)
                if self.record_grad_norms:                     # (one block: every row)
                    self.dh_norms[t] = np.linalg.norm(dz)
                dz *= activation_grad(Hbuf[t + 1, a:n], self.nonlinearity)  # dL/dZ_t = dL/dH_t * f'(Z_t)
                np.matmul(dz, W_hh_T, out=dh)                  # dL/dH_{t-1} = dZ_t W_hh^T
                if keep is not None:
                    dh *= keep_factor(keep, t, n, a)           # truncation: 0 cuts, 1/p reweights
        for_rows(backprop, B, T * H, split=not self.record_grad_norms)   # row blocks in threads, if set
        del W_hh_T
        dZ2 = real_rows(dZ, lengths)                           # (N, H): every real step's dZ_t stacked
        # the weight gradients: sums over the N rows, matmul_at(A, B) = A^T B (in row blocks)
        g["W_xh"] += matmul_at(real_rows(X, lengths), dZ2)     # dL/dW_xh = sum_t X_t^T dZ_t      (D, H)
        g["W_hh"] += matmul_at(real_rows(Hbuf[:-1], lengths), dZ2)  # dL/dW_hh = sum_t H_{t-1}^T dZ_t (H, H)
        g["b_h"] += matmul_at(dZ2, np.ones(len(dZ2), dZ2.dtype))  # dL/db_h = sum_t sum_b dZ_t    (H,)
        dstate0 = (dh_next[None],)                             # dh_next is now dL/dH_0: ((1, B, H),)
        if not input_grad:                                     # e.g. one-hot inputs (no gradient)
            return None, dstate0
        dX = matmul_rows(dZ2, p["W_xh"].T, out=np.empty((len(dZ2), D), dZ2.dtype))  # dZ_t W_xh^T
        return from_real_rows(dX, lengths, (T, B, D)), dstate0  # dL/dX_t  (T, B, D)
