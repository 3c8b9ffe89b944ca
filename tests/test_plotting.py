"""minirnn.plotting: the figures of the examples are PNG files, and bad input is one error."""
import numpy as np
import pytest

from minirnn.plotting import plot_accuracy_by_length, plot_running_mean


def test_plot_running_mean_writes_a_png(tmp_path):
    losses = np.linspace(3.0, 1.0, 250)
    for exp in (False, True):
        path = plot_running_mean(losses, tmp_path / f"loss_{exp}.png", "loss", "a run", exp=exp)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="non-empty 1-D"):
        plot_running_mean([], tmp_path / "empty.png", "loss", "a run")


def test_plot_accuracy_by_length_writes_a_png(tmp_path):
    accuracy = {"model": {20: 0.8, 50: 0.9}, "ngram": {20: 0.85, 50: 0.9},
                "majority": {20: 0.5, 50: 0.5}}
    labels = {"model": "GRU", "ngram": "3-gram", "majority": "majority class"}
    path = plot_accuracy_by_length(accuracy, tmp_path / "acc.png", labels, "Which book?")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="must have the keys"):
        plot_accuracy_by_length({"model": {20: 0.8}}, tmp_path / "bad.png", labels, "t")
