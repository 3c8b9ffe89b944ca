"""The example scripts run, on tiny settings, and save the figures they promise.

(The full-size runs are the numbers in docs/; here only that the scripts still work.)
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                         text=True, timeout=300, cwd=cwd, env=env)
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert "\r" not in out.stderr and "it/s" not in out.stderr, \
        f"{script} wrote progress-bar text into a redirected stderr:\n{out.stderr[-500:]}"
    return out.stdout


@pytest.mark.parametrize("script, args, figures", [
    ("text_preprocessing.py", [], ["text_preprocessing.png"]),
    ("language_model_statistics.py", [], ["zipf.png", "ngram_perplexity.png"]),
    ("sequence.py", ["--runs", "1", "--no-progress"], ["sequence_k_step.png", "sequence_multistep.png"]),
    ("bptt.py", ["--epochs", "2", "--hidden", "16", "--no-progress"],
     ["bptt_perplexity.png", "bptt_gradient_flow_rnnlm.png", "bptt_gradient_flow_linear.png"]),
    ("rnn_scratch.py", ["--epochs", "2", "--hidden", "16", "--no-progress"], ["rnn_scratch_perplexity.png"]),
    ("rnn_concise.py", ["--epochs", "2", "--hidden", "16"], ["rnn_concise_perplexity.png"]),
])
def test_example_runs_and_saves_its_figures(script, args, figures, tmp_path):
    if script != "sequence.py" and not os.environ.get("MINIRNN_DATA"):
        if os.environ.get("CI"):
            pytest.fail("MINIRNN_DATA must name the folder holding timemachine.txt in CI")
        pytest.skip("MINIRNN_DATA not set: the example needs The Time Machine")
    out = tmp_path / "figs"
    run(script, *args, "--out", str(out), cwd=tmp_path)
    for name in figures:
        assert (out / name).stat().st_size > 10_000, name


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_opens_cell_by_cell(script):
    """``# %%`` cells (VS Code, Jupyter with jupytext): the imports first, the run last."""
    import ast
    source = (EXAMPLES / script).read_text()
    cells = [i + 1 for i, line in enumerate(source.splitlines()) if line.startswith("# %%")]
    assert len(cells) >= 2, f"{script} has {len(cells)} cells"
    first_import = min(node.lineno for node in ast.parse(source).body
                       if isinstance(node, (ast.Import, ast.ImportFrom)))
    assert cells[0] < first_import, f"{script}: the first cell starts after its imports"


def test_gated_cells_saves_its_figures_and_metrics(tmp_path):
    """A tiny setting (about 10 s): the two figures, and metrics.json with the adding
    problem's test MSE for every cell and length and every gradient-flow rate, finite."""
    import json
    import math
    if not os.environ.get("MINIRNN_DATA"):
        if os.environ.get("CI"):
            pytest.fail("MINIRNN_DATA must name the folder holding timemachine.txt in CI")
        pytest.skip("MINIRNN_DATA not set: the example needs The Time Machine")
    out = tmp_path / "figs"
    run("gated_cells.py", "--lengths", "10", "20", "--updates", "50", "--hidden", "16",
        "--test-size", "100", "--lm-hidden", "16", "--lm-updates", "5", "--flow-seqs", "2",
        "--out", str(out), cwd=tmp_path)
    for name in ("gated_cells_gradient_flow.png", "gated_cells_adding.png"):
        assert (out / name).stat().st_size > 10_000, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["adding"]) == {"rnn", "gru", "lstm"}
    for cell, by_length in metrics["adding"].items():
        assert set(by_length) == {"10", "20"}, cell
        assert all(math.isfinite(v) and v >= 0 for v in by_length.values()), by_length
    for cell, flow in metrics["gradient_flow"].items():
        rates = [r for when in ("init", "trained") for r in flow[when].values()]
        assert rates and all(math.isfinite(r) and r > 0 for r in rates), (cell, flow)
    assert set(metrics["gradient_flow"]["lstm"]["trained"]) == {"h", "c"}
