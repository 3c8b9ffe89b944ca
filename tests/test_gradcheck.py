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


ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/step_through_backprop.py"
BREAKPOINT = re.compile(r"\bb (minirnn/[\w/]+\.py):(\d+)")


def example_breakpoints() -> list[tuple[str, int]]:
    """The ``b FILE:LINE`` commands the debugger example gives: what it prints, or, until it
    prints one, what its docstring says (docs/debugging.md sends the reader to the example
    for the line, so that no page has to follow the line numbers of the code)."""
    env = dict(os.environ, PYTHONPATH=".", MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    found = BREAKPOINT.findall(out.stdout) or BREAKPOINT.findall((ROOT / EXAMPLE).read_text())
    return [(path, int(line)) for path, line in found]


def test_debugging_page_breakpoint_points_at_the_backward_time_loop():
    """docs/debugging.md's instructions lead to a line of minirnn: keep it true."""
    page = (ROOT / "docs" / "debugging.md").read_text()
    assert f"PYTHONPATH=. python -m pdb {EXAMPLE}" in page, "docs/debugging.md lost its pdb command"
    assert "prints the breakpoint to set" in page, "docs/debugging.md lost its breakpoint instruction"
    breakpoints = example_breakpoints()
    assert breakpoints, f"{EXAMPLE} no longer says where to break"
    for path, n in breakpoints:
        source = (ROOT / path).read_text().splitlines()
        assert "for t in reversed(range(T))" in source[n - 1], f"{path}:{n} is not the loop"


def test_debugging_page_pdb_session_stops_in_the_backward_time_loop():
    """Drive pdb with docs/debugging.md's commands and check where it stops."""
    path, line = example_breakpoints()[0]
    env = dict(os.environ, PYTHONPATH=".", MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-m", "pdb", EXAMPLE],
                         input=f"b {path}:{line}\nc\nn\np dh_next.shape, t\nq\n",
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert f"{Path(path).name}({line})backward()" in out.stdout, out.stdout[-2000:]
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
