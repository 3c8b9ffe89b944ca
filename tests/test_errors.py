"""Bad input gets a clear error naming the argument, before any state changes."""
import numpy as np
import pytest

from minirnn.gradcheck import numerical_gradient
from minirnn.layers import Embedding, Linear, OneHot, ReLU, RNN, RNNCell, Sequential, Tanh
from minirnn.losses import MSELoss, SoftmaxCrossEntropy
from minirnn.models import MLP, RNNLM


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


def test_token_ids_are_checked():
    model = RNNLM(28, 8)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match="token id 31 in X out of range for vocab_size 28"):
        model.forward(np.array([[1, 31]]))
    with pytest.raises(ValueError, match="token id -1 in X is negative"):
        model.forward(np.array([[1, -1]]))
    with pytest.raises(TypeError, match="X must hold integer token ids, got dtype float64"):
        model.forward(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"X must be a non-empty int array of token ids with shape \(batch, num_steps\), got \(5,\)"):
        model.forward(np.arange(5))
    with pytest.raises(ValueError, match="token id 9 in ids out of range for vocab_size 4"):
        Embedding(4, 2).forward(np.array([[9]]))
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_state_shape_is_checked():
    model = RNNLM(5, 8)
    with pytest.raises(ValueError, match=r"state\[0\] must have shape \(1, 2, 8\), got \(1, 2, 7\)"):
        model.forward(np.zeros((2, 3), dtype=int), (np.zeros((1, 2, 7), dtype=np.float32),))
    with pytest.raises(TypeError, match=r"state must be a tuple of 1 array\(s\) of shape \(1, 2, 8\), "
                                        r"got ndarray \(a tuple: wrap one array as \(h,\)\)"):
        model.forward(np.zeros((2, 3), dtype=int), np.zeros((1, 2, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"state must be a tuple of 1 array\(s\).*got a tuple of 2"):
        model.forward(np.zeros((2, 3), dtype=int), model.begin_state(2) * 2)


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


def test_loss_inputs_are_checked():
    loss = SoftmaxCrossEntropy()
    logits = np.zeros((2, 3, 5))
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 3\) to match logits \(2, 3, 5\), got \(3, 2\)"):
        loss.forward(logits, np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match="target id 5 out of range for 5 classes"):
        loss.forward(logits, np.full((2, 3), 5))
    with pytest.raises(ValueError, match="target id -2 out of range for 5 classes"):
        loss.forward(logits, np.full((2, 3), -2))
    with pytest.raises(TypeError, match="targets must be an integer numpy array, got float64"):
        loss.forward(logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"mask must have the targets' shape \(2, 3\), got \(2,\)"):
        loss.forward(logits, np.zeros((2, 3), dtype=int), mask=np.ones(2))
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxCrossEntropy().backward()


def test_a_bad_mask_is_named_and_leaves_the_loss_cache_alone():
    loss = SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((2, 3, 5)), rng.integers(0, 5, (2, 3))
    loss.forward(logits, targets)
    before = loss.backward()
    with pytest.raises(TypeError, match="mask must hold real 0/1 values or weights, got dtype <U1"):
        loss.forward(logits[::-1], targets, mask=np.full((2, 3), "a"))
    with pytest.raises(ValueError, match="mask must hold finite non-negative weights, got values from -1.0"):
        loss.forward(logits[::-1], targets, mask=-np.ones((2, 3)))
    with pytest.raises(ValueError, match="mask must hold finite non-negative weights"):
        loss.forward(logits[::-1], targets, mask=np.full((2, 3), np.nan))
    np.testing.assert_array_equal(loss.backward(), before)  # still the first batch's gradient
    with pytest.raises(ValueError, match=r"target must have shape \(4, 1\), got \(4,\)"):
        MSELoss().forward(np.zeros((4, 1)), np.zeros(4))


def test_rnnlm_backward_shape_checked():
    model = RNNLM(5, 3)
    model.forward(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"dlogits must have shape \(2, 4, 5\), got \(4, 2, 5\)"):
        model.backward(np.zeros((4, 2, 5), np.float32))


@pytest.mark.parametrize("dstate, keep, message", [
    ((np.zeros((1, 5, 3), np.float32),), None, r"dstate\[0\] must have shape \(1, 2, 3\), got \(1, 5, 3\)"),
    (None, np.ones(3), r"keep must have shape \(4,\) or \(4, 2\), got \(3,\)"),
])
def test_rnnlm_backward_checks_everything_before_any_gradient_changes(dstate, keep, message):
    model = RNNLM(5, 3)
    model.forward(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=message):
        model.backward(np.ones((2, 4, 5), np.float32), dstate, keep=keep)
    assert not any(g.any() for g in model.grads.values())


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


def test_astype_to_the_same_dtype_keeps_the_arrays_an_optimizer_holds():
    model = RNNLM(5, 3)
    before = dict(model.params)
    model.astype(np.float32)
    assert all(model.params[k] is before[k] for k in before)


def test_numerical_gradient_restores_and_rejects_ints():
    x = np.array([1.0, 2.0])

    def boom():
        raise RuntimeError("f failed")

    with pytest.raises(RuntimeError):
        numerical_gradient(boom, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])              # restored in `finally`
    with pytest.raises(TypeError, match="floating-point"):
        numerical_gradient(lambda: 0.0, np.array([1, 2]))


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


def test_float16_is_refused_by_the_loss_and_the_optimizers():
    """float16 gave inf for a loss of about 13.4 (the shift overflows above V of about 256)
    and made Adam's parameters -inf after three steps."""
    from minirnn.optim import SGD, Adam
    logits = np.random.default_rng(0).standard_normal((2, 3, 1000)).astype(np.float16) * 8
    with pytest.raises(TypeError, match=r"logits must be a floating-point array, got dtype float16 "
                                        r"\(float32 or float64: minirnn's dtype policy\)"):
        SoftmaxCrossEntropy().forward(logits, np.zeros((2, 3), int))
    assert np.isfinite(SoftmaxCrossEntropy().forward(logits.astype(np.float32), np.zeros((2, 3), int)))
    params = {"W": np.ones(3, np.float16)}
    for opt in (SGD, Adam):
        with pytest.raises(TypeError, match=r"params\['W'\] must be a floating-point array, got "
                                            r"dtype float16"):
            opt(params, {"W": np.ones(3, np.float16)}, lr=0.1)
    with pytest.raises(TypeError, match=r"grads\['W'\] has dtype float32, params\['W'\] float64"):
        Adam({"W": np.ones(3)}, {"W": np.ones(3, np.float32)})


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


# ------------------------------------------------------- errors that name the argument
def test_loss_backward_and_empty_inputs_are_named():
    loss = SoftmaxCrossEntropy()
    loss.forward(np.zeros((2, 3, 5)), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match=r"dout must be one number \(the gradient of the scalar "
                                         r"loss\), got an array of shape \(2, 3, 5\)"):
        loss.backward(np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match="dout must be a finite number, got nan"):
        loss.backward(float("nan"))
    assert loss.backward(np.array(2.0)).shape == (2, 3, 5)            # a 0-d array is a number
    mse = MSELoss()
    with pytest.raises(ValueError, match=r"pred and target must hold at least one element .the "
                                         r"loss is their mean., got shape \(0, 1\)"):
        mse.forward(np.zeros((0, 1)), np.zeros((0, 1)))
    with pytest.raises(TypeError, match="target has dtype float32 but the layer computes in float64"):
        mse.forward(np.zeros((2, 1)), np.zeros((2, 1), np.float32))
    mse.forward(np.zeros((2, 1)), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"dout must be one number"):
        mse.backward(np.ones(2))


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


def test_python_dash_m_gradcheck_refuses_an_argument(capsys, monkeypatch):
    from minirnn import gradcheck

    def report():
        raise AssertionError("the checks ran")

    monkeypatch.setattr(gradcheck, "report", report)
    assert gradcheck.main(["--bogus"]) == 2
    err = capsys.readouterr().err
    assert err == ("python -m minirnn.gradcheck: error: unrecognized arguments: --bogus "
                   "(it takes none)\n")
