"""The attention layers (``minirnn.layers.attention``): gradient checks of every input and
parameter with and without valid lengths, the masked softmax's exact zeros, bad lengths,
and a lockstep comparison with the book's formulas written in PyTorch."""
import numpy as np
import pytest

from minirnn.gradcheck import assert_gradients_ok, check_layer, randomize_params
from minirnn.layers import AdditiveAttention, DotProductAttention, masked_softmax

B, Q, K, DQ, DK, DV, H = 3, 4, 5, 3, 2, 4, 6
NAMES = ("queries", "keys", "values", "valid_lens")
LENGTHS = {"none": None, "per sequence": np.array([5, 1, 3]),
           "per query": np.array([[5, 4, 1, 2], [1, 1, 1, 1], [3, 5, 2, 4]])}


def inputs(seed, dq=DQ, dk=DK, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, Q, dq)).astype(dtype), rng.standard_normal((B, K, dk)).astype(dtype),
            rng.standard_normal((B, K, DV)).astype(dtype))


def additive(seed=0):
    layer = AdditiveAttention(DQ, DK, H, seed=seed, dtype=np.float64)
    randomize_params(layer, np.random.default_rng([seed, 1]), scale=0.8)
    return layer


@pytest.mark.parametrize("lengths", list(LENGTHS))
def test_additive_attention_gradients(lengths):
    layer = additive()
    errors = check_layer(layer, *inputs(1), LENGTHS[lengths], input_names=NAMES, seed=2)
    assert set(errors) == {"W_q", "W_k", "w_v", "queries", "keys", "values"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("lengths", list(LENGTHS))
def test_dot_product_attention_gradients(lengths):
    errors = check_layer(DotProductAttention(), *inputs(3, dk=DQ), LENGTHS[lengths],
                         input_names=NAMES, seed=4)
    assert set(errors) == {"queries", "keys", "values"}
    assert_gradients_ok(errors)


@pytest.mark.parametrize("make", [additive, DotProductAttention])
@pytest.mark.parametrize("lengths", ["per sequence", "per query"])
def test_weights_exactly_zero_past_the_valid_length(make, lengths):
    """alpha is 0 past each valid length, sums to 1 over the valid keys, and keys and values
    past the length neither change the output nor receive a gradient."""
    layer = make()
    q, k, v = inputs(5, dk=DK if isinstance(layer, AdditiveAttention) else DQ)
    valid = LENGTHS[lengths]
    out = layer.forward(q, k, v, valid)
    w = layer.attention_weights
    per_query = valid if valid.ndim == 2 else np.repeat(valid[:, None], Q, axis=1)
    past = np.arange(K) >= per_query[..., None]                    # (B, Q, K)
    assert w.shape == (B, Q, K) and past.any()
    assert np.all(w[past] == 0.0)                                  # exactly, not nearly
    assert np.all(w[~past] > 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
    dq, dk, dv = layer.backward(np.random.default_rng(6).standard_normal(out.shape))
    unused = past.all(axis=1)                                      # (B, K): no query reads key k
    assert unused.any()
    assert np.all(dk[unused] == 0) and np.all(dv[unused] == 0)
    k2, v2 = k.copy(), v.copy()
    k2[unused] += 100.0
    v2[unused] -= 100.0
    np.testing.assert_array_equal(layer.forward(q, k2, v2, valid), out)


def test_masked_softmax_is_the_books():
    """The book's example: lengths [2, 3] over 4 scores keep 2 and 3 nonzero weights."""
    scores = np.random.default_rng(0).random((2, 2, 4))
    w, mask = masked_softmax(scores, np.array([[2, 2], [3, 3]]))
    assert (w > 0).sum(-1).tolist() == [[2, 2], [3, 3]]
    e = np.exp(scores[0, 0, :2])
    np.testing.assert_allclose(w[0, 0, :2], e / e.sum(), rtol=1e-14)


@pytest.mark.parametrize("make", [lambda: AdditiveAttention(DQ, DK, H, seed=0), DotProductAttention])
def test_float32_stays_float32_and_weights_exactly_zero(make):
    layer = make()                                                 # float32 by default
    q, k, v = inputs(7, dk=DK if isinstance(layer, AdditiveAttention) else DQ, dtype=np.float32)
    out = layer.forward(q, k, v, np.array([2, 1, 4]))
    assert out.dtype == np.float32 and layer.attention_weights.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.backward(np.ones_like(out)))
    assert np.all(layer.attention_weights[0, :, 2:] == 0) and np.all(layer.attention_weights[1, :, 1:] == 0)


def test_backward_adds_parameter_gradients():
    layer = additive()
    q, k, v = inputs(8)
    out = layer.forward(q, k, v, np.array([5, 2, 3]))
    dout = np.random.default_rng(9).standard_normal(out.shape)
    first = layer.backward(dout)
    once = {n: g.copy() for n, g in layer.grads.items()}
    second = layer.backward(dout)                                  # the cache is not mutated
    for n, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[n], rtol=1e-12)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("valid, message", [
    (np.array([0, 2, 3]), r"valid_lens must be in \[1, 5\].*got 0"),
    (np.array([[5, 4, 1, 6]] * 3), r"valid_lens must be in \[1, 5\].*got 6"),
    (np.array([1, 2]), r"valid_lens must have shape \(3,\) or \(3, 4\), got \(2,\)"),
    (np.array([1.0, 2.0, 3.0]), r"valid_lens must be a numpy int array"),
    ([1, 2, 3], r"valid_lens must be a numpy int array"),
])
@pytest.mark.parametrize("make", [additive, DotProductAttention])
def test_bad_valid_lens_refused_in_one_line_before_anything_changes(make, valid, message):
    layer = make()
    q, k, v = inputs(10, dk=DK if isinstance(layer, AdditiveAttention) else DQ)
    layer.forward(q, k, v)
    cache, weights = layer.cache, layer.attention_weights
    with pytest.raises((ValueError, TypeError), match=message) as info:
        layer.forward(q, k, v, valid)
    assert "\n" not in str(info.value)
    assert layer.cache is cache and layer.attention_weights is weights


def test_bad_shapes_named():
    q, k, v = inputs(11)
    with pytest.raises(ValueError, match="queries and keys must have the same size d"):
        DotProductAttention().forward(q, k, v)
    with pytest.raises(ValueError, match="values must have one row per key"):
        additive().forward(q, k, v[:, :2])
    with pytest.raises(ValueError, match="queries must have last dimension 3"):
        additive().forward(k, k, v)
    with pytest.raises(TypeError, match="keys has dtype float32"):
        additive().forward(q, k.astype(np.float32), v)
    with pytest.raises(RuntimeError, match="before forward"):
        additive().backward(np.zeros((B, Q, DV)))


# ------------------------------------------------ lockstep with the book's formulas in torch
def torch_attention(torch, kind, q, k, v, valid, params=None):
    """The book's ``masked_softmax``, ``DotProductAttention`` and ``AdditiveAttention``
    written with torch (float64, autograd): -> (out, weights)."""
    if kind == "dot":
        scores = torch.bmm(q, k.transpose(1, 2)) / np.sqrt(q.shape[-1])
    else:
        W_q, W_k, w_v = params
        features = torch.tanh((q @ W_q).unsqueeze(2) + (k @ W_k).unsqueeze(1))
        scores = (features @ w_v.unsqueeze(-1)).squeeze(-1)
    if valid is not None:
        valid = torch.as_tensor(valid)
        if valid.dim() == 1:
            valid = torch.repeat_interleave(valid, scores.shape[1])
        else:
            valid = valid.reshape(-1)
        flat = scores.reshape(-1, scores.shape[-1])
        mask = torch.arange(flat.shape[1])[None, :] < valid[:, None]
        flat = torch.where(mask, flat, torch.tensor(-1e6, dtype=flat.dtype))
        scores = flat.reshape(scores.shape)
    weights = torch.softmax(scores, dim=-1)
    return torch.bmm(weights, v), weights


@pytest.mark.parametrize("kind", ["dot", "additive"])
@pytest.mark.parametrize("lengths", list(LENGTHS))
def test_lockstep_with_torch(kind, lengths):
    torch = pytest.importorskip("torch")
    layer = additive(3) if kind == "additive" else DotProductAttention()
    q, k, v = inputs(12, dk=DK if kind == "additive" else DQ)
    valid = LENGTHS[lengths]
    out = layer.forward(q, k, v, valid)
    dout = np.random.default_rng(13).standard_normal(out.shape)
    layer.zero_grad()
    dq, dk, dv = layer.backward(dout)

    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    params = None
    if kind == "additive":
        params = [torch.tensor(layer.params[n], requires_grad=True) for n in ("W_q", "W_k", "w_v")]
    t_out, t_weights = torch_attention(torch, kind, tq, tk, tv, valid, params)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.attention_weights, t_weights.detach().numpy(), rtol=1e-12, atol=0)
    for mine, theirs in zip((dq, dk, dv), (tq, tk, tv)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-13)
    if kind == "additive":
        for name, t in zip(("W_q", "W_k", "w_v"), params):
            np.testing.assert_allclose(layer.grads[name], t.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_benchmark_script_runs_tiny_and_checks_it_times_the_same_computation(tmp_path):
    """benchmarks/attention.py compares its gradients with PyTorch's before timing."""
    pytest.importorskip("torch")
    import json
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "attention.py"
    out = subprocess.run([sys.executable, str(script), "--tiny", "--repeats", "2", "--calls", "1",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| additive |" in out.stdout and "| dot |" in out.stdout
    rows = json.loads((tmp_path / "attention.json").read_text())
    assert [r["layer"] for r in rows] == ["dot", "additive"] and all(r["ratio"] > 0 for r in rows)
