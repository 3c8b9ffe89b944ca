"""Whole-model gradient checks through BPTT, and the RNNLM / MLP contracts."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minirnn.gradcheck import assert_gradients_ok, check_layer, check_model, randomize_params
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import MLP, RNNLM


def prepared(model, seed):
    model.astype(np.float64)
    randomize_params(model, np.random.default_rng([seed, 1]))
    return model


@pytest.mark.parametrize("embed_dim", [None, 3])
@pytest.mark.parametrize("with_state", [False, True])
def test_rnnlm_gradients_through_bptt(embed_dim, with_state):
    """Every parameter and the initial state, through 9 time steps."""
    B, T, V, H = 2, 9, 5, 4
    rng = np.random.default_rng(0)
    model = prepared(RNNLM(V, H, embed_dim=embed_dim), 1)
    X = rng.integers(0, V, size=(B, T))
    state = rng.standard_normal((B, H)) if with_state else None
    errors = check_model(model, X, state)
    expected = {"rnn.W_xh", "rnn.W_hh", "rnn.b_h", "output.W", "output.b"}
    expected |= {"embedding.W"} if embed_dim else set()
    expected |= {"state"} if with_state else set()
    assert set(errors) == expected
    assert_gradients_ok(errors)


@given(B=st.integers(1, 3), T=st.integers(1, 10), V=st.integers(2, 6), H=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_rnnlm_gradients_random_shapes(B, T, V, H, seed):
    rng = np.random.default_rng(seed)
    model = prepared(RNNLM(V, H, embed_dim=2), seed)
    assert_gradients_ok(check_model(model, rng.integers(0, V, size=(B, T)), rng.standard_normal((B, H))))


def test_rnnlm_with_loss_gradients():
    """The loss on top of the model, as training uses it: d(mean CE)/d(params)."""
    B, T, V, H = 3, 8, 6, 5
    rng = np.random.default_rng(4)
    model = prepared(RNNLM(V, H), 5)
    X, Y = rng.integers(0, V, size=(B, T)), rng.integers(0, V, size=(B, T))
    loss = SoftmaxCrossEntropy()

    class WithLoss:
        params, grads = model.params, model.grads

        def forward(self):
            return loss.forward(model.forward(X)[0], Y)

        def backward(self, dout):
            model.backward(loss.backward(dout))

    assert_gradients_ok(check_layer(WithLoss()))


def test_rnnlm_shapes_keys_and_state():
    model = RNNLM(28, 16, seed=0)
    assert list(model.params) == ["rnn.W_xh", "rnn.W_hh", "rnn.b_h", "output.W", "output.b"]
    assert list(RNNLM(28, 16, embed_dim=8).params)[0] == "embedding.W"
    X = np.random.default_rng(0).integers(0, 28, size=(4, 7))
    logits, state = model.forward(X, model.begin_state(4))
    assert logits.shape == (4, 7, 28) and state.shape == (4, 16)
    assert logits.dtype == np.float32 and state.dtype == np.float32
    assert model.begin_state(4).shape == (4, 16) and not model.begin_state(4).any()
    assert model.params["rnn.W_hh"] is model.rnn.params["W_hh"]   # the layers' own arrays


def test_rnnlm_logits_are_batch_major_version_of_time_major_layers():
    """logits[b, t] is the output layer applied to the RNN's H_t for sequence b."""
    model = RNNLM(7, 5, seed=3).astype(np.float64)
    randomize_params(model, np.random.default_rng(2))
    X = np.random.default_rng(1).integers(0, 7, size=(3, 4))
    logits, _ = model.forward(X)
    Hs, _ = model.rnn.forward(np.eye(7)[X.T])
    np.testing.assert_allclose(logits[2, 1], Hs[1, 2] @ model.params["output.W"] + model.params["output.b"])


def test_state_carried_across_minibatches_equals_one_long_sequence():
    """Sequential partitioning: forward on [X1, X2] == forward X1, then X2 from its state."""
    model = RNNLM(6, 4, seed=0).astype(np.float64)
    randomize_params(model, np.random.default_rng(0))
    X = np.random.default_rng(5).integers(0, 6, size=(2, 10))
    whole, _ = model.forward(X)
    whole = whole.copy()
    first, state = model.forward(X[:, :4])
    first = first.copy()
    second, _ = model.forward(X[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)


def test_rnnlm_float64_cast_and_zero_grad():
    model = RNNLM(5, 3, embed_dim=2)
    assert all(p.dtype == np.float32 for p in model.params.values())
    model.astype(np.float64)
    assert all(p.dtype == np.float64 for p in model.params.values())
    assert all(g.dtype == np.float64 for g in model.grads.values())
    X = np.array([[0, 1, 2], [3, 4, 0]])
    logits, _ = model.forward(X)
    model.backward(np.ones_like(logits))
    assert all(g.any() for g in model.grads.values())
    model.zero_grad()
    assert not any(g.any() for g in model.grads.values())


def test_rnnlm_two_backward_calls_accumulate():
    model = prepared(RNNLM(5, 3), 0)
    X = np.array([[0, 1, 2, 4], [3, 4, 0, 0]])
    G = np.random.default_rng(0).standard_normal((2, 4, 5))
    model.forward(X)
    model.backward(G)
    once = {k: g.copy() for k, g in model.grads.items()}
    model.forward(X)
    model.backward(G)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, err_msg=k)


def test_mlp_is_the_books_and_checks():
    mlp = MLP()
    assert [tuple(p.shape) for p in mlp.params.values()] == [(4, 10), (10,), (10, 1), (1,)]
    bound = np.sqrt(6 / (4 + 10))                               # Xavier uniform, as the book
    assert np.abs(mlp.params["0.W"]).max() <= bound
    x = np.random.default_rng(0).standard_normal((16, 4))
    assert_gradients_ok(check_layer(mlp, x))
