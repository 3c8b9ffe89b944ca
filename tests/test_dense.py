"""minirnn.layers.base and .dense: gradient checks and the layer contract (Linear, Embedding,
OneHot, activations, Sequential); bad input and the dtype policy."""
from hypothesis import given, strategies as st
import numpy as np
import pytest

from minirnn.gradcheck import assert_gradients_ok, check_layer
from minirnn.layers import (Embedding, Layer, Linear, OneHot, ReLU, RNN, RNNCell, scatter_add_rows,
                            Sequential, Tanh)
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import MLP, RNNLM

from helpers import prepared

sizes = st.integers(1, 5)


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


def test_every_layer_is_a_layer():
    for cls in (Linear, Embedding, RNN, RNNCell, Tanh, ReLU, OneHot):
        assert issubclass(cls, Layer)


@pytest.mark.parametrize("make, match", [
    (lambda: Linear(0, 3), "in_features must be a positive int, got 0"),
    (lambda: Linear(3, -2), "out_features must be a positive int, got -2"),
    (lambda: Embedding(0, 3), "vocab_size must be a positive int, got 0"),
    (lambda: OneHot(-1), "vocab_size must be a positive int, got -1"),
    (lambda: RNN(3, 0), "hidden_size must be a positive int, got 0"),
    (lambda: RNNCell(0, 3), "input_size must be a positive int, got 0"),
    (lambda: RNNLM(28, 0), "num_hiddens must be a positive int, got 0"),
    (lambda: RNNLM(0, 8), "vocab_size must be a positive int, got 0"),
    (lambda: RNNLM(28, 8, embed_dim=-4), "embed_dim must be a positive int, got -4"),
    (lambda: MLP(num_hiddens=0), "out_features must be a positive int, got 0"),
    (lambda: RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: Linear(3, 4, init="zeros"), "init must be"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make", [lambda: Linear(2.5, 3), lambda: RNN("8", 3), lambda: RNNLM(28, True)])
def test_non_integer_sizes_are_type_errors(make):
    with pytest.raises(TypeError, match="must be a positive int"):
        make()


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="Sequential layer 1 must be a Layer, got function"):
        Sequential(Linear(2, 2), lambda x: x)
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential()


def test_layer_backward_checks_dout_and_order():
    rng = np.random.default_rng(0)
    emb, lin = Embedding(6, 5), Linear(5, 4)
    for layer in (emb, lin, Tanh(), ReLU()):
        with pytest.raises(RuntimeError, match=f"{type(layer).__name__}.backward called before forward"):
            layer.backward(np.zeros((2, 3, 4), np.float32))
    emb.forward(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 5\), got \(3, 2, 5\)"):
        emb.backward(np.zeros((3, 2, 5), np.float32))            # same size, wrong layout
    lin.forward(rng.standard_normal((2, 3, 5)).astype(np.float32))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 4\), got \(3, 2, 4\)"):
        lin.backward(np.zeros((3, 2, 4), np.float32))
    assert not emb.grads["W"].any() and not lin.grads["W"].any()
    act = Tanh()
    act.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\), got \(3, 2\)"):
        act.backward(np.zeros((3, 2)))


# --------------------------------------------------------------- the dtype policy
@pytest.mark.parametrize("make", [
    lambda d: Linear(3, 4, dtype=d), lambda d: RNN(3, 4, dtype=d), lambda d: RNNCell(3, 4, dtype=d),
    lambda d: Embedding(5, 3, dtype=d), lambda d: OneHot(5, dtype=d), lambda d: RNNLM(5, 3, dtype=d),
    lambda d: RNNLM(5, 3).astype(d), lambda d: Linear(3, 4).astype(d)])
@pytest.mark.parametrize("dtype, shown", [(np.int64, "int64"), (np.complex128, "complex128"),
                                          (np.float16, "float16"), (None, "None"), ("f8x", "'f8x'")])
def test_a_layer_computes_in_float32_or_float64_only(make, dtype, shown):
    with pytest.raises(TypeError, match=f"dtype must be float32 or float64 .minirnn's dtype "
                                        f"policy., got {shown}$"):
        make(dtype)


def test_an_input_of_the_other_float_dtype_is_named_not_cast():
    """RNN used to cast float64 input down to float32, Linear to promote it to float64."""
    for layer, x in [(RNN(3, 4), np.zeros((5, 2, 3))), (Linear(3, 4), np.zeros((2, 3))),
                     (RNNCell(3, 4, dtype=np.float64), np.zeros((2, 3), np.float32))]:
        name = "X" if isinstance(layer, RNN) else "x"
        with pytest.raises(TypeError, match=f"{name} has dtype {x.dtype} but the layer computes in "
                                            f"{layer.dtype}: cast the array"):
            if type(layer) is RNNCell:
                layer.step_forward(x, (np.zeros((2, 4)),))
            else:
                layer.forward(x)
    rnn = RNN(3, 4)
    with pytest.raises(TypeError, match=r"state\[0\] has dtype float64 but the layer computes in "
                                        r"float32"):
        rnn.forward(np.zeros((5, 2, 3), np.float32), (np.zeros((1, 2, 4)),))
    rnn.forward(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(TypeError, match="dHs has dtype float64 but the layer computes in float32"):
        rnn.backward(np.zeros((5, 2, 4)))
    assert not any(g.any() for g in rnn.grads.values())
    model = RNNLM(5, 3)
    model.forward(np.zeros((2, 4), int))
    with pytest.raises(TypeError, match="dlogits has dtype float64 but the layer computes in float32"):
        model.backward(np.zeros((2, 4, 5)))


def test_the_output_has_the_layers_dtype():
    for dtype in (np.float32, np.float64):
        x = np.ones((5, 2, 3), dtype)
        assert RNN(3, 4, dtype=dtype).forward(x)[0].dtype == dtype
        assert Linear(3, 4, dtype=dtype).forward(x).dtype == dtype
        loss = SoftmaxCrossEntropy()
        assert isinstance(loss.forward(x, np.zeros((5, 2), int)), float)
        assert loss.backward().dtype == dtype


@pytest.mark.parametrize("sigma", [-0.01, float("nan"), float("inf"), 0])
def test_sigma_must_be_a_positive_finite_number(sigma):
    for make in (lambda: Linear(3, 4, sigma=sigma), lambda: RNNLM(5, 3, sigma=sigma)):
        with pytest.raises(ValueError, match=f"sigma must be a finite number > 0, got {sigma}"):
            make()


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_a_bad_seed_is_named(seed, error):
    from minirnn.generate import predict
    from minirnn.data import Vocab
    for make in (lambda: Linear(3, 4, seed=seed), lambda: RNNLM(5, 3, seed=seed),
                 lambda: predict("ab", 1, RNNLM(3, 2), Vocab(list("ab")), seed=seed)):
        with pytest.raises(error, match="seed must be a non-negative int or None, got"):
            make()


def test_a_modules_params_are_built_once_and_follow_a_replaced_array():
    """Reading params (or dtype) returns the dict built before, not a new one per call; a
    cast that replaces a child's arrays is noticed on the next read."""
    model = Sequential(Linear(2, 3), Tanh(), Linear(3, 1))
    params, grads = model.params, model.grads
    assert model.params is params and model.grads is grads and model.dtype == np.float32
    model.astype(np.float64)
    assert model.params is not params and model.dtype == np.float64
    assert all(model.params[k] is model.layers[int(k[0])].params[k[2:]] for k in model.params)
    assert all(g.dtype == np.float64 for g in model.grads.values())
