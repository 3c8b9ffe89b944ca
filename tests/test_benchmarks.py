"""The benchmark scripts run on a tiny setting, and what they time is the same work: the
naive loop and the PyTorch model compute minirnn's loss and gradients.  (Benchmarks are
not timed here: speed is measured by the scripts, not asserted by the suite.)"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirnn.gradcheck import randomize_params
from minirnn.losses import SoftmaxCrossEntropy

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def throughput():
    spec = importlib.util.spec_from_file_location("throughput", BENCH / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name, *args, timeout=120):
    out = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def minirnn_loss_and_grads(model, X, Y):
    loss_fn = SoftmaxCrossEntropy()
    model.zero_grad()
    logits, _ = model.forward(X)
    loss = loss_fn.forward(logits, Y)
    model.backward(loss_fn.backward())
    return loss, {k: g.copy() for k, g in model.grads.items()}


def test_throughput_script_runs_tiny_and_writes_its_tables(tmp_path):
    run_script("throughput.py", "--tiny", "--no-torch", "--choices", "--threads", "1",
               "--out", str(tmp_path))
    table = (tmp_path / "throughput.md").read_text()
    assert "| configuration | H | B | T | V | E | minirnn tokens/s" in table
    assert "| tiny one-hot | 8 | 3 | 4 | 5 | one-hot |" in table
    assert "| tiny embedding | 8 | 3 | 4 | 5 | 3 |" in table
    assert table.count("| one-hot inputs: X W_xh and dW_xh |") == 2     # both book shapes
    results = json.loads((tmp_path / "throughput.json").read_text())
    assert [r["config"]["name"] for r in results] == ["tiny one-hot", "tiny embedding"]
    for r in results:
        assert set(r["tokens_per_s"]) == {"minirnn", "gemm", "naive", "minirnn_paired"}
        assert all(rate > 0 for rate in r["tokens_per_s"].values())
        memory = r["memory"]
        assert memory["traced_peak"] >= memory["nominal"]["params"] + memory["nominal"]["grads"] > 0


def test_scaling_script_runs_tiny_and_writes_table_and_figure(tmp_path):
    run_script("scaling.py", "--tiny", "--threads", "1", "--repeats", "2", "--out", str(tmp_path))
    rows = [line for line in (tmp_path / "scaling.md").read_text().splitlines()
            if line.startswith(("| hidden", "| batch", "| num_steps"))]
    assert len(rows) == 9                                      # three sweeps of three points
    assert sum("time ~ " in row for row in rows) == 3          # one fitted growth per sweep
    png = (tmp_path / "scaling.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_naive_loop_computes_minirnn_loss_and_gradients(throughput):
    """The speed-up over the naive loop compares equal work: same loss, same gradients."""
    for cfg in throughput.TINY:
        model = throughput.make_model(cfg, dtype=np.float64)
        randomize_params(model, np.random.default_rng(1))
        X, Y = throughput.random_batch(cfg, seed=2)
        loss, grads = minirnn_loss_and_grads(model, X, Y)
        naive_loss, naive_grads = throughput.naive_loss_and_grads(model.params, X, Y)
        assert naive_loss == pytest.approx(loss, rel=1e-12)
        assert set(naive_grads) == set(grads)
        for k in grads:
            np.testing.assert_allclose(naive_grads[k], grads[k], rtol=1e-10, atol=1e-14, err_msg=k)


def test_naive_loop_disagrees_when_a_weight_differs(throughput):
    """The comparison above can fail: perturb one weight of the naive copy."""
    cfg = throughput.TINY[0]
    model = throughput.make_model(cfg, dtype=np.float64)
    randomize_params(model, np.random.default_rng(1))
    X, Y = throughput.random_batch(cfg, seed=2)
    loss, grads = minirnn_loss_and_grads(model, X, Y)
    params = {k: p.copy() for k, p in model.params.items()}
    params["rnn.W_hh"][0, 0] += 1e-3
    naive_loss, naive_grads = throughput.naive_loss_and_grads(params, X, Y)
    assert not np.allclose(naive_grads["rnn.W_hh"], grads["rnn.W_hh"], rtol=1e-10, atol=1e-14)


def test_torch_model_computes_minirnn_loss_and_gradients(throughput):
    torch = pytest.importorskip("torch")
    for cfg in throughput.TINY:
        model = throughput.make_model(cfg)
        randomize_params(model, np.random.default_rng(3))
        X, Y = throughput.random_batch(cfg, seed=4)
        loss, grads = minirnn_loss_and_grads(model, X, Y)
        net = throughput.make_torch_model(cfg, model)
        logits = net(torch.from_numpy(np.ascontiguousarray(X.T)))
        torch_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, cfg.vocab_size), torch.from_numpy(np.ascontiguousarray(Y.T)).reshape(-1))
        torch_loss.backward()
        assert torch_loss.item() == pytest.approx(loss, rel=1e-5)
        torch_grads = {"rnn.W_xh": net.rnn.weight_ih_l0.grad.T, "rnn.W_hh": net.rnn.weight_hh_l0.grad.T,
                       "rnn.b_h": net.rnn.bias_ih_l0.grad, "output.W": net.output.weight.grad.T,
                       "output.b": net.output.bias.grad}
        if cfg.embed_dim is not None:
            torch_grads["embedding.W"] = net.embedding.weight.grad
        assert set(torch_grads) == set(grads)
        for k, g in torch_grads.items():
            np.testing.assert_allclose(g.numpy(), grads[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_cache_bytes_counts_each_window_array(throughput):
    """T B D inputs + (T+1) B H states + 2 T B H gradients + 3 T B V (logits, softmax, dlogits)."""
    cfg = throughput.Config("c", vocab_size=7, num_hiddens=5, batch_size=3, num_steps=2, embed_dim=4)
    assert throughput.cache_bytes(cfg, itemsize=4) == 4 * (2 * 3 * 4 + 3 * 3 * 5 + 2 * 2 * 3 * 5
                                                           + 3 * 2 * 3 * 7)


@pytest.mark.parametrize("args,message", [(["--repeats", "0"], "--repeats must be at least 1, got 0"),
                                          (["--block", "-2"], "--block must be at least 1, got -2"),
                                          (["--configs", "nope"], "invalid choice: 'nope'")])
def test_bad_arguments_are_named(throughput, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        throughput.main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_trainer_runs_the_books_recipe_step_for_step_as_pytorch(capsys):
    """d2l-1.0: minirnn's Trainer and the book's scratch recipe written in PyTorch, from the
    same weights on the same batches, stay together to float32 rounding.  (Clipping never
    acts in this preset, whose gradient norm stays below 0.6; test_optim covers it.)"""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("torch_reference", BENCH / "torch_reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    records = reference.run_match(seed=0, epochs=2)
    assert len(records) == 2
    for r in records:
        assert r["torch_train_ppl"] == pytest.approx(r["train_ppl"], rel=1e-4)
        assert r["torch_val_ppl"] == pytest.approx(r["val_ppl"], rel=1e-4)
        assert r["max_weight_diff"] < 1e-3
    assert records[1]["val_ppl"] < records[0]["val_ppl"]        # and it learned something
    assert "| 2 |" in capsys.readouterr().out
