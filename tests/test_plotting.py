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


def test_plot_adding_problem_and_flow_panels_write_pngs(tmp_path):
    from minirnn.plotting import plot_adding_problem, plot_flow_panels
    mse = {"rnn": {10: 0.1, 50: 0.16}, "lstm": {10: 0.001, 50: 0.004}}
    path = plot_adding_problem(mse, tmp_path / "adding.png", "the adding problem")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    d = np.arange(9, -1, -1)
    panel = {"rnn": {"h": {"distance": d, "norm": 0.5 ** d, "rate": 0.5}},
             "lstm": {"h": {"distance": d, "norm": 0.9 ** d, "rate": 0.9},
                      "c": {"distance": d, "norm": 0.95 ** d, "rate": 0.95}}}
    path = plot_flow_panels([panel, panel], tmp_path / "flow.png", ["a", "b"], "flow")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="one entry per panel"):
        plot_flow_panels([panel], tmp_path / "bad.png", ["a", "b"], "flow")
