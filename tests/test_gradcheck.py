"""The gradient-check report: the command a user runs first, and its exit status."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirnn import gradcheck


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
