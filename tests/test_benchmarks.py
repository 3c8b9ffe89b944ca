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
    assert "| configuration | layer | H | B | T | V | E | minirnn tokens/s" in table
    assert "| tiny one-hot | RNN | 8 | 3 | 4 | 5 | one-hot |" in table
    assert "| tiny embedding | RNN | 8 | 3 | 4 | 5 | 3 |" in table
    assert "| tiny GRU | GRU (PyTorch's) | 8 | 3 | 4 | 5 | one-hot |" in table
    assert "| tiny GRU book | GRU (book's) | 8 | 3 | 4 | 5 | one-hot |" in table
    assert "| tiny deep LSTM | LSTM x 2 | 8 | 3 | 4 | 5 | one-hot |" in table
    assert table.count("| one-hot inputs: X W_xh and dW_xh |") == 2     # both book shapes
    assert "CPU time of a step" in table and "| tiny deep LSTM | " in table.split("CPU time")[1]
    results = json.loads((tmp_path / "throughput.json").read_text())
    assert [r["config"]["name"] for r in results] == ["tiny one-hot", "tiny embedding", "tiny GRU",
                                                      "tiny GRU book", "tiny deep LSTM"]
    for r in results:
        naive = {"naive", "minirnn_paired"} if r["config"]["cell"] == "rnn" else set()
        assert set(r["tokens_per_s"]) == {"minirnn", "gemm"} | naive    # no naive gated loop
        assert all(rate > 0 for rate in r["tokens_per_s"].values())
        assert set(r["cpu_median_s"]) == set(r["median_s"])            # CPU time of each too
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
    for cfg in [c for c in throughput.TINY if c.has_naive]:
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
    """RNN, PyTorch's GRU and a 2-layer LSTM: the same loss and every gradient, read in
    PyTorch's names (``minirnn.interop``; a summed bias has its gradient in both of torch's)."""
    torch = pytest.importorskip("torch")
    from minirnn.interop import to_torch_state_dict
    checked = set()
    for cfg in throughput.TINY:
        if not cfg.has_torch:
            with pytest.raises(ValueError, match="book's GRU"):
                throughput.make_torch_model(cfg, throughput.make_model(cfg))
            continue
        model = throughput.make_model(cfg)
        randomize_params(model, np.random.default_rng(3))
        X, Y = throughput.random_batch(cfg, seed=4)
        loss, _ = minirnn_loss_and_grads(model, X, Y)
        net = throughput.make_torch_model(cfg, model)
        logits = net(torch.from_numpy(np.ascontiguousarray(X.T)))
        torch_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, cfg.vocab_size), torch.from_numpy(np.ascontiguousarray(Y.T)).reshape(-1))
        torch_loss.backward()
        assert torch_loss.item() == pytest.approx(loss, rel=1e-5)
        grads = to_torch_state_dict(model, which="grads")
        torch_grads = {k: p.grad.numpy() for k, p in net.named_parameters()}
        assert set(torch_grads) == set(grads)
        for k, g in torch_grads.items():
            np.testing.assert_allclose(g, grads[k], rtol=1e-4, atol=1e-6,
                                       err_msg=f"{cfg.name}: {k}")
        checked.add((cfg.cell, cfg.num_layers))
    assert checked == {("rnn", 1), ("gru", 1), ("lstm", 2)}


def test_torch_step_without_onednn_is_the_same_step(throughput):
    """``--torch-no-onednn`` times the same step (the LSTM's loss before the update)."""
    pytest.importorskip("torch")
    cfg = throughput.BY_NAME["tiny deep LSTM"]
    X, Y = throughput.random_batch(cfg)
    losses = [throughput.make_torch_step(cfg, throughput.make_model(cfg), X, Y, 1, onednn)()
              for onednn in (True, False)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_gemm_bound_has_every_weight_in_three_products_of_all_tokens(throughput):
    """Forward, data gradient, weight gradient: 2 N |W| flops each, N = T*B, for every weight
    matrix of the model (the output layer's too); one-hot inputs skip the first layer's
    data gradient.  The embedding is a lookup, no product."""
    for cfg in throughput.TINY + [c for c in throughput.CONFIGS if c.cell != "rnn"]:
        model = throughput.make_model(cfg)
        N = cfg.batch_size * cfg.num_steps
        expected = 0
        for name, p in model.params.items():
            if p.ndim != 2 or name.startswith("embedding."):
                continue
            first_input = name in ("rnn.W_xh", "rnn.W_x", "rnn.l0.W_x")
            uses = 2 if first_input and cfg.embed_dim is None else 3
            expected += uses * 2 * N * p.size
        assert throughput.gemm_flops(throughput.gemm_products(cfg)) == expected, cfg.name


def test_gemm_bound_keeps_the_layers_operand_layouts(throughput):
    """Per step, the book's GRU multiplies by column blocks of W_h, PyTorch's GRU and the
    LSTM by all of it; the backward loop by contiguous transposes, dL/dX by a view."""
    def per_step(cfg):
        B, H = cfg.batch_size, cfg.num_hiddens
        return [(a.shape, b.shape, b.flags.c_contiguous)
                for a, b, _ in throughput.gemm_products(cfg) if a.shape[0] == B]
    cfg = throughput.BY_NAME["tiny GRU book"]
    B, H, T = cfg.batch_size, cfg.num_hiddens, cfg.num_steps
    assert per_step(cfg) == (T * [((B, H), (H, 2 * H), True), ((B, H), (H, H), True)]
                             + T * [((B, H), (H, H), True), ((B, 2 * H), (2 * H, H), True)])
    cfg = throughput.BY_NAME["tiny deep LSTM"]
    assert per_step(cfg) == (2 * T * [((B, H), (H, 4 * H), True)]
                             + 2 * T * [((B, 4 * H), (4 * H, H), True)])
    N = T * B                                                    # layer 1's dL/dX = dA W_x^T:
    dX = [(a, b) for a, b, out in throughput.gemm_products(cfg) if out.shape == (N, H)
          and a.shape == (N, 4 * H)]                             # the one product into (N, H)
    assert len(dX) == 1 and dX[0][1].shape == (4 * H, H) and not dX[0][1].flags.c_contiguous


def test_cache_bytes_counts_each_window_array(throughput):
    """T B D inputs + (T+1) B H states + 2 T B H gradients + 3 T B V (logits, softmax, dlogits)."""
    cfg = throughput.Config("c", vocab_size=7, num_hiddens=5, batch_size=3, num_steps=2, embed_dim=4)
    assert throughput.cache_bytes(cfg, itemsize=4) == 4 * (2 * 3 * 4 + 3 * 3 * 5 + 2 * 2 * 3 * 5
                                                           + 3 * 2 * 3 * 7)
    # gated, per layer: + gates and dL/dA 2 x T B G H; GRU + one or two T B H; LSTM + C, tanh C
    T, B, H, V, D = 2, 3, 5, 7, 4
    out, states, inputs = 3 * T * B * V, (T + 1) * B * H, T * B * D
    gru = cfg._replace(cell="gru")
    assert throughput.cache_bytes(gru) == 4 * (out + inputs + states + T * B * H
                                               + 2 * T * B * 3 * H + T * B * H)
    assert throughput.cache_bytes(gru._replace(reset_after=True)) == 4 * (
        out + inputs + states + T * B * H + 2 * T * B * 3 * H + 2 * T * B * H)
    lstm = cfg._replace(cell="lstm", num_layers=2)                # the backward's: one layer's
    kept = states + T * B * 4 * H + states + T * B * H
    assert throughput.cache_bytes(lstm) == 4 * (out + inputs + kept + T * B * H + kept
                                                + T * B * H + T * B * 4 * H)


def test_cache_bytes_holds_what_the_layers_keep(throughput):
    """The forward's part of ``cache_bytes`` is every array in the recurrent layers' caches
    (each layer's ``cache``); the rest is the output side's 3 T B V and one layer's dL/dH
    and dL/dA (T B G H), with PyTorch's GRU's da_h * R_t (T B H)."""
    for cfg in throughput.TINY:
        model = throughput.make_model(cfg)
        model.forward(*throughput.random_batch(cfg)[:1])
        copies = [model.rnn] if model.rnn.layers is None else [c[0] for c in model.rnn.layers]
        kept = sum(a.nbytes for layer in copies for a in layer.cache if a is not None)
        T, B, H, G = cfg.num_steps, cfg.batch_size, cfg.num_hiddens, cfg.gates
        built = T * B * (H + G * H + (H if cfg.reset_after else 0))
        expected = kept + 4 * (3 * T * B * cfg.vocab_size + built)
        assert throughput.cache_bytes(cfg) == expected, cfg.name


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


# ----------------------------------------------------------------- ab_step.py
def run_script(name, *args, timeout=300):
    out = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_ab_step_compares_a_commit_with_this_checkout_in_one_table():
    out = run_script("ab_step.py", "--baseline", "HEAD", "--threads", "1", "2", "--shapes",
                     "concise", "--pairs", "2", "--steps", "1")
    assert "`python benchmarks/ab_step.py --baseline HEAD --shapes concise --pairs 2 --steps 1`" in out
    rows = [line for line in out.splitlines() if line.startswith("| 1 | concise") or
            line.startswith("| 2 | concise")]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 8 and all(len(c.split(", ")) == 2 for c in cells[2:])


def test_ab_step_alone_prints_one_checkouts_step_time():
    out = run_script("ab_step.py", "concise", "--steps", "1")
    assert float(out.strip()) > 0


# ----------------------------------------------------------------- calls.py
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_a_training_step_is_a_short_walk_through_minirnn(cell):
    """One train_step of the command line's default model size: at most 150 calls of
    minirnn's own functions and at most 5 minirnn frames below train_step (a count, not a
    time: the same on any machine)."""
    spec = importlib.util.spec_from_file_location("calls", BENCH / "calls.py")
    calls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calls)
    result = calls.profile_step(cell)
    assert result["calls"] <= 150 and result["depth"] <= 5, (result["calls"], result["deepest"])
    module, name = {"rnn": ("recurrent", "RNN"), "gru": ("gated", "GRU"), "lstm": ("lstm", "LSTM")}[cell]
    assert result["by_function"][f"{module}.py:{name}Cell.step_grad"] == 32   # the cell, each step
