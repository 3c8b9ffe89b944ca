"""minirnn.layers.recurrent: RNNCell and RNN, gradient-checked in float64, equal to the book's
formula and to the cell looped by hand; bad input named before anything changes.  The padded
path of every RecurrentLayer (RNN, GRU, LSTM; stacks, both directions): bad ``lengths``,
``dHs``, ``dstate`` and ``keep`` named before any cache, parameter or gradient changes, and
whatever the padding holds (NaN, inf) never reaches an output or a gradient."""
from hypothesis import given, strategies as st
import numpy as np
import pytest

from minirnn.gradcheck import assert_gradients_ok, check_gradients, check_layer
from minirnn.layers import GRU, LSTM, Linear, RNN, RNNCell

from helpers import assert_unchanged, prepared, snapshot


sizes = st.integers(1, 5)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@given(B=sizes, D=sizes, H=sizes, seed=st.integers(0, 2**16))
def test_rnn_cell_gradients(nonlinearity, B, D, H, seed):
    rng = np.random.default_rng(seed)
    cell = prepared(RNNCell(D, H, nonlinearity=nonlinearity), seed)
    cache = {}

    def forward(x, state):
        state, cache["c"] = cell.step_forward(x, state)
        return (state,)                                        # one output, itself a tuple

    errors = check_gradients(forward, lambda dstate: cell.step_backward(dstate, cache["c"]),
                             cell.params, cell.grads,
                             [rng.standard_normal((B, D)), (rng.standard_normal((B, H)),)],
                             input_names=["x", "state"], seed=seed)
    assert set(errors) == {"W_xh", "W_hh", "b_h", "x", "state[0]"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@given(T=sizes, B=sizes, D=sizes, H=sizes, with_h0=st.booleans(), seed=st.integers(0, 2**16))
def test_rnn_gradients(nonlinearity, T, B, D, H, with_h0, seed):
    rng = np.random.default_rng(seed)
    rnn = prepared(RNN(D, H, nonlinearity=nonlinearity), seed)
    inputs = [rng.standard_normal((T, B, D))] + ([(rng.standard_normal((1, B, H)),)] if with_h0 else [])
    errors = check_layer(rnn, *inputs, input_names=["X", "state"], seed=seed)
    assert set(errors) == {"W_xh", "W_hh", "b_h", "X"} | ({"state[0]"} if with_h0 else set())
    assert_gradients_ok(errors)


@pytest.mark.parametrize("T,B,D,H", [(1, 1, 1, 1), (1, 4, 3, 2), (6, 1, 2, 3), (5, 2, 3, 1)])
def test_rnn_gradients_edge_shapes(T, B, D, H):
    """batch 1, one time step, hidden size 1."""
    rng = np.random.default_rng(T * 1000 + B * 100 + D * 10 + H)
    errors = check_layer(prepared(RNN(D, H), 7), rng.standard_normal((T, B, D)),
                         (rng.standard_normal((1, B, H)),), seed=3)
    assert_gradients_ok(errors)


# ----------------------------------------------------------------- the cell and the layer agree
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_equals_cell_looped_step_by_step(nonlinearity):
    T, B, D, H = 7, 3, 4, 5
    rng = np.random.default_rng(1)
    rnn = prepared(RNN(D, H, nonlinearity=nonlinearity), 2)
    cell = RNNCell(D, H, nonlinearity=nonlinearity).astype(np.float64)
    for k in cell.params:
        cell.params[k][...] = rnn.params[k]
    X, h0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H))
    dHs, dh_T = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))

    Hs, (h_T,) = rnn.forward(X, (h0[None],))                  # the layer: (L=1, B, H) states
    dX, (dh0,) = rnn.backward(dHs, (dh_T[None],))

    state, caches, hs = (h0,), [], []                          # the cell: (B, H) states
    for t in range(T):
        state, c = cell.step_forward(X[t], state)
        caches.append(c)
        hs.append(state[0])
    dh, dX_cell = dh_T, np.zeros_like(X)
    for t in reversed(range(T)):
        dX_cell[t], (dh,) = cell.step_backward((dHs[t] + dh,), caches[t])

    np.testing.assert_allclose(Hs, np.stack(hs), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_T[0], hs[-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, dX_cell, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh0[0], dh, rtol=1e-10, atol=1e-12)
    for k in rnn.grads:
        np.testing.assert_allclose(rnn.grads[k], cell.grads[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_rnn_forward_matches_the_book_formula():
    """H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h), written out with no buffers."""
    rng = np.random.default_rng(5)
    rnn = prepared(RNN(3, 4), 6)
    X = rng.standard_normal((5, 2, 3))
    Hs, (h_T,) = rnn.forward(X)
    p, h = rnn.params, np.zeros((2, 4))
    for t in range(5):
        h = np.tanh(X[t] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
        np.testing.assert_allclose(Hs[t], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(h_T[0], Hs[-1])


def test_rnn_input_shapes_are_checked():
    rnn = RNN(3, 4)
    with pytest.raises(ValueError, match=r"X must have 3 dimensions, got shape \(5, 3\)"):
        rnn.forward(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"X must have last dimension 3, got shape \(5, 2, 2\)"):
        rnn.forward(np.zeros((5, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"state\[0\] must have shape \(1, 2, 4\), got \(1, 3, 4\)"):
        rnn.forward(np.zeros((5, 2, 3), np.float32), (np.zeros((1, 3, 4), np.float32),))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\].*got 6"):
        rnn.forward(np.zeros((5, 2, 3), np.float32), lengths=np.array([6, 4]))
    with pytest.raises(ValueError, match=r"X must hold at least one step and one sequence"):
        rnn.forward(np.zeros((5, 0, 3), np.float32))
    with pytest.raises(TypeError, match="X must be a floating-point array, got dtype int64"):
        rnn.forward(np.zeros((5, 2, 3), dtype=np.int64))
    with pytest.raises(RuntimeError, match="before forward"):
        RNN(3, 4).backward(np.zeros((5, 2, 4)))
    rnn.forward(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dHs must have shape \(5, 2, 4\), got \(4, 2, 4\)"):
        rnn.backward(np.zeros((4, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"keep must have shape \(5,\) or \(5, 2\), got \(3,\)"):
        rnn.backward(np.zeros((5, 2, 4), np.float32), keep=np.ones(3))
    with pytest.raises(ValueError, match=r"dstate\[0\] must have shape \(1, 2, 4\), got \(2, 4\)"):
        rnn.backward(np.zeros((5, 2, 4), np.float32), (np.zeros((2, 4), np.float32),))


def test_cell_and_linear_shapes_are_checked():
    cell = RNNCell(3, 4)
    with pytest.raises(ValueError, match=r"state\[0\] must have shape \(2, 4\), got \(2, 5\)"):
        cell.step_forward(np.zeros((2, 3), np.float32), (np.zeros((2, 5), np.float32),))
    (h,), cache = cell.step_forward(np.zeros((2, 3), np.float32), (np.zeros((2, 4), np.float32),))
    with pytest.raises(ValueError, match=r"dstate\[0\] must have shape \(2, 4\), got \(3, 4\)"):
        cell.step_backward((np.zeros((3, 4), np.float32),), cache)
    with pytest.raises(TypeError, match="cache must be the StepCache that step_forward returned, got NoneType"):
        cell.step_backward((h,), None)
    assert not any(g.any() for g in cell.grads.values())
    with pytest.raises(ValueError, match=r"x must have last dimension 3, got shape \(2, 4\)"):
        Linear(3, 2).forward(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="x must be a numpy array, got list"):
        Linear(3, 2).forward([[1.0, 2.0, 3.0]])


def test_the_cell_names_a_wrong_dh_and_a_missing_cache():
    """(Already so before the fault review: kept as a test.)"""
    cell = RNNCell(3, 4)
    (h,), cache = cell.step_forward(np.zeros((2, 3), np.float32), (np.zeros((2, 4), np.float32),))
    with pytest.raises(ValueError, match=r"dstate\[0\] must have shape \(2, 4\), got \(2, 3\)"):
        cell.step_backward((np.zeros((2, 3), np.float32),), cache)
    with pytest.raises(TypeError, match="cache must be the StepCache that step_forward returned, "
                                        "got NoneType"):
        cell.step_backward((h,), None)
    assert not any(g.any() for g in cell.grads.values())


# ----------------------------------------------------------------- padded batches, every cell
LAYERS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
STACKS = [(1, False), (2, False), (1, True), (2, True)]


def caches(layer):
    """Every cache inside a recurrent layer (a stack's copies and dropouts too), by identity."""
    found = [layer.cache, layer.order]
    for sub in layer.sublayers():
        found.append(getattr(sub, "cache", None))
    return found


BAD_LENGTHS = [
    (np.array([0, 2]), ValueError, r"lengths must be in \[1, 3\].*got 0"),
    (np.array([-5, 2]), ValueError, r"lengths must be in \[1, 3\].*got -5"),
    (np.array([2, 4]), ValueError, r"lengths must be in \[1, 3\].*got 4"),
    (np.array([2**63, 2], np.uint64), ValueError, r"lengths must be in \[1, 3\].*got 9223372036854775808"),
    (np.array([3.0, 2.0]), TypeError, r"lengths must hold integers.*float64"),
    (np.array([True, True]), TypeError, r"lengths must hold integers.*bool"),
    (np.array([3, 2], dtype=object), TypeError, r"lengths must hold integers.*object"),
    ([3, 2], TypeError, r"lengths must be a numpy array.*\(2,\).*list"),
    ((3, 2), TypeError, r"lengths must be a numpy array.*\(2,\).*tuple"),
    (np.int64(2), TypeError, r"lengths must be a numpy array.*\(2,\).*int64"),
    (np.array(2), ValueError, r"lengths must have shape \(2,\).*got \(\)"),
    (np.array([[3], [2]]), ValueError, r"lengths must have shape \(2,\).*got \(2, 1\)"),
    (np.array([3, 2, 1]), ValueError, r"lengths must have shape \(2,\).*got \(3,\)"),
    (np.zeros(0, np.int64), ValueError, r"lengths must have shape \(2,\).*got \(0,\)"),
]


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional", STACKS)
@pytest.mark.parametrize("lengths, error, message", BAD_LENGTHS)
def test_layer_forward_names_bad_lengths_and_changes_nothing(kind, num_layers, bidirectional,
                                                             lengths, error, message):
    layer = LAYERS[kind](2, 3, num_layers=num_layers, bidirectional=bidirectional, seed=0)
    X = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    layer.forward(X, None, np.array([1, 3]))                  # a padded forward first
    before, cached = snapshot(layer), caches(layer)
    with pytest.raises(error, match=message):
        layer.forward(X, None, lengths)
    assert all(a is b for a, b in zip(caches(layer), cached)), "a cache changed"
    assert_unchanged(layer, before, "forward")


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional", STACKS)
def test_layer_backward_after_a_padded_forward_names_wrong_shapes_and_changes_nothing(
        kind, num_layers, bidirectional):
    layer = LAYERS[kind](2, 3, num_layers=num_layers, bidirectional=bidirectional, seed=0)
    L, nd, S = num_layers * (2 if bidirectional else 1), 2 if bidirectional else 1, len(layer.state_names)
    X = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    layer.forward(X, None, np.array([1, 3]))
    good_dHs = np.ones((3, 2, 3 * nd), np.float32)
    before, cached = snapshot(layer), caches(layer)
    bad = [
        (dict(dHs=np.ones((2, 2, 3 * nd), np.float32)), ValueError, rf"dHs must have shape \(3, 2, {3 * nd}\)"),
        (dict(dHs=np.ones((3, 1, 3 * nd), np.float32)), ValueError, r"dHs must have shape"),
        (dict(dHs=np.ones((3, 2, 3 * nd + 1), np.float32)), ValueError, r"dHs must have shape"),
        (dict(dHs=good_dHs.astype(np.float64)), TypeError, r"dHs has dtype float64"),
        (dict(dHs=good_dHs.tolist()), TypeError, r"dHs must be a numpy array"),
        (dict(dHs=good_dHs, dstate=tuple(np.ones((L, 3, 3), np.float32) for _ in range(S))),
         ValueError, rf"dstate\[0\] must have shape \({L}, 2, 3\)"),
        (dict(dHs=good_dHs, dstate=np.ones((L, 2, 3), np.float32)), TypeError, r"dstate must be a tuple"),
        (dict(dHs=good_dHs, keep=np.ones(4)), ValueError, r"keep must have shape \(3,\) or \(3, 2\)"),
        (dict(dHs=good_dHs, input_grad="no"), TypeError, r"input_grad must be True or False, got 'no'"),
    ]
    for kwargs, error, message in bad:
        kwargs = dict(kwargs)
        dHs = kwargs.pop("dHs")
        with pytest.raises(error, match=message):
            layer.backward(dHs, **kwargs)
        assert all(a is b for a, b in zip(caches(layer), cached)), f"a cache changed: {kwargs}"
        assert_unchanged(layer, before, f"backward {sorted(kwargs)}")


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional", STACKS)
def test_a_padded_forward_of_finite_input_is_finite_whatever_the_padding_holds(
        kind, num_layers, bidirectional):
    """NaN and inf in the padded positions of X (forward) and dHs (backward) must not reach
    outputs, states or gradients: padding is absent, not multiplied by zero."""
    layer = LAYERS[kind](2, 3, num_layers=num_layers, bidirectional=bidirectional,
                         dropout=0.5 if num_layers > 1 else 0.0, seed=1)
    rng = np.random.default_rng(1)
    T, B = 5, 4
    lengths = np.array([1, 5, 2, 1])
    real = np.arange(T)[:, None] < lengths                    # (T, B)
    X = rng.standard_normal((T, B, 2)).astype(np.float32)
    X[~real] = np.nan
    X[~real & (np.arange(B) % 2 == 0)] = np.inf
    Hs, state = layer.forward(X, None, lengths)
    assert np.isfinite(Hs).all() and all(np.isfinite(a).all() for a in state)
    assert np.all(Hs[~real] == 0)
    dHs = rng.standard_normal(Hs.shape).astype(np.float32)
    dHs[~real] = np.nan
    dX, dstate0 = layer.backward(dHs)
    assert np.isfinite(dX).all() and all(np.isfinite(a).all() for a in dstate0)
    assert all(np.isfinite(g).all() for g in layer.grads.values())
    assert np.all(dX[~real] == 0)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_keep_after_an_unsorted_padded_forward_is_checked_and_may_be_a_list(kind, bidirectional):
    """``keep`` (T,) or (T, B) truncation factors: a nested list works as its array does (the
    batch was sorted: it is reordered with it); strings, objects, NaN and inf are named."""
    layer = LAYERS[kind](2, 3, bidirectional=bidirectional, seed=0)
    X = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    dHs = np.random.default_rng(1).standard_normal((3, 2, 3 * layer.num_directions)).astype(np.float32)
    keep = np.array([[1.0, 0.5], [0.0, 1.0], [1.0, 1.0]])
    results = []
    for k in (keep, keep.tolist()):
        layer.zero_grad()
        layer.forward(X, None, np.array([1, 3]))              # unsorted: the layer sorts it
        dX, _ = layer.backward(dHs, None, k)
        results.append((dX, {n: g.copy() for n, g in layer.grads.items()}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for n in results[0][1]:
        np.testing.assert_array_equal(results[0][1][n], results[1][1][n], err_msg=n)
    before = snapshot(layer)
    for k, error, message in [
            (np.array(["a", "b", "c"]), TypeError, r"keep must hold real numbers.*<U1"),
            (np.ones((3, 2), dtype=object), TypeError, r"keep must hold real numbers.*object"),
            (np.array([1.0, np.nan, 1.0]), ValueError, r"keep must hold finite factors.*nan"),
            (np.array([[1.0, np.inf]] * 3), ValueError, r"keep must hold finite factors.*inf")]:
        with pytest.raises(error, match=message):
            layer.backward(dHs, None, k)
        assert_unchanged(layer, before, f"keep {k!r}")
