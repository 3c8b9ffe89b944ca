"""minirnn.losses: SoftmaxCrossEntropy against the textbook formula, in any memory layout,
with masks and weights of any scale; MSELoss."""
import numpy as np
import pytest

from minirnn.losses import SoftmaxCrossEntropy


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
