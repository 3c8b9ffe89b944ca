"""The attention examples run on tiny settings and write what they promise:
``examples/translate_dates.py`` (metrics.json with the three exact matches, the heatmaps)
and ``examples/attention_bottleneck.py`` (exact match by source length)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cwd, code=0):
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                         text=True, timeout=300, cwd=cwd, env=dict(os.environ, MPLBACKEND="Agg"))
    assert out.returncode == code, f"{script}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out


def test_translate_dates_tiny(tmp_path):
    out = run("translate_dates.py", "--num-train", "200", "--num-test", "40", "--epochs", "1",
              "--hidden", "8", "--beam", "2", "--out", str(tmp_path / "o"), cwd=tmp_path)
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    for key in ("exact_match", "exact_match_no_attention", "exact_match_beam"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["beam_size"] == 2 and len(metrics["by_format"]["attention"]) == 8
    for png in ("translate_dates_attention.png", "translate_dates.png"):
        assert (tmp_path / "o" / png).read_bytes()[:4] == b"\x89PNG"
    assert "held-out exact match" in out.stdout
    assert not list((tmp_path / "o").glob("*.tmp*"))           # written atomically


def test_attention_bottleneck_tiny(tmp_path):
    run("attention_bottleneck.py", "--num-train", "100", "--num-test", "40", "--epochs", "1",
        "--hidden", "8", "--out", str(tmp_path), cwd=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["by_length"]) == {"attention", "no attention"}
    assert list(metrics["by_length"]["attention"])[0] == "5-9"
    assert (tmp_path / "attention_bottleneck.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("script, args, message", [
    ("translate_dates.py", ["--beam", "0"], "--beam must be an integer in [1, 64], got '0'"),
    ("translate_dates.py", ["--num-train", "40000"], "--num-train must be an integer in [1, 30000]"),
    ("translate_dates.py", ["--cell", "rnn"], "--cell must be gru or lstm here, got rnn"),
    ("attention_bottleneck.py", ["--hidden", "0"], "--hidden must be an integer in [1, 65536], got '0'"),
])
def test_bad_flags_one_line_exit_2_nothing_written(tmp_path, script, args, message):
    out = run(script, *args, "--out", str(tmp_path / "o"), cwd=tmp_path, code=2)
    assert message in out.stderr and out.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()
