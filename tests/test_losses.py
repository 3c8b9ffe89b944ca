"""minirnn.losses: SoftmaxCrossEntropy against the textbook formula, in any memory layout,
with masks and weights of any scale; MSELoss."""
from hypothesis import given, strategies as st
import numpy as np
import pytest

from minirnn.gradcheck import assert_gradients_ok, check_layer
from minirnn.losses import MSELoss, SoftmaxCrossEntropy


@pytest.mark.parametrize("layout", ["C", "time-major view", "F"])
@pytest.mark.parametrize("spread", [3.0, 60.0])
@pytest.mark.parametrize("masked", [False, True])
def test_softmax_cross_entropy_is_the_formula_in_any_layout(layout, spread, masked):
    """Loss and gradient against the textbook formula in float64, for logits in C order, as
    RNNLM's (B, T, V) view of a time-major array, and in Fortran order."""
    rng = np.random.default_rng(2)
    B, T, V = 6, 5, 7
    z = (spread * rng.standard_normal((B, T, V))).astype(np.float32)
    if layout == "time-major view":
        z = np.ascontiguousarray(z.transpose(1, 0, 2)).transpose(1, 0, 2)
    elif layout == "F":
        z = np.asfortranarray(z)
    y = rng.integers(0, V, (B, T))
    w = (rng.random((B, T)) > 0.3).astype(np.float32) if masked else np.ones((B, T), np.float32)
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p_y = np.take_along_axis(p, y[..., None], -1)[..., 0]
    expected_loss = (-np.log(p_y) * w).sum() / w.sum()
    expected_grad = 0.5 * (p - np.eye(V)[y]) * w[..., None] / w.sum()
    loss = SoftmaxCrossEntropy()
    got = loss.forward(z, y, w if masked else None)
    d = loss.backward(0.5)
    np.testing.assert_allclose(got, expected_loss, rtol=2e-6)
    np.testing.assert_allclose(d, expected_grad, rtol=1e-5, atol=1e-8)
    assert d.shape == z.shape and d.dtype == z.dtype
    np.testing.assert_array_equal(loss.backward(0.5), d)      # backward twice: the same


@pytest.mark.parametrize("z_target", [8.0, 12.0, 16.0, 40.0])
def test_confident_predictions_keep_their_small_loss(z_target):
    """-log p_y near 0 when p_y is near 1, to float32 precision."""
    z = np.array([[z_target, 0.0, 0.0]], np.float32)
    got = SoftmaxCrossEntropy().forward(z, np.array([0]))
    expected = np.log1p(2 * np.exp(-z_target))                 # 6.7e-4 ... 8.5e-18
    assert abs(got - expected) <= 6e-8


@pytest.mark.parametrize("weight", [1e39, 1e30, 1e-45, 1e-30])
def test_mask_weights_of_any_scale_give_the_weighted_mean(weight):
    """Equal weights of any size give the plain mean (huge ones overflowed float32 to inf and
    made the loss and gradient NaN; tiny ones underflowed and gave a wrong loss)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 6, 5)).astype(np.float32)
    y = rng.integers(0, 5, (4, 6))
    plain = SoftmaxCrossEntropy()
    expected, d_expected = plain.forward(z, y), plain.backward()
    loss = SoftmaxCrossEntropy()
    got = loss.forward(z, y, np.full((4, 6), weight))
    d = loss.backward()
    assert np.isfinite(got) and got == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(d, d_expected, rtol=1e-5, atol=1e-9)
    w = rng.random((4, 6)) * weight                            # unequal: the weighted mean
    value = SoftmaxCrossEntropy().forward(z, y, w)
    nll = plain.token_nll.astype(np.float64)
    assert value == pytest.approx((nll * (w / w.max())).sum() / (w / w.max()).sum(), rel=1e-5)


def test_weights_whose_sum_overflows_are_refused_naming_the_mask():
    z, y = np.zeros((2, 3), np.float32), np.zeros(2, int)
    with pytest.raises(ValueError, match="mask's weights must have a finite sum"):
        SoftmaxCrossEntropy().forward(z, y, np.array([1.5e308, 1.5e308]))


sizes = st.integers(1, 5)


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


def test_failed_loss_forward_keeps_the_previous_token_nll_and_cache_together():
    loss = SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(2, 3, 5)).astype(np.float32), np.array([[0, 1, 2], [3, 4, 0]])
    value = loss.forward(logits, targets)
    nll, cache, grad = loss.token_nll.copy(), loss.cache, loss.backward()
    for bad in ((logits, targets + 5), (logits, targets[:, :2]), (logits, targets.astype(float)),
                (logits, targets, np.full((2, 3), -1.0))):
        with pytest.raises((TypeError, ValueError)):
            loss.forward(*bad)
        assert loss.cache is cache                        # the last good forward's, both of them
        np.testing.assert_array_equal(loss.token_nll, nll)
        np.testing.assert_array_equal(loss.backward(), grad)
    assert np.isclose(nll.mean(), value)


# ------------------------------------------------ bad input: float16
def test_float16_is_refused_by_the_loss():
    """float16 gave inf for a loss of about 13.4 (the shift overflows above V of about 256)."""
    logits = np.random.default_rng(0).standard_normal((2, 3, 1000)).astype(np.float16) * 8
    with pytest.raises(TypeError, match=r"logits must be a floating-point array, got dtype float16 "
                                        r"\(float32 or float64: minirnn's dtype policy\)"):
        SoftmaxCrossEntropy().forward(logits, np.zeros((2, 3), int))
    assert np.isfinite(SoftmaxCrossEntropy().forward(logits.astype(np.float32), np.zeros((2, 3), int)))
