"""What every recurrent layer shares around its time loop: the state's checks, padded
batches (sorted longest first, read in reverse), truncation factors, stacks.

Dimension letters: B batch, T steps (``num_steps``), D input features, H hidden units,
L = num_layers * num_directions.  The layers themselves (``RNN`` in ``recurrent.py``,
``GRU`` in ``gated.py``, ``LSTM`` in ``lstm.py``) each write their forward and backward
time loops, which run their cell's one step.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .._checks import (check_array, check_bool, check_lengths, check_positive_int, check_probability)
from .base import Layer
from .dense import Dropout

__all__ = ["RecurrentLayer", "StackCache", "check_state", "check_keep", "reverse_keep",
           "reverse_padded", "batch_sizes", "real_rows", "from_real_rows", "input_projection",
           "longest_first"]


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


def real_rows(lengths, *arrays: np.ndarray) -> list:
    """Every real step's rows of each array ``(T, B, ...)`` stacked, step by step:
    ``(N, ...)``, N = sum(lengths) (a copy); without lengths all ``T * B`` rows (a reshape,
    no copy).  The matrix products after the time loop run on these, so padding costs
    them nothing."""
    rows = []
    for A in arrays:
        if lengths is None:
            rows.append(A.reshape(A.shape[0] * A.shape[1], *A.shape[2:]))
        else:
            rows.append(A[np.arange(A.shape[0])[:, None] < lengths])  # (T, B) mask: t < lengths[b]
    return rows


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
    """``out[t] = X_t W + b`` for every step at once, into ``out (T, B, K)``: one GEMM
    ``(T*B, D) @ (D, K)`` before the time loop; with lengths, for the real steps only
    (padded rows are left as they are)."""
    if lengths is None:
        T, B, D = X.shape
        np.matmul(X.reshape(T * B, D), W, out=out.reshape(T * B, W.shape[1]))  # X_t W, all t
        out += b
    else:
        real = np.arange(X.shape[0])[:, None] < lengths          # (T, B) t < lengths[b]
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
    """What every recurrent layer (``RNN``, ``GRU``, ``LSTM``) shares around its time loops:
    the state's shape, the zero state, the argument checks, the sort of a padded batch,
    and stacks.  Each layer's ``forward`` and ``backward`` are its own time loops, which
    begin with ``begin_forward`` / ``begin_backward`` and end with ``end_forward`` /
    ``end_backward``.

    ``state_names`` (a class attribute of each cell) names the state's arrays: ``("h",)``,
    or ``("h", "c")`` for the LSTM.

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
    record_grad_norms = False     # True: backward stores ||dL/dH_t|| in dh_norms (T,)
    dh_norms = None

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

    # ------------------------------------------------------------------ around the loops
    def begin_forward(self, X: np.ndarray, state: tuple | None, lengths):
        """Check ``forward``'s arguments; -> ``(X, state, lengths)`` as the time loop runs
        them: ``state`` a tuple of ``(L, B, H)`` arrays (zeros for None), and a padded batch
        sorted longest first (``lengths`` None when nothing is padded), so that the
        sequences still running at step t are the first ``n_t`` rows."""
        lengths = self.check_forward_args(X, state, lengths)
        if lengths is not None and lengths.min() == X.shape[0]:
            lengths = None                                    # no padding: the plain batch
        if state is None:                                     # zeros, one (L, B, H) array a name
            L, B = self.num_layers * self.num_directions, X.shape[1]
            state = tuple(np.zeros((len(self.state_names), L, B, self.hidden_size), X.dtype))
        self.order = order = None if lengths is None else longest_first(lengths)  # None: in order
        if order is not None:                                 # sort longest first
            X, lengths = X[:, order], lengths[order]
            state = tuple(a[:, order] for a in state)
        return X, state, lengths

    def end_forward(self, Hs: np.ndarray, state: tuple):
        """``(Hs, state)`` back in the caller's order of the batch (``begin_forward``)."""
        if self.order is not None:
            inverse = np.argsort(self.order)
            Hs, state = Hs[:, inverse], tuple(a[:, inverse] for a in state)
        return Hs, state

    def begin_backward(self, dHs: np.ndarray, dstate: tuple | None, keep, input_grad: bool):
        """Check ``backward``'s arguments against the last forward; -> ``(dHs, dstate,
        keep)`` in the order the forward ran: ``dstate`` new ``(L, B, H)`` arrays (zeros for
        None) that the time loop updates in place, ``keep`` None or ``(T, B, 1)``."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        X = self.cache.X
        T, B, L = X.shape[0], X.shape[1], self.num_layers * self.num_directions
        if dstate is not None:
            check_state(dstate, "dstate", (L, B, self.hidden_size), len(self.state_names), X.dtype)
        keep = check_keep(keep, T, B)
        check_bool(input_grad, "input_grad")
        check_array(dHs, "dHs", shape=(T, B, self.hidden_size * self.num_directions),
                    dtype=X.dtype)
        zeros = np.zeros((len(self.state_names), L, B, self.hidden_size), X.dtype)
        if dstate is not None:                                # copies: the loop updates them
            for i, a in enumerate(dstate):
                zeros[i] = a
        dstate = tuple(zeros)
        if keep is not None:
            keep = np.broadcast_to(keep.reshape(T, -1, 1), (T, B, 1))  # a factor per step and row
        if self.order is not None:                            # into the order forward ran in
            dHs, keep = dHs[:, self.order], None if keep is None else keep[:, self.order]
            dstate = tuple(a[:, self.order] for a in dstate)
        return dHs, dstate, keep

    def end_backward(self, dX, dstate0: tuple):
        """``(dX, dstate0)`` back in the caller's order of the batch."""
        if self.order is not None:
            inverse = np.argsort(self.order)
            dX = None if dX is None else dX[:, inverse]
            dstate0 = tuple(a[:, inverse] for a in dstate0)
        return dX, dstate0

    # ------------------------------------------------------------------ the stack
    def forward_stack(self, X: np.ndarray, state: tuple, lengths):
        """``forward`` of a stacked or bidirectional layer (after ``begin_forward``): each
        copy's own ``forward``.  The reverse copy reads each sequence from its own last
        real step (``reverse_padded``), and its outputs are put back at their positions."""
        nd, finals = self.num_directions, [[] for _ in self.state_names]
        inputs = X                                             # (T, B, D), then (T, B, H*nd)
        for k, copies in enumerate(self.layers):
            if k > 0:
                inputs = self.dropouts[k - 1].forward(inputs)  # between layers, training only
            outputs = []
            for d, layer in enumerate(copies):
                row = k * nd + d                               # this copy's row of the state
                s0 = tuple(a[row:row + 1] for a in state)
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
        return self.end_forward(inputs, tuple(np.stack(f) for f in finals))

    def backward_stack(self, dHs: np.ndarray, dstate: tuple, keep, input_grad: bool):
        """``backward`` of a stacked or bidirectional layer (after ``begin_backward``): each
        copy's own ``backward``, last layer first; a layer's input gradient is the sum of
        both directions'."""
        lengths = self.cache.lengths
        keep = None if keep is None else keep[:, :, 0]         # (T, B): each copy checks it again
        H, nd = self.hidden_size, self.num_directions
        dstate0 = [[None] * (self.num_layers * nd) for _ in self.state_names]
        dout = dHs                                             # dL/d(outputs of layer k)
        for k in reversed(range(self.num_layers)):
            dinputs = None
            for d, layer in enumerate(self.layers[k]):
                row = k * nd + d
                dH = dout[..., d * H:(d + 1) * H]              # this direction's outputs
                dsT = tuple(a[row:row + 1] for a in dstate)
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
        return self.end_backward(dinputs, tuple(np.stack(rows) for rows in dstate0))


