"""Gradient checks of layers whose state is a tuple of arrays (``(h,)``, ``(h, c)``).

The recurrent-layer contract: ``forward(X, state) -> (Hs, state)`` and
``backward(dHs, dstate) -> (dX, dstate0)``, states and their gradients tuples.  The checker
must draw an upstream gradient for every array of the final state, and check every array
of the initial state: a state gradient that is 999 times too large must fail.
"""
import numpy as np
import pytest

from minirnn.gradcheck import (assert_gradients_ok, check_gradients, check_layer, check_model,
                               randomize_params)
from minirnn.models import RNNLM


class ToyLSTM:
    """A tiny recurrent layer with an LSTM-like state ``(h, c)``, written for these tests
    (dimension letters: T steps, B batch, D input, H hidden):

        c_t = f * c_{t-1} + X_t W        a leaky memory, f (H,) per unit
        h_t = tanh(c_t + h_{t-1} U)

    forward(X (T, B, D), state=None) -> (Hs (T, B, H), (h_T, c_T));
    backward(dHs, dstate=None) -> (dX, (dh0, dc0)).
    """

    def __init__(self, D, H, seed=0):
        rng = np.random.default_rng([seed, 1])
        self.params = {"W": rng.normal(0, 0.5, (D, H)), "U": rng.normal(0, 0.5, (H, H)),
                       "f": rng.uniform(0.2, 0.9, H)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.cache = None

    def astype(self, dtype):
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return self

    def forward(self, X, state=None):
        T, B, _ = X.shape
        p, H = self.params, self.params["f"].shape[0]
        hs, cs = np.empty((T + 1, B, H)), np.empty((T + 1, B, H))   # hs[0], cs[0]: the state in
        hs[0], cs[0] = (0.0, 0.0) if state is None else state
        for t in range(T):
            cs[t + 1] = p["f"] * cs[t] + X[t] @ p["W"]
            hs[t + 1] = np.tanh(cs[t + 1] + hs[t] @ p["U"])
        self.cache = (X, hs, cs)
        return hs[1:], (hs[T].copy(), cs[T].copy())

    def backward(self, dHs, dstate=None):
        X, hs, cs = self.cache
        p, g = self.params, self.grads
        dh_next, dc_next = (np.zeros_like(hs[0]), np.zeros_like(cs[0])) if dstate is None else dstate
        dX = np.empty_like(X)
        for t in reversed(range(X.shape[0])):
            dz = (dHs[t] + dh_next) * (1 - hs[t + 1] ** 2)   # dL/dz_t, tanh' = 1 - h^2
            dc = dc_next + dz                                 # c_t feeds z_t and c_{t+1}
            g["U"] += hs[t].T @ dz
            g["W"] += X[t].T @ dc
            g["f"] += np.sum(dc * cs[t], axis=0)
            dX[t] = dc @ p["W"].T
            dh_next, dc_next = dz @ p["U"].T, dc * p["f"]     # dL/dh_{t-1}, dL/dc_{t-1}
        return dX, (dh_next, dc_next)


def toy_inputs(T, B, D, H, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, D)), (rng.standard_normal((B, H)), rng.standard_normal((B, H)))


@pytest.mark.parametrize("T,B,D,H", [(1, 1, 1, 1), (4, 2, 3, 2), (6, 3, 2, 4)])
def test_every_array_of_a_tuple_state_is_checked_and_passes(T, B, D, H):
    X, state = toy_inputs(T, B, D, H, seed=T)
    errors = check_layer(ToyLSTM(D, H, seed=T), X, state, input_names=["X", "state"], seed=T)
    assert set(errors) == {"W", "U", "f", "X", "state[0]", "state[1]"}
    assert_gradients_ok(errors)


def test_backward_gets_an_upstream_gradient_for_each_array_of_the_final_state():
    calls = []

    class Spy(ToyLSTM):
        def backward(self, dHs, dstate=None):
            calls.append(dstate)
            return super().backward(dHs, dstate)

    X, state = toy_inputs(3, 2, 2, 4)
    check_layer(Spy(2, 4), X, state, input_names=["X", "state"])
    dstate, = calls
    assert isinstance(dstate, tuple) and len(dstate) == 2
    assert all(isinstance(d, np.ndarray) and d.shape == (2, 4) for d in dstate)
    assert not np.array_equal(dstate[0], dstate[1])           # drawn separately, not one array twice


@pytest.mark.parametrize("broken", [0, 1])
def test_a_state_gradient_999_times_too_large_fails(broken):
    """The bug a checker that skips tuples lets through: dh0 (or dc0) scaled by 999."""
    class Broken(ToyLSTM):
        def backward(self, dHs, dstate=None):
            dX, dstate0 = super().backward(dHs, dstate)
            dstate0 = tuple(999 * d if k == broken else d for k, d in enumerate(dstate0))
            return dX, dstate0

    X, state = toy_inputs(4, 2, 3, 2)
    errors = check_layer(Broken(3, 2), X, state, input_names=["X", "state"])
    assert errors[f"state[{broken}]"] > 0.99                  # |999n - n| / (999|n| + |n|)
    assert errors[f"state[{1 - broken}]"] < 1e-6              # the other array is still right
    with pytest.raises(AssertionError, match=rf"gradient of state\[{broken}\] is off"):
        assert_gradients_ok(errors)


@pytest.mark.parametrize("returned, message", [
    (lambda dX, dh0, dc0: (dX, (dh0,)),
     r"backward returned a tuple of 1 as the gradient of state, which is a tuple of 2"),
    (lambda dX, dh0, dc0: (dX, (dh0, dc0, dc0)),
     r"backward returned a tuple of 3 as the gradient of state, which is a tuple of 2"),
    (lambda dX, dh0, dc0: (dX, dh0),
     r"backward returned an array as the gradient of state, which is a tuple of 2"),
    (lambda dX, dh0, dc0: (dX, None),
     r"backward returned None as the gradient of state, which is a tuple of 2"),
    (lambda dX, dh0, dc0: (dX, (dh0, None)),
     r"backward returned no gradient for differentiable input state\[1\]"),
    (lambda dX, dh0, dc0: (dX,),
     r"backward returned 1 input gradient\(s\) for 2 differentiable inputs: none for state"),
], ids=["too short", "too long", "array", "None", "None inside", "missing"])
def test_a_state_gradient_nested_wrongly_fails_naming_it(returned, message):
    class Wrong(ToyLSTM):
        def backward(self, dHs, dstate=None):
            dX, (dh0, dc0) = super().backward(dHs, dstate)
            return returned(dX, dh0, dc0)

    X, state = toy_inputs(3, 2, 2, 3)
    with pytest.raises(AssertionError, match=message):
        check_layer(Wrong(2, 3), X, state, input_names=["X", "state"])


@pytest.mark.parametrize("wrong", [False, True])
def test_deeper_nesting_none_outputs_and_int_entries(wrong):
    """Inputs ``x, s = (a, (b, ids))``: every float array is checked (``s[1][0]`` two levels
    down), the int ids are skipped; the None output gets no upstream gradient."""
    rng = np.random.default_rng(5)
    x, a, b, ids = (rng.standard_normal((2, 3)), rng.standard_normal((2, 3)),
                    rng.standard_normal((4, 3)), np.array([0, 2]))
    seen = []

    def forward(x, s):
        a, (b, ids) = s
        return x * a, (np.sin(b[ids]), None)                  # outputs y, (z, None)

    def backward(dy, dz_and_none):
        seen.append(dz_and_none)
        dz, _ = dz_and_none
        db = np.zeros_like(b)
        db[ids] = dz * (np.sin(b[ids]) if wrong else np.cos(b[ids]))   # sin' = cos
        return dy * a, (dy * x, (db, None))

    errors = check_gradients(forward, backward, {}, {}, [x, (a, (b, ids))], input_names=["x", "s"])
    assert set(errors) == {"x", "s[0]", "s[1][0]"}
    assert seen[0][1] is None and seen[0][0].shape == (2, 3)
    if wrong:
        with pytest.raises(AssertionError, match=r"gradient of s\[1\]\[0\] is off"):
            assert_gradients_ok(errors)
    else:
        assert_gradients_ok(errors)


@pytest.mark.parametrize("wrap", [False, True])
def test_one_differentiable_tuple_input_may_get_its_gradient_alone(wrap):
    """A model's backward returns only ``dstate0``: ``(dh0, dc0)`` for the one differentiable
    input, not ``((dh0, dc0),)``; both spellings are accepted."""
    rng = np.random.default_rng(2)
    h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    def backward(dy):
        dstate0 = (dy * np.cos(h) * c, dy * np.sin(h))
        return (dstate0,) if wrap else dstate0

    errors = check_gradients(lambda s: np.sin(s[0]) * s[1], backward, {}, {}, [(h, c)],
                             input_names=["state"])
    assert set(errors) == {"state[0]", "state[1]"}
    assert_gradients_ok(errors)


def test_check_layer_casts_the_arrays_inside_a_tuple_state_to_float64():
    """check_layer's callers may pass float32 data (the training dtype); it casts every
    array, the state's too, and leaves the caller's arrays alone."""
    X, (h0, c0) = toy_inputs(3, 2, 2, 3)
    X32, state32 = X.astype(np.float32), (h0.astype(np.float32), c0.astype(np.float32))
    errors = check_layer(ToyLSTM(2, 3).astype(np.float32), X32, state32, input_names=["X", "state"])
    assert set(errors) == {"W", "U", "f", "X", "state[0]", "state[1]"}
    assert_gradients_ok(errors)
    assert all(a.dtype == np.float32 for a in (X32, *state32))


# ----------------------------------------------------------------- whole models, state (h,)
class ScaledStateLM(RNNLM):
    """An RNNLM whose backward returns ``scale_dh0`` times the right ``dL/dstate0``."""
    scale_dh0 = 1.0

    def backward(self, dlogits, dstate=None, keep=None):
        (dh0,) = super().backward(dlogits, dstate, keep)
        return (self.scale_dh0 * dh0,)


def prepared_lm(V=5, H=3, embed_dim=None, seed=0, scale_dh0=1.0):
    model = ScaledStateLM(V, H, embed_dim=embed_dim).astype(np.float64)
    randomize_params(model, np.random.default_rng([seed, 1]))
    model.scale_dh0 = scale_dh0
    return model


@pytest.mark.parametrize("embed_dim", [None, 2])
def test_check_model_checks_the_tuple_state(embed_dim):
    B, T, V, H = 2, 7, 5, 3
    rng = np.random.default_rng(1)
    X, state = rng.integers(0, V, size=(B, T)), (rng.standard_normal((1, B, H)),)
    model = prepared_lm(V, H, embed_dim, seed=4)
    errors = check_model(model, X, state)
    assert set(errors) == set(model.params) | {"state[0]"}
    assert_gradients_ok(errors)


def test_check_model_without_a_state_checks_the_parameters():
    rng = np.random.default_rng(2)
    model = prepared_lm(seed=2)
    errors = check_model(model, rng.integers(0, 5, size=(3, 4)))
    assert set(errors) == set(model.params)
    assert_gradients_ok(errors)


def test_check_model_fails_a_tuple_state_gradient_999_times_too_large():
    rng = np.random.default_rng(3)
    model = prepared_lm(seed=3, scale_dh0=999.0)
    errors = check_model(model, rng.integers(0, 5, size=(2, 6)), (rng.standard_normal((1, 2, 3)),))
    with pytest.raises(AssertionError, match=r"gradient of state\[0\] is off"):
        assert_gradients_ok(errors)
