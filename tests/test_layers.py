"""Gradient checks and contract tests for every layer in minirnn.layers and minirnn.losses."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minirnn.gradcheck import assert_gradients_ok, check_gradients, check_layer, randomize_params
from minirnn.layers import (Embedding, Layer, Linear, OneHot, ReLU, RNN, RNNCell, Sequential, Tanh,
                            scatter_add_rows)
from minirnn.losses import MSELoss, SoftmaxCrossEntropy

sizes = st.integers(1, 5)


def prepared(layer, seed):
    """float64 layer with parameters of order one (see randomize_params), drawn from a
    stream independent of the test's inputs (which use ``default_rng(seed)``)."""
    layer.astype(np.float64)
    randomize_params(layer, np.random.default_rng([seed, 1]))
    return layer


# ----------------------------------------------------------------- gradient checks
@given(T=sizes, B=sizes, D=sizes, H=sizes, seed=st.integers(0, 2**16))
def test_linear_gradients(T, B, D, H, seed):
    rng = np.random.default_rng(seed)
    errors = check_layer(prepared(Linear(D, H), seed), rng.standard_normal((T, B, D)), seed=seed)
    assert set(errors) == {"W", "b", "input0"}
    assert_gradients_ok(errors)


@given(T=sizes, B=sizes, V=st.integers(1, 8), E=sizes, seed=st.integers(0, 2**16))
def test_embedding_gradients(T, B, V, E, seed):
    ids = np.random.default_rng(seed).integers(0, V, size=(T, B))
    errors = check_layer(prepared(Embedding(V, E), seed), ids, seed=seed)
    assert set(errors) == {"W"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("layer_cls", [Tanh, ReLU])
@given(shape=st.lists(sizes, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_activation_gradients(layer_cls, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    assert_gradients_ok(check_layer(layer_cls(), x, seed=seed))


@given(B=sizes, D=sizes, H=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_sequential_gradients(B, D, H, seed):
    # H >= 2: a width-1 bottleneck followed by two more layers makes dL/dx a product of
    # small factors (about 1e-5 at seed 6653), where round-off in f(x +- 1e-6) alone is a
    # 1e-6 relative error (eps 1e-4 agrees to 1e-8). Width 1 is covered by the RNN tests.
    net = prepared(Sequential(Linear(D, H), Tanh(), Linear(H, 3), ReLU(), Linear(3, 2)), seed)
    errors = check_layer(net, np.random.default_rng(seed).standard_normal((B, D)), seed=seed)
    assert {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b", "input0"} == set(errors)
    assert_gradients_ok(errors)


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


@given(shape=st.lists(sizes, min_size=1, max_size=3), V=st.integers(1, 7),
       masked=st.sampled_from([None, "0/1", "weights"]), seed=st.integers(0, 2**16))
def test_softmax_cross_entropy_gradients(shape, V, masked, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(tuple(shape) + (V,))
    targets = rng.integers(0, V, size=shape)
    inputs = [logits, targets]
    if masked is not None:
        mask = (rng.random(shape) < 0.6).astype(np.float64)
        mask.flat[0] = 1.0                                   # at least one counted token
        if masked == "weights":                              # fractional: their sum may be < 1
            mask *= rng.uniform(0.05, 1.0, size=shape)
        inputs.append(mask)
    assert_gradients_ok(check_layer(SoftmaxCrossEntropy(), *inputs, wrt=[0], seed=seed))


@given(shape=st.lists(sizes, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_mse_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    assert_gradients_ok(check_layer(MSELoss(), rng.standard_normal(shape), rng.standard_normal(shape),
                                 wrt=[0], seed=seed))


def test_checker_catches_a_wrong_derivative():
    """The checker must be able to fail: tanh' written as 1/(1-h^2) (a classic slip)."""
    class WrongTanh(Tanh):
        def backward(self, dout):
            return dout / (1 - self.cache.h ** 2)

    x = np.random.default_rng(0).standard_normal((4, 3))
    errors = check_layer(WrongTanh(), x)
    assert errors["input0"] > 1e-2


def test_checker_fails_when_backward_forgets_an_input():
    """RNN.backward that returns dX but not dstate0: the check must not pass silently."""
    class NoDstate0(RNN):
        def backward(self, dHs, dstate=None, keep=None, input_grad=True):
            return super().backward(dHs, dstate, keep, input_grad)[0]

    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match="none for state"):
        check_layer(prepared(NoDstate0(3, 2), 1), rng.standard_normal((4, 2, 3)),
                    (rng.standard_normal((1, 2, 2)),), input_names=["X", "state"])


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


# ----------------------------------------------------------------- the layer contract
def make_layers():
    """(layer, inputs, upstream) triples covering every layer with parameters."""
    rng = np.random.default_rng(11)
    return [
        (Linear(3, 4), [rng.standard_normal((2, 3))], [rng.standard_normal((2, 4))]),
        (Embedding(6, 3), [rng.integers(0, 6, size=(4, 2))], [rng.standard_normal((4, 2, 3))]),
        (RNN(3, 4), [rng.standard_normal((5, 2, 3))],
         [rng.standard_normal((5, 2, 4)), (rng.standard_normal((1, 2, 4)),)]),
        (Sequential(Linear(3, 4), ReLU(), Linear(4, 2)), [rng.standard_normal((2, 3))],
         [rng.standard_normal((2, 2))]),
    ]


@pytest.mark.parametrize("index", range(4))
def test_two_backward_calls_accumulate_and_zero_grad_resets(index):
    layer, inputs, upstream = make_layers()[index]
    prepared(layer, 0)
    inputs = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in inputs]
    layer.forward(*inputs)
    layer.backward(*upstream)
    once = {k: g.copy() for k, g in layer.grads.items()}
    assert any(np.abs(g).sum() > 0 for g in once.values())
    layer.forward(*inputs)
    layer.backward(*upstream)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, err_msg=k)
    layer.zero_grad()
    for k, g in layer.grads.items():
        assert not g.any(), k


@pytest.mark.parametrize("index", range(4))
def test_float32_by_default_and_float64_cast(index):
    layer, inputs, _ = make_layers()[index]
    assert layer.params and all(p.dtype == np.float32 for p in layer.params.values())
    assert all(g.dtype == np.float32 and g.shape == layer.params[k].shape
               for k, g in layer.grads.items())
    out = layer.forward(*[x.astype(np.float32) if x.dtype.kind == "f" else x for x in inputs])
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == np.float32
    layer.astype(np.float64)
    assert all(p.dtype == np.float64 for p in layer.params.values())
    assert all(g.dtype == np.float64 for g in layer.grads.values())


@pytest.mark.parametrize("index", range(4))
def test_backward_does_not_mutate_upstream_gradient(index):
    layer, inputs, upstream = make_layers()[index]
    layer.astype(np.float64)                                 # the inputs' dtype (dtype policy)
    layer.forward(*inputs)
    arrays = [a for u in upstream for a in (u if isinstance(u, tuple) else (u,))]  # states too
    saved = [a.copy() for a in arrays]
    layer.backward(*upstream)
    for a, s in zip(arrays, saved):
        np.testing.assert_array_equal(a, s)


def test_same_seed_same_init_and_book_scale():
    a, b, c = RNN(30, 200, seed=1), RNN(30, 200, seed=1), RNN(30, 200, seed=2)
    np.testing.assert_array_equal(a.params["W_hh"], b.params["W_hh"])
    assert not np.array_equal(a.params["W_hh"], c.params["W_hh"])
    assert abs(a.params["W_hh"].std() - 0.01) < 0.001          # N(0, 0.01^2) as in the book
    assert not a.params["b_h"].any()                             # biases start at zero


def test_repr_shows_shapes_for_the_debugger():
    text = repr(RNN(3, 4))
    assert "W_xh (3, 4)" in text and "W_hh (4, 4)" in text and "b_h (4,)" in text
    assert "nonlinearity" not in text                        # tanh, the book's, goes unsaid
    assert repr(RNNCell(3, 4, nonlinearity="relu")).endswith(", nonlinearity='relu')")


def test_onehot_rows():
    ids = np.array([[0, 3], [2, 2]])
    out = OneHot(4).forward(ids)
    assert out.shape == (2, 2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(-1), ids)
    np.testing.assert_array_equal(out.sum(-1), np.ones((2, 2)))


def test_embedding_is_onehot_times_matrix():
    """The book's exercise: one-hot times W equals an embedding lookup."""
    emb = Embedding(5, 3, seed=0).astype(np.float64)
    ids = np.array([[0, 4, 4], [1, 2, 0]])
    np.testing.assert_allclose(emb.forward(ids), OneHot(5).astype(np.float64).forward(ids) @ emb.params["W"])


@given(n=st.integers(0, 40), V=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_scatter_add_equals_add_at(n, V, seed):
    rng = np.random.default_rng(seed)
    ids, rows = rng.integers(0, V, size=n), rng.standard_normal((n, 3))
    expected = np.zeros((V, 3))
    np.add.at(expected, ids, rows)
    got = np.zeros((V, 3))
    scatter_add_rows(got, ids, rows)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- losses
def test_softmax_cross_entropy_value_and_stability():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    targets = np.array([0, 1])
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, targets)
    row2 = -(2.0 - np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0)))
    assert np.isfinite(value)
    assert value == pytest.approx((0.0 + row2) / 2, rel=1e-12)
    d1, d2 = loss.backward(), loss.backward()
    np.testing.assert_array_equal(d1, d2)                        # backward never mutates its cache
    np.testing.assert_allclose(d1.sum(axis=-1), 0, atol=1e-15)    # softmax - onehot sums to 0 per row


@pytest.mark.parametrize("layout", ["c", "time-major view", "fortran"])
def test_softmax_cross_entropy_token_nll_is_each_tokens_minus_log_softmax(layout):
    """token_nll, in the targets' layout whatever the logits' memory order, is each
    token's -log softmax(z)[y] (written out here), and its masked mean is the loss."""
    rng = np.random.default_rng(4)
    z = rng.standard_normal((3, 5, 6)) * 3
    y = rng.integers(0, 6, size=(3, 5))
    logits = {"c": z, "time-major view": np.ascontiguousarray(z.transpose(1, 0, 2)).transpose(1, 0, 2),
              "fortran": np.asfortranarray(z)}[layout]
    mask = (rng.random((3, 5)) < 0.6).astype(float)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, y, mask)
    expected = np.log(np.exp(z).sum(-1)) - np.take_along_axis(z, y[..., None], -1)[..., 0]
    assert loss.token_nll.shape == y.shape
    np.testing.assert_allclose(loss.token_nll, expected, rtol=1e-12)
    assert value == pytest.approx((expected * mask).sum() / mask.sum(), rel=1e-12)


def test_uniform_logits_give_log_vocab_size():
    V = 28
    value = SoftmaxCrossEntropy().forward(np.zeros((4, 7, V)), np.zeros((4, 7), dtype=int))
    assert value == pytest.approx(np.log(V), rel=1e-12)


def test_mask_counts_only_unmasked_tokens():
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((3, 5, 4)), rng.integers(0, 4, size=(3, 5))
    mask = np.ones((3, 5))
    mask[:, 3:] = 0
    full, masked = SoftmaxCrossEntropy(), SoftmaxCrossEntropy()
    assert masked.forward(logits, targets, mask) == pytest.approx(
        full.forward(logits[:, :3], targets[:, :3]), rel=1e-12)
    d = masked.backward()
    assert not d[:, 3:].any()
    np.testing.assert_allclose(d[:, :3], full.backward(), rtol=1e-12)


def test_mse_value():
    pred, target = np.array([[1.0], [2.0]]), np.array([[0.0], [4.0]])
    assert MSELoss().forward(pred, target) == pytest.approx((1 + 4) / 2)


def test_every_layer_is_a_layer():
    for cls in (Linear, Embedding, RNN, RNNCell, Tanh, ReLU, OneHot):
        assert issubclass(cls, Layer)
