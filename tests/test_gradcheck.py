"""The gradient-check report: the command a user runs first, and its exit status."""
from pathlib import Path
import re
import subprocess
import sys

import numpy as np
import pytest

from minirnn import gradcheck
from minirnn.gradcheck import (assert_gradients_ok, check_gradients, check_layer, check_model,
                               numerical_gradient, randomize_params)
from minirnn.layers import RNNCell
from minirnn.models import RNNLM


def test_report_command_prints_every_layer_and_passes():
    out = subprocess.run([sys.executable, "-m", "minirnn.gradcheck"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for label in ("Linear", "Embedding", "Tanh", "ReLU", "RNNCell", "RNN tanh", "RNN relu",
                  "SoftmaxCrossEntropy", "MSELoss", "RNNLM one-hot", "RNNLM embedding"):
        assert label in out.stdout
    assert "all passed" in out.stdout and "FAIL" not in out.stdout.replace("FAILED", "")


def test_report_fails_when_a_derivative_is_wrong(monkeypatch, capsys):
    """Break dL/dZ_t inside the RNN's step and the report must say FAIL and main() must
    return 1."""
    from minirnn.layers import RNNCell

    real = RNNCell.step_grad

    def wrong(self, dh, h, dz, W_hh_T):
        dh_prev = real(self, dh, h, dz, W_hh_T)
        dz *= 1.01                                           # dL/dZ_t off by 1%
        return dh_prev
    monkeypatch.setattr(RNNCell, "step_grad", wrong)
    assert gradcheck.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "at entry (" in out               # the worst entry is named


def test_rel_error_formula():
    a, n = np.array([1.0, 0.0, -2.0]), np.array([1.0, 0.0, -1.0])
    assert gradcheck.rel_error(a, n) == 1 / 3                  # |-2 - -1| / (2 + 1)


def test_numerical_gradient_of_a_known_function():
    x = np.array([0.3, -1.2, 2.0])
    g = gradcheck.numerical_gradient(lambda: float(np.sum(np.sin(x) * x)), x)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-8)


def test_a_failure_names_the_worst_array_and_entry():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    n = a.copy()
    n[1, 0] = 3.3
    errors = {"W": gradcheck.rel_error(a, a), "b": gradcheck.rel_error(a, n)}
    assert errors["b"].index == (1, 0) and errors["b"] == pytest.approx(0.3 / 6.3)
    with pytest.raises(AssertionError, match=r"gradient of b is off .* at entry \(1, 0\): "
                                             r"analytic 3, numeric 3.3"):
        gradcheck.assert_gradients_ok(errors)
    gradcheck.assert_gradients_ok({"W": errors["W"]})
    with pytest.raises(AssertionError, match="compared no arrays"):
        gradcheck.assert_gradients_ok({})


# ----------------------------------------------------------------- refused arguments
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_numerical_gradient_refuses_anything_but_float64(dtype):
    x = np.array([0.5, -1.0], dtype=dtype)
    with pytest.raises(TypeError, match=rf"x has dtype {np.dtype(dtype).name}: .*need float64"):
        gradcheck.numerical_gradient(lambda: float(np.sum(x ** 2)), x)
    np.testing.assert_array_equal(x, np.array([0.5, -1.0], dtype=dtype))


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan"), float("inf")])
def test_numerical_gradient_refuses_a_bad_eps(eps):
    x = np.array([0.5, -1.0])
    with pytest.raises(ValueError, match=rf"eps must be a positive number, got {eps}"):
        gradcheck.numerical_gradient(lambda: float(np.sum(x ** 2)), x, eps=eps)


def _affine_check(W, x, eps=1e-6, wrt=None, extra=(), calls=None):
    """check_gradients on y = x W; ``calls`` records each call of forward."""
    calls = [] if calls is None else calls
    grads = {"W": np.zeros_like(W)}

    def forward(x, *rest):
        calls.append(1)
        return x @ W

    def backward(dy):
        grads["W"] += x.T @ dy                                # dL/dW = x^T dy
        return dy @ W.T                                       # dL/dx = dy W^T

    return gradcheck.check_gradients(forward, backward, {"W": W}, grads, [x, *extra], wrt=wrt,
                                     input_names=["x", "state"], eps=eps)


def test_check_gradients_refuses_float32_before_running_anything():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    errors = _affine_check(W, x, wrt=[0], extra=[(h, c)])    # all float64: runs and passes
    assert set(errors) == {"W", "x"}                          # (a state that y does not use)
    gradcheck.assert_gradients_ok(errors)
    f32 = np.float32
    for kwargs, message in [(dict(W=W.astype(f32), x=x), "W has dtype float32"),
                            (dict(W=W, x=x.astype(f32)), "x has dtype float32"),
                            (dict(W=W, x=x, extra=[(h, c.astype(f32))]),
                             r"state\[1\] has dtype float32")]:
        calls = []
        with pytest.raises(TypeError, match=message + ": gradient checks need float64"):
            _affine_check(**kwargs, wrt=[0], calls=calls)   # state refused though not in wrt
        assert calls == []


@pytest.mark.parametrize("eps", [0, -1e-6, float("nan"), float("inf")])
def test_check_gradients_refuses_a_bad_eps_before_running_anything(eps):
    rng = np.random.default_rng(0)
    calls = []
    with pytest.raises(ValueError, match=rf"eps must be a positive number, got {eps}"):
        _affine_check(rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), eps=eps, calls=calls)
    assert calls == []


def test_check_gradients_refuses_wrt_on_an_input_without_floats():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="wrt includes state, which holds no floating-point array"):
        _affine_check(rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), wrt=[1],
                      extra=[np.array([1, 2])])


def test_the_custom_layer_on_the_layers_page_runs_as_printed(capsys):
    """docs/layers-and-gradcheck.md's whole layer class, with add_param and its check: the
    page's code block, executed as it is printed."""
    import re
    from pathlib import Path
    page = (Path(__file__).resolve().parents[1] / "docs" / "layers-and-gradcheck.md").read_text()
    section = page[page.index("## Writing your own layer"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, "layers-and-gradcheck.md", "exec"), namespace)
    errors = namespace["errors"]
    assert set(errors) == {"W", "b", "a", "input0"} and max(errors.values()) < 1e-6
    layer = namespace["ScaledTanh"](3, 4)
    assert set(layer.grads) == {"W", "b", "a"} and layer.dtype == np.float32
    assert "{'W'" in capsys.readouterr().out
    assert "eps=1e-5" in section                               # the gated cells' eps, stated


def test_add_param_is_public_and_has_no_private_alias():
    from minirnn.layers import Layer
    layer = Layer()
    w = layer.add_param("w", np.ones(3))
    assert layer.params["w"] is w and layer.grads["w"].shape == (3,) and not layer.grads["w"].any()
    assert not hasattr(Layer, "_add_param")


def test_numerical_gradient_restores_and_rejects_ints():
    x = np.array([1.0, 2.0])

    def boom():
        raise RuntimeError("f failed")

    with pytest.raises(RuntimeError):
        numerical_gradient(boom, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])              # restored in `finally`
    with pytest.raises(TypeError, match="floating-point"):
        numerical_gradient(lambda: 0.0, np.array([1, 2]))


def test_python_dash_m_gradcheck_refuses_an_argument(capsys, monkeypatch):
    from minirnn import gradcheck

    def report():
        raise AssertionError("the checks ran")

    monkeypatch.setattr(gradcheck, "report", report)
    assert gradcheck.main(["--bogus"]) == 2
    err = capsys.readouterr().err
    assert err == ("python -m minirnn.gradcheck: error: unrecognized arguments: --bogus "
                   "(it takes none)\n")


# ----------------------------------------------------------------- nested inputs and outputs (states)
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
