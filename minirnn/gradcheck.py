"""Numerical gradient checking: the proof that every hand-derived backward pass is right.

The recipe (float64, centered differences, a random upstream gradient):

1. run ``forward`` and draw a seeded standard-normal upstream gradient ``G`` for each
   output, so the scalar being differentiated is ``f = sum(out * G)`` (never ``sum(out)``
   or all-ones: they hide bugs such as a softmax gradient that is off by a constant);
2. analytic: ``backward(G)`` gives the input gradients and fills ``grads``;
3. numeric: for every entry x_i of every parameter and differentiable input,
   ``(f(x_i + eps) - f(x_i - eps)) / (2 eps)``, the entry restored afterwards;
4. report, per array, the max relative error ``|a - n| / max(1e-12, |a| + |n|)``.

States are tuples of arrays, so inputs and outputs may be nested tuples: a recurrent
layer runs ``forward(X, (h0, c0)) -> (Hs, (h_T, c_T))``.  Then step 1 draws a ``G`` for
every floating-point array inside the outputs and step 2 passes them nested the same way,
``backward(dHs, (dh_T, dc_T)) -> (dX, (dh0, dc0))``; steps 3 and 4 cover every array
inside a tuple input, reported as ``state[0]``, ``state[1]`` (deeper: ``state[1][0]``).

Only float64 arrays are checked (in float32 the round-off of ``f`` divided by ``2 eps``
swamps the derivative): ``check_layer`` and ``check_model`` cast first, ``check_gradients``
refuses anything else.  Passing means below 1e-6 (typically 1e-9 or less).  Run
``python -m minirnn.gradcheck`` (or ``minirnn gradcheck``) for the report on every layer
and on the language model.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

import numpy as np

from ._checks import check_positive_number

TOLERANCE = 1e-6


class RelError(float):
    """A max relative error (a float) that remembers its worst entry: ``index``, and the
    ``analytic`` and ``numeric`` values there."""

    def __new__(cls, value: float, index: tuple = (), analytic: float = 0.0, numeric: float = 0.0):
        err = super().__new__(cls, value)
        err.index, err.analytic, err.numeric = index, analytic, numeric
        return err

    def where(self) -> str:
        return f"at entry {self.index}: analytic {self.analytic:.6g}, numeric {self.numeric:.6g}"


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> RelError:
    """Max over entries of ``|a - n| / max(1e-12, |a| + |n|)`` (0 for empty arrays), with
    the entry where it occurs."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic gradient has shape {a.shape}, numeric {n.shape}")
    if a.size == 0:
        return RelError(0.0)
    err = np.abs(a - n) / np.maximum(1e-12, np.abs(a) + np.abs(n))
    i = np.unravel_index(np.argmax(err), err.shape)
    return RelError(err[i], tuple(int(k) for k in i), float(a[i]), float(n[i]))


def assert_gradients_ok(errors: dict, tol: float = TOLERANCE) -> None:
    """Raise ``AssertionError`` naming the worst array and entry unless every error of a
    check (``check_layer``, ``check_model``, ``check_gradients``) is below ``tol``."""
    if not errors:
        raise AssertionError("the check compared no arrays")
    worst = max(errors, key=errors.get)
    err = errors[worst]
    if not err < tol:
        where = f" {err.where()}" if isinstance(err, RelError) else ""
        raise AssertionError(f"gradient of {worst} is off (tolerance {tol:g}): max relative "
                             f"error {err:.2e}{where}")


def _require_float64(x, name: str) -> None:
    """Refuse anything but a float64 array: in float32 the round-off in ``f(x +- eps)``
    (about 1e-7 |f|) divided by ``2 eps`` (2e-6) swamps the derivative."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a float64 numpy array, got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(f"{name} has dtype {x.dtype}: gradient checks need float64 floating-point "
                        f"arrays (float32 round-off makes centered differences meaningless); "
                        f"cast it first, or use check_layer, which does")


def numerical_gradient(f: Callable[[], float | np.ndarray], x: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """Centered-difference gradient of ``f()`` with respect to the array ``x``.

    ``f`` returns a scalar, or an array whose *sum* is the scalar: then the difference
    ``f(x + eps) - f(x - eps)`` is taken entry by entry before summing, so entries that the
    perturbation does not touch cancel exactly instead of adding their round-off.
    ``x`` is perturbed in place, one entry at a time, so ``f`` must read ``x`` itself
    (for a layer: one of its parameter arrays, or an input it is called with).
    Every entry is restored, even if ``f`` raises.  ``x``: float64; ``eps``: positive.
    """
    _require_float64(x, "x")
    check_positive_number(eps, "eps")
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        try:
            x[idx] = old + eps
            f_plus = np.asarray(f(), dtype=np.float64)
            x[idx] = old - eps
            f_minus = np.asarray(f(), dtype=np.float64)
        finally:
            x[idx] = old
        grad[idx] = np.sum(f_plus - f_minus) / (2 * eps)     # (f(x+eps) - f(x-eps)) / 2eps
    return grad


# ------------------------------------------------- nested inputs and outputs (states)
# Every leaf of a nesting (an array, a float, None) gets a path, ``(1, 0)`` for
# ``inputs[1][0]``, reported as ``state[0]`` when input 1 is called ``state``.

def _flatten(tree, path: tuple = ()) -> list:
    """``[(path, leaf), ...]`` for every leaf of a nesting of tuples, left to right:
    ``_flatten((X, (h, c)))`` is ``[((0,), X), ((1, 0), h), ((1, 1), c)]``."""
    if isinstance(tree, tuple):
        return [item for k, sub in enumerate(tree) for item in _flatten(sub, path + (k,))]
    return [(path, tree)]


def _unflatten(leaves, like):
    """The inverse of ``_flatten``: ``leaves`` (one value per leaf of ``like``, in
    ``_flatten``'s order) nested like ``like``."""
    leaves = iter(leaves)

    def build(node):
        return tuple(build(sub) for sub in node) if isinstance(node, tuple) else next(leaves)

    return build(like)


def _entry_name(names: Sequence[str], path: tuple) -> str:
    """``(1,)`` -> ``"state"``, ``(1, 0)`` -> ``"state[0]"``, ``(1, 1, 0)`` -> ``"state[1][0]"``."""
    return names[path[0]] + "".join(f"[{k}]" for k in path[1:])


def _nesting_mismatch(grad, x, name: str) -> str | None:
    """Why the gradient ``grad`` is not nested like the input ``x`` (a message naming the
    entry), or None if it is: same tuple lengths at every level, no tuple where ``x`` has a leaf."""
    def what(value):
        return f"a tuple of {len(value)}" if isinstance(value, tuple) else \
            ("None" if value is None else "an array")

    if isinstance(x, tuple):
        if not isinstance(grad, tuple) or len(grad) != len(x):
            return f"backward returned {what(grad)} as the gradient of {name}, which is {what(x)}"
        for k, (g, xk) in enumerate(zip(grad, x)):
            problem = _nesting_mismatch(g, xk, f"{name}[{k}]")
            if problem:
                return problem
        return None
    if isinstance(grad, tuple):
        return f"backward returned {what(grad)} as the gradient of {name}, which is an array"
    return None


def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _is_float_array(x) -> bool:
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


def _holds_float_array(x) -> bool:
    """True if ``x`` is, or (a tuple) holds somewhere inside, a floating-point array."""
    return any(_is_float_array(a) for _, a in _flatten(x))


def _is_float_output(x) -> bool:
    """A floating-point array or scalar (a loss): it gets an upstream gradient."""
    return x is not None and np.issubdtype(np.asarray(x).dtype, np.floating)


def _pair_input_gradients(returned, inputs: tuple, wrt: Sequence[int],
                          names: Sequence[str]) -> list:
    """``[(name, input array, its gradient), ...]`` for every floating-point array of the
    inputs in ``wrt``, taken from what backward ``returned``; an AssertionError names any
    gradient that is missing or nested unlike its input."""
    if len(wrt) == 1 and _nesting_mismatch(returned, inputs[wrt[0]], names[wrt[0]]) is None:
        input_grads = (returned,)                              # one input's gradient, alone
    else:
        input_grads = _as_tuple(returned)
    if len(input_grads) < len(wrt):
        missing = ", ".join(names[i] for i in wrt[len(input_grads):])
        raise AssertionError(f"backward returned {len(input_grads)} input gradient(s) for "
                             f"{len(wrt)} differentiable inputs: none for {missing}")
    pairs = []
    for i, dx in zip(wrt, input_grads):
        problem = _nesting_mismatch(dx, inputs[i], names[i])
        if problem:
            raise AssertionError(problem)
        # same nesting, so the leaves line up: (path, input entry), (path, its gradient)
        for (path, x), (_, g) in zip(_flatten(inputs[i], (i,)), _flatten(dx, (i,))):
            if not _is_float_array(x):                         # int ids, None: no gradient
                continue
            name = _entry_name(names, path)
            if g is None:
                raise AssertionError(f"backward returned no gradient for differentiable input {name}")
            pairs.append((name, x, g))
    return pairs


def check_gradients(forward: Callable, backward: Callable, params: dict, grads: dict,
                    inputs: Sequence, wrt: Sequence[int] | None = None,
                    input_names: Sequence[str] | None = None, seed: int = 0,
                    eps: float = 1e-6) -> dict[str, float]:
    """Compare ``backward`` with centered differences; return ``{array name: max rel. error}``.

    forward(*inputs) -> an output or a tuple of outputs (a scalar loss counts); an input or
    an output may itself be a tuple, nested (a state ``(h, c)``: ``forward(X, (h0, c0)) ->
    (Hs, (h_T, c_T))``).  Every floating-point array or scalar among the outputs gets an
    upstream gradient (None outputs get None), passed with the same nesting:
    ``backward(dHs, (dh_T, dc_T))``.
    backward(*upstream) -> the input gradients, a tuple in the order of the differentiable
    inputs, each nested like its input (``(dX, (dh0, dc0))``); with one differentiable input,
    its gradient alone (``dX``; a model's ``dstate0``).  It adds parameter gradients into
    ``grads`` (zeroed here first).
    ``wrt`` picks the inputs to check (default: every input that is or holds a floating-point
    array, paired in order with what backward returns).  Inside a tuple input every
    floating-point array is checked, reported as ``state[0]``, ``state[1]``, ... (from
    ``input_names``); other entries (int ids, None) are skipped.
    Parameters and floating-point inputs must already be float64 (else a TypeError naming
    the array); ``eps`` must be a positive finite number (else a ValueError).
    """
    check_positive_number(eps, "eps")
    inputs = tuple(inputs)
    given = list(input_names or [])
    names = [given[i] if i < len(given) else f"input{i}" for i in range(len(inputs))]
    if wrt is None:
        wrt = [i for i, x in enumerate(inputs) if _holds_float_array(x)]
    for i in wrt:
        if not _holds_float_array(inputs[i]):
            raise TypeError(f"wrt includes {names[i]}, which holds no floating-point array to check")
    for name, p in params.items():
        _require_float64(p, name)
    for path, x in _flatten(inputs):
        if _is_float_array(x):
            _require_float64(x, _entry_name(names, path))

    rng = np.random.default_rng(seed)
    outs = _as_tuple(forward(*inputs))
    # G: one seeded N(0, 1) upstream gradient per floating-point output, None for the others
    G = [rng.standard_normal(np.shape(o)) if _is_float_output(o) else None
         for _, o in _flatten(outs)]
    if all(g is None for g in G):
        raise ValueError("forward returned no floating-point output to differentiate")
    upstream = _unflatten([float(g) if g is not None and np.ndim(g) == 0 else g for g in G], outs)

    def objective() -> np.ndarray:                             # f = sum_k sum(out_k * G_k)
        out_leaves = _flatten(_as_tuple(forward(*inputs)))
        return np.concatenate([np.ravel(np.asarray(o) * g)
                               for (_, o), g in zip(out_leaves, G) if g is not None])

    for g in grads.values():
        g.fill(0)
    forward(*inputs)
    returned = backward(*upstream)
    analytic = {name: grads[name].copy() for name in params}
    checked = _pair_input_gradients(returned, inputs, wrt, names)

    errors = {}
    for name, p in params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(objective, p, eps))
    for name, x, dx in checked:
        errors[name] = rel_error(dx, numerical_gradient(objective, x, eps))
    return errors


def check_layer(layer, *inputs, wrt: Sequence[int] | None = None,
                input_names: Sequence[str] | None = None, seed: int = 0,
                eps: float = 1e-6) -> dict[str, float]:
    """Gradient-check ``layer.forward(*inputs)`` / ``layer.backward(...)``, in float64.

    The layer is cast to float64 in place and floating inputs, including the arrays inside
    tuple inputs (a state ``(h0, c0)``), are cast to float64.
    Returns ``{name: max relative error}`` for every parameter and differentiable input.
    Works for any object with ``forward``, ``backward``, ``params``, ``grads``, ``astype``:
    a layer, a loss (its backward takes the scalar upstream gradient) or a whole model.
    """
    if hasattr(layer, "astype"):
        layer.astype(np.float64)
    cast = [x.astype(np.float64) if _is_float_array(x) else x for _, x in _flatten(inputs)]
    inputs = _unflatten(cast, inputs)                          # the arrays inside tuples too
    params = getattr(layer, "params", {})
    grads = getattr(layer, "grads", {})
    return check_gradients(layer.forward, layer.backward, params, grads, inputs, wrt=wrt,
                           input_names=input_names, seed=seed, eps=eps)


def check_model(model, X: np.ndarray, state: tuple | None = None, seed: int = 0,
                eps: float = 1e-6) -> dict[str, float]:
    """Gradient-check a whole language model through BPTT: every parameter and, if given,
    the initial ``state`` (a tuple ``(h,)``, ``(h, c)``: ``state[0]``, ``state[1]``), with
    random upstream gradients for both the logits and the final state."""
    inputs = (X,) if state is None else (X, state)
    names = ("X", "state")
    return check_layer(model, *inputs, input_names=names, seed=seed, eps=eps)


def randomize_params(layer, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Overwrite every parameter with N(0, scale^2) entries, in place: the book's
    N(0, 0.01^2) initialisation makes many gradients tiny, where round-off in the centered
    differences (about 1e-16 |f| / eps) would dominate, so checks use weights of order one."""
    for p in layer.params.values():
        p[...] = rng.normal(0.0, scale, size=p.shape)


# --------------------------------------------------------------------------- the report
def _report_checks():
    """Yield (label, errors) for every layer and model, on small random float64 data."""
    from .layers import (GRU, LSTM, AdditiveAttention, DotProductAttention, Dropout, Embedding,
                         GRUCell, Linear, LSTMCell, ReLU, RNN, RNNCell, Sequential, Tanh)
    from .losses import MSELoss, SoftmaxCrossEntropy
    from .models import MLP, RNNLM

    rng = np.random.default_rng(0)
    T, B, D, H, V = 8, 3, 4, 5, 6

    def layer(obj):
        randomize_params(obj.astype(np.float64), rng)
        return obj

    x = rng.standard_normal((T, B, D))
    ids = rng.integers(0, V, size=(T, B))
    yield "Linear", check_layer(layer(Linear(D, H, rng=rng)), x, input_names=["x"])
    yield "Embedding", check_layer(layer(Embedding(V, D, rng=rng)), ids, input_names=["ids"])
    yield "Tanh", check_layer(Tanh(), x, input_names=["x"])
    yield "ReLU", check_layer(ReLU(), x, input_names=["x"])
    yield "Sequential (Linear, Tanh, Linear)", check_layer(
        layer(Sequential(Linear(D, H, rng=rng), Tanh(), Linear(H, 2, rng=rng))), x, input_names=["x"])
    yield "MLP (book's 4 -> 10 -> 1)", check_layer(layer(MLP(4, 10, 1, rng=rng)),
                                                   rng.standard_normal((16, 4)), input_names=["x"])
    dropout = Dropout(0.5, rng=rng)
    dropout.fixed_mask = (rng.random(x.shape) >= 0.5) / 0.5          # the same mask every forward
    yield "Dropout (p 0.5, fixed mask)", check_layer(dropout, x, input_names=["x"])

    cell = layer(RNNCell(D, H, rng=rng))
    cache = {}

    def cell_forward(x_t, state):
        state, cache["step"] = cell.step_forward(x_t, state)
        return (state,)                                        # one output, itself a tuple

    yield "RNNCell (one step)", check_gradients(
        cell_forward, lambda dstate: cell.step_backward(dstate, cache["step"]), cell.params,
        cell.grads, [x[0], (rng.standard_normal((B, H)),)], input_names=["x", "state"])
    state0 = (rng.standard_normal((1, B, H)),)
    yield f"RNN tanh ({T} steps)", check_layer(layer(RNN(D, H, rng=rng)), x, state0,
                                               input_names=["X", "state"])
    yield f"RNN relu ({T} steps)", check_layer(layer(RNN(D, H, nonlinearity="relu", rng=rng)), x,
                                               state0, input_names=["X", "state"])
    for label, gated_cell in (("GRUCell (the book's, one step)", GRUCell(D, H, rng=rng)),
                              ("GRUCell (reset_after, one step)", GRUCell(D, H, True, rng=rng)),
                              ("LSTMCell (one step)", LSTMCell(D, H, rng=rng))):
        gated_cell = layer(gated_cell)
        states = tuple(rng.standard_normal((B, H)) for _ in gated_cell.state_names)

        def gated_forward(x_t, state, c=gated_cell):
            state, cache["step"] = c.step_forward(x_t, state)
            return (state,)

        yield label, check_gradients(
            gated_forward, lambda dstate, c=gated_cell: c.step_backward(dstate, cache["step"]),
            gated_cell.params, gated_cell.grads, [x[0], states], input_names=["x", "state"],
            eps=1e-5)
    for label, gated in ((f"GRU the book's ({T} steps)", GRU(D, H, rng=rng)),
                         (f"GRU reset_after ({T} steps)", GRU(D, H, reset_after=True, rng=rng)),
                         (f"LSTM ({T} steps)", LSTM(D, H, rng=rng))):
        states = tuple(rng.standard_normal((1, B, H)) for _ in gated.state_names)
        yield label, check_layer(layer(gated), x, states, input_names=["X", "state"], eps=1e-5)
    deep = layer(LSTM(D, 2, num_layers=2, bidirectional=True, dropout=0.5, rng=rng))
    deep.dropouts[0].fixed_mask = (rng.random((4, B, 4)) >= 0.5) / 0.5
    states = tuple(rng.standard_normal((4, B, 2)) for _ in deep.state_names)
    yield "LSTM 2 layers, bidir., dropout (4 steps)", check_layer(
        deep, x[:4], states, input_names=["X", "state"], eps=1e-5)
    logits = rng.standard_normal((B, T, V))
    targets = rng.integers(0, V, size=(B, T))
    mask = (rng.random((B, T)) < 0.7).astype(np.float64)
    yield "SoftmaxCrossEntropy", check_layer(SoftmaxCrossEntropy(), logits, targets,
                                             input_names=["logits", "targets"])
    yield "SoftmaxCrossEntropy (mask)", check_layer(SoftmaxCrossEntropy(), logits, targets, mask,
                                                    wrt=[0], input_names=["logits", "targets", "mask"])
    pred = rng.standard_normal((16, 1))
    yield "MSELoss", check_layer(MSELoss(), pred, rng.standard_normal((16, 1)), wrt=[0],
                                 input_names=["pred", "target"])
    X = rng.integers(0, V, size=(B, T))
    state = (rng.standard_normal((1, B, H)),)
    yield f"RNNLM one-hot, BPTT {T} steps", check_model(layer(RNNLM(V, H)), X, state)
    yield f"RNNLM embedding, BPTT {T} steps", check_model(layer(RNNLM(V, H, embed_dim=D)), X, state)
    yield f"RNNLM tied weights, BPTT {T} steps", check_model(
        layer(RNNLM(V, H, embed_dim=H, tie_weights=True)), X, state)
    lstm_lm = layer(RNNLM(V, H, cell="lstm", embed_dim=D))
    yield f"RNNLM LSTM, BPTT {T} steps", check_model(
        lstm_lm, X, tuple(rng.standard_normal((1, B, H)) for _ in range(2)), eps=1e-5)
    lengths = np.array([T, 3, 1])                               # a padded batch (B = 3)
    padded = layer(GRU(D, H, bidirectional=True, rng=rng))
    states = (rng.standard_normal((2, B, H)),)
    yield f"GRU bidir., lengths {','.join(map(str, lengths))} (padded)", check_layer(
        padded, x, states, lengths, input_names=["X", "state"], eps=1e-5)
    q, k, v = (rng.standard_normal((B, n, D)) for n in (2, T, T))   # queries, keys, values
    names = ["queries", "keys", "values"]
    yield f"AdditiveAttention, valid_lens {','.join(map(str, lengths))}", check_layer(
        layer(AdditiveAttention(D, D, H, rng=rng)), q, k, v, lengths, input_names=names, eps=1e-5)
    yield f"DotProductAttention, valid_lens {','.join(map(str, lengths))}", check_layer(
        DotProductAttention(), q, k, v, lengths, input_names=names)


def report(file=None) -> bool:
    """Print one row per checked array; return True if every error is below ``TOLERANCE``."""
    file = sys.stdout if file is None else file
    ok = True
    print(f"{'layer':<34} {'array':<18} {'max rel. error':>14}  result", file=file)
    print("-" * 76, file=file)
    for label, errors in _report_checks():
        for name, err in errors.items():
            passed = err < TOLERANCE
            ok &= passed
            print(f"{label:<34} {name:<18} {err:>14.2e}  "
                  f"{'ok' if passed else 'FAIL ' + getattr(err, 'where', str)()}", file=file)
            label = ""
    print("-" * 76, file=file)
    print(f"float64, centered differences, eps 1e-6 (1e-5 for the gated cells and the "
          f"additive attention); pass: every error < {TOLERANCE:g}: "
          f"{'all passed' if ok else 'FAILED'}", file=file)
    return ok


def main(argv=None) -> int:
    """``python -m minirnn.gradcheck`` (or ``minirnn gradcheck``): print the report; exit 0
    if every check passed, 1 if one failed, 2 (one line) for an argument it does not take."""
    parser = argparse.ArgumentParser(prog="python -m minirnn.gradcheck", description=(
        "Gradient-check every layer and the language model (float64, centered differences); "
        "exit 1 if any max relative error is 1e-6 or more."))
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"{parser.prog}: error: unrecognized arguments: {' '.join(unknown)} (it takes "
              f"none)", file=sys.stderr)
        return 2
    return 0 if report() else 1


if __name__ == "__main__":
    sys.exit(main())
