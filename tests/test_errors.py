"""Bad input gets a clear error naming the argument, before any state changes."""
import numpy as np
import pytest

from minirnn.layers import Embedding
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM


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


def test_astype_to_the_same_dtype_keeps_the_arrays_an_optimizer_holds():
    model = RNNLM(5, 3)
    before = dict(model.params)
    model.astype(np.float32)
    assert all(model.params[k] is before[k] for k in before)


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


