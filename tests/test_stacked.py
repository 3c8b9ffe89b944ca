"""minirnn.layers.timeloop: stacked and bidirectional layers (RecurrentLayer) run with the one-layer
code, gradient-checked in float64 with dropout on (fixed masks), equal to running the
one-layer copies by hand, and the reverse direction's truncation cutting the same
boundaries as the forward one's."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minirnn.gradcheck import assert_gradients_ok, check_layer, randomize_params
from minirnn.layers import GRU, LSTM, RNN

KINDS = {
    "rnn": lambda D, H, **kw: RNN(D, H, **kw),
    "rnn-relu": lambda D, H, **kw: RNN(D, H, nonlinearity="relu", **kw),
    "gru": lambda D, H, **kw: GRU(D, H, **kw),
    "gru-reset-after": lambda D, H, **kw: GRU(D, H, reset_after=True, **kw),
    "lstm": lambda D, H, **kw: LSTM(D, H, **kw),
}


def prepared(layer, seed):
    layer.astype(np.float64)
    randomize_params(layer, np.random.default_rng([seed, 7]))
    return layer


def fix_dropout_masks(layer, T, B, rng, p):
    """Every dropout between layers drops the same entries on every forward of a check."""
    for dropout in layer.dropouts:
        width = layer.hidden_size * layer.num_directions
        dropout.fixed_mask = (rng.random((T, B, width)) >= p) / (1 - p)


@pytest.mark.parametrize("kind", list(KINDS))
@given(num_layers=st.integers(1, 2), bidirectional=st.booleans(), T=st.integers(1, 4),
       B=st.integers(1, 3), D=st.integers(1, 3), H=st.integers(1, 3), with_state=st.booleans(),
       seed=st.integers(0, 2**16))
def test_stack_gradients(kind, num_layers, bidirectional, T, B, D, H, with_state, seed):
    rng = np.random.default_rng(seed)
    layer = prepared(KINDS[kind](D, H, num_layers=num_layers, bidirectional=bidirectional,
                                 dropout=0.5 if num_layers > 1 else 0.0, seed=seed), seed)
    fix_dropout_masks(layer, T, B, rng, 0.5)
    L = num_layers * (2 if bidirectional else 1)
    inputs = [rng.standard_normal((T, B, D))]
    if with_state:
        inputs.append(tuple(rng.standard_normal((L, B, H)) for _ in layer.state_names))
    errors = check_layer(layer, *inputs, input_names=["X", "state"], seed=seed, eps=1e-5)
    expected = set(layer.params) | {"X"}
    if with_state:
        expected |= {f"state[{i}]" for i in range(len(layer.state_names))}
    assert set(errors) == expected
    assert_gradients_ok(errors)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_stack_equals_its_copies_run_by_hand(kind):
    """Layer 0 reads X forward and backward, layer 1 reads both concatenated: outputs and
    final states, in PyTorch's layout (row k * num_directions + d)."""
    T, B, D, H = 5, 2, 3, 4
    rng = np.random.default_rng(0)
    layer = prepared(KINDS[kind](D, H, num_layers=2, bidirectional=True, seed=1), 1)
    X = rng.standard_normal((T, B, D))
    state = tuple(rng.standard_normal((4, B, H)) for _ in layer.state_names)
    Hs, final = layer.forward(X, state)
    inputs, rows = X, []
    for k in range(2):
        fwd, rev = layer.layers[k]
        out_f, s_f = fwd.forward(inputs, tuple(a[2 * k:2 * k + 1] for a in state))
        out_r, s_r = rev.forward(inputs[::-1].copy(), tuple(a[2 * k + 1:2 * k + 2] for a in state))
        inputs = np.concatenate([out_f, out_r[::-1]], axis=-1)
        rows += [s_f, s_r]
    np.testing.assert_allclose(Hs, inputs, rtol=1e-12, atol=1e-14)
    for i in range(len(layer.state_names)):
        np.testing.assert_allclose(final[i], np.concatenate([r[i] for r in rows]), rtol=1e-12)
    assert Hs.shape == (T, B, 2 * H) and all(a.shape == (4, B, H) for a in final)


def test_names_shapes_and_casting():
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    assert list(lstm.params) == [f"{c}.{n}" for c in ("l0", "l0_reverse", "l1", "l1_reverse")
                                 for n in ("W_x", "W_h", "b")]
    assert lstm.params["l1.W_x"].shape == (8, 16)             # layer 1 reads both directions
    assert lstm.params["l0.W_x"] is lstm.layers[0][0].params["W_x"]
    lstm.astype(np.float64)                                   # the copies' new arrays, listed
    assert lstm.params["l0.W_x"] is lstm.layers[0][0].params["W_x"]
    assert lstm.params["l0.W_x"].dtype == np.float64 and lstm.dtype == np.float64
    (h, c) = lstm.begin_state(5)
    assert h.shape == c.shape == (4, 5, 4) and not h.any()
    with pytest.raises(AttributeError, match=r"its copies do \(layer.layers\[k\]\[d\].gate_params"):
        GRU(2, 3, num_layers=2).W_xr
    single = RNN(3, 4)
    assert single.layers is None and list(single.params) == ["W_xh", "W_hh", "b_h"]


def test_bad_stack_arguments_are_named():
    with pytest.raises(ValueError, match="num_layers must be a positive int, got 0"):
        RNN(2, 3, num_layers=0)
    with pytest.raises(TypeError, match="bidirectional must be True or False, got 1"):
        GRU(2, 3, bidirectional=1)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.5"):
        LSTM(2, 3, num_layers=2, dropout=1.5)
    with pytest.warns(UserWarning, match="dropout=0.3 acts between layers and num_layers=1"):
        LSTM(2, 3, dropout=0.3)
    layer = RNN(2, 3, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"state\[0\] must have shape \(4, 2, 3\), got \(1, 2, 3\)"):
        layer.forward(np.zeros((5, 2, 2), np.float32), (np.zeros((1, 2, 3), np.float32),))
    layer.forward(np.zeros((5, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"dHs must have shape \(5, 2, 6\), got \(5, 2, 3\)"):
        layer.backward(np.zeros((5, 2, 3), np.float32))
    assert not any(g.any() for g in layer.grads.values())


def test_dropout_acts_in_training_only():
    rng = np.random.default_rng(0)
    layer = GRU(3, 4, num_layers=3, dropout=0.5, seed=0)
    X = rng.standard_normal((6, 2, 3)).astype(np.float32)
    a, _ = layer.forward(X)
    b, _ = layer.forward(X)
    assert not np.allclose(a, b)                              # new masks every forward
    layer.eval()
    assert not any(d.training for d in layer.dropouts)
    c, _ = layer.forward(X)
    d, _ = layer.forward(X)
    np.testing.assert_array_equal(c, d)                       # the identity in evaluation
    plain = GRU(3, 4, num_layers=3, seed=0)
    np.testing.assert_allclose(c, plain.forward(X)[0], rtol=1e-6)
    layer.train()
    assert all(d.training for d in layer.dropouts)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_the_reverse_direction_truncates_at_the_same_boundaries(kind):
    """keep[t] = 0 cuts between positions t-1 and t in both directions: the reverse copy's
    outputs at positions < t then get no gradient from inputs at positions >= t."""
    from minirnn.bptt import truncation_keep
    T, B, D, H, t = 8, 2, 3, 4, 4
    rng = np.random.default_rng(3)
    layer = prepared(KINDS[kind](D, H, bidirectional=True, seed=2), 2)
    X = rng.standard_normal((T, B, D))
    dHs = np.zeros((T, B, 2 * H))
    dHs[t - 1, :, H:] = rng.standard_normal((B, H))          # the reverse outputs at t-1 only
    for keep, cut in ((None, False), (truncation_keep(T, t), True)):
        layer.zero_grad()
        layer.forward(X)
        dX, _ = layer.backward(dHs, keep=keep)
        later = np.abs(dX[t:]).max()                           # reverse: t-1 read positions >= t
        assert (later == 0) if cut else (later > 1e-3), (keep, later)
        assert np.abs(dX[t - 1]).max() > 1e-3                  # its own input always counts
