"""The docs pages' numbers that are cheap to compute, held to what the code computes."""
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirnn.layers import Linear
from minirnn.linear_rnn import power_alignment, random_symmetric, spectral_radius_demo
from minirnn.models import MLP
from minirnn.sequence import k_step_ahead, prediction_mse, sine_series, train_regressor, window_series

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def page_text(page: str) -> str:
    """``docs/<page>`` with every run of whitespace made one space (prose wraps anywhere)."""
    return " ".join((DOCS / page).read_text(encoding="utf-8").split())


def short(x: float) -> str:
    """Two digits as the pages write them: 1.02e-05 -> '1.0e-5', 4310.0 -> '4.3e3'."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def table_row(page: str, label: str) -> list[float]:
    """The numbers of the table row of ``docs/<page>`` that starts with ``| label |``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [float(cell.replace(",", "")) for cell in row.split("|")[2:-1]]


def test_sequence_page_k_step_errors_are_what_the_code_gives():
    """docs/sequence-models.md's k-step table (examples/sequence.py, seed 0): the book's
    MLP with Adam and the 1.0 book's linear regression with SGD, 5 epochs each."""
    x = sine_series(1000, seed=0)[1]
    w = window_series(x, 4, 600)
    for label, net, optimizer in [
            ("validation MSE, MLP, tau = 4", MLP(4, 10, 1, seed=0), "adam"),
            ("validation MSE, linear regression (the 1.0 book), tau = 4",
             Linear(4, 1, seed=0, init="normal", sigma=0.01), "sgd")]:
        train_regressor(net, *w.train, num_epochs=5, lr=0.01, batch_size=16, seed=0,
                        progress=False, optimizer=optimizer)
        errors = [prediction_mse(p, x, w.val_start) for p in k_step_ahead(net, x, 4, (1, 4, 16, 64)).values()]
        np.testing.assert_allclose(errors, table_row("sequence-models.md", label), atol=5e-4,
                                   err_msg=label)


def test_bptt_page_linear_rnn_and_matrix_powers_are_what_the_code_gives():
    """docs/bptt.md's numbers from examples/bptt.py that need no training: the linear RNN's
    fitted rates at spectral radius 0.9 / 1.0 / 1.1 (16 hidden units, 100 steps, seed 0)
    and how powers of a random symmetric 8 x 8 matrix turn to its top eigenvector."""
    text = page_text("bptt.md")
    demo = spectral_radius_demo((0.9, 1.0, 1.1), num_hiddens=16, num_steps=100, seed=0)
    rates = " / ".join(f"{rate:.6f}" for _, rate in demo.values())
    assert f"in the linear RNN with a symmetric `W_hh` they are {rates}:" in text
    shrunk, grown = (short(flow.dh_norms[0] / flow.dh_norms[-1]) for flow, _ in (demo[0.9], demo[1.1]))
    assert f"after 99 steps the gradient has shrunk to {shrunk} or grown {grown} times" in text

    rng = np.random.default_rng(0)
    W = random_symmetric(8, rng)
    align = power_alignment(W, rng.standard_normal(8), 60)
    cos = f"{align.cos[0]:.3f}, {align.cos[5]:.4f}, {align.cos[10]:.5f}"
    assert f"(|cos| {cos} at k = 0, 5, 10)" in text
    ks = np.arange(30, 61)
    rate = np.exp(np.polyfit(ks, np.log(align.tan[ks]), 1)[0])
    lam = np.sort(np.abs(np.linalg.eigvalsh(W)))[::-1]
    assert f"shrinking by {rate:.4f} a power, its `|lambda_2 / lambda_1|`" in text
    assert f"{lam[1] / lam[0]:.4f}" == f"{rate:.4f}"


def test_bptt_page_full_bptt_refusal_is_what_the_command_prints(tmp_path):
    """docs/bptt.md quotes the error of a full-BPTT run over all of Tiny Shakespeare."""
    root = os.environ.get("MINIRNN_DATA")
    if not (root and (Path(root) / "tinyshakespeare.txt").is_file()):
        reason = f"tinyshakespeare.txt not found in MINIRNN_DATA={root!r}"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI needs the real corpus: {reason}")
        pytest.skip(reason)
    command, message = re.search(r"`(minirnn train [^`]*--bptt full)` stops with `([^`]*)`",
                                 page_text("bptt.md")).groups()
    out = subprocess.run([sys.executable, "-m", "minirnn", *shlex.split(command)[1:]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_performance_page_nominal_memory_is_what_the_benchmark_computes():
    """docs/performance.md's nominal MB (parameters + gradients + BPTT caches + batch) are
    arithmetic on the shapes: both memory tables must give what benchmarks/throughput.py
    computes for each configuration."""
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    throughput = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(throughput)
    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    for cfg in throughput.CONFIGS:
        nominal = throughput.nominal_bytes(cfg, throughput.make_model(cfg))
        parts = " + ".join(f"{nominal[k] / 1e6:.2f}" for k in ("params", "grads", "caches", "batch"))
        cell = f"| {cfg.name} | {sum(nominal.values()) / 1e6:.2f} = {parts} |"
        assert text.count(cell) == 2, cell                   # the one- and the two-thread table
