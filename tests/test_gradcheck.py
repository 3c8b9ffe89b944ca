"""The gradient-check report: the command a user runs first, and its exit status."""
import subprocess
import sys

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
    """Break tanh' inside RNN and the report must say FAIL and main() must return 1."""
    import minirnn.layers as layers

    real = layers.activation_grad
    monkeypatch.setattr(layers, "activation_grad",
                        lambda h, nl: real(h, nl) * (1.01 if nl == "tanh" else 1.0))
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


def test_readme_breakpoint_points_at_the_backward_time_loop():
    """The README's debugger instructions name a line of minirnn/layers.py: keep it true."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = re.findall(r"b minirnn/layers\.py:(\d+)", (root / "README.md").read_text())
    assert lines, "README lost its breakpoint instruction"
    source = (root / "minirnn" / "layers.py").read_text().splitlines()
    for n in lines:
        assert "for t in reversed(range(T))" in source[int(n) - 1], f"layers.py:{n} is not the loop"


def test_readme_pdb_session_stops_in_the_backward_time_loop():
    """Drive pdb with the README's commands and check where it stops."""
    import os
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    line = re.search(r"b minirnn/layers\.py:(\d+)", (root / "README.md").read_text()).group(1)
    env = dict(os.environ, PYTHONPATH=".", MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-m", "pdb", "examples/step_through_backprop.py"],
                         input=f"b minirnn/layers.py:{line}\nc\nn\np dh_next.shape, t\nq\n",
                         capture_output=True, text=True, cwd=root, env=env, timeout=120)
    assert f"layers.py({line})backward()" in out.stdout, out.stdout[-2000:]
    assert "((1, 3), 2)" in out.stdout                       # in the loop: dh_next (B, H), t = T-1


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
