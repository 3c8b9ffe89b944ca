"""The attention layers' forward + backward, minirnn against PyTorch's same computation.

    python benchmarks/attention.py                  # B 128, Q = K = 32, sizes 128, one thread
    python benchmarks/attention.py --tiny --repeats 2   # seconds (the test)

Both sides compute, in float32 on one thread, the book's formulas: the masked softmax
with valid lengths (B,), scaled dot-product attention, and additive attention
``w_v^T tanh(W_q q + W_k k)`` (query, key and value size D, ``num_hiddens`` h); then the
backward pass from a fixed random upstream gradient, into the queries, keys, values and
(additive) ``W_q``, ``W_k``, ``w_v``.  PyTorch runs the same formulas with autograd.  The
two are timed in alternation, ``--repeats`` rounds of ``--calls`` calls each; the table
gives the median time of a forward + backward and the ratio PyTorch time / minirnn time
(1 = as fast as PyTorch; higher is faster), with the range over rounds.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one thread: set before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.layers import AdditiveAttention, DotProductAttention  # noqa: E402


def make_inputs(B, Q, K, D, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v, dout = (rng.standard_normal(s).astype(np.float32)
                     for s in ((B, Q, D), (B, K, D), (B, K, D), (B, Q, D)))
    valid = rng.integers(K // 2, K + 1, size=B)
    return q, k, v, valid, dout


def minirnn_step(layer, q, k, v, valid, dout):
    layer.forward(q, k, v, valid)
    return layer.backward(dout)


def torch_step(torch, kind, tensors, params, valid, dout):
    """The book's formulas with autograd: forward, then backward from ``dout``."""
    q, k, v = tensors
    for t in (q, k, v, *params):
        t.grad = None
    if kind == "dot":
        scores = torch.bmm(q, k.transpose(1, 2)) / q.shape[-1] ** 0.5
    else:
        W_q, W_k, w_v = params
        features = torch.tanh((q @ W_q).unsqueeze(2) + (k @ W_k).unsqueeze(1))
        scores = (features @ w_v.unsqueeze(-1)).squeeze(-1)
    mask = torch.arange(scores.shape[-1])[None, None, :] < valid[:, None, None]
    scores = scores.masked_fill(~mask, -1e6)
    out = torch.bmm(torch.softmax(scores, dim=-1), v)
    out.backward(dout)


def timed(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--queries", type=int, default=32)
    parser.add_argument("--keys", type=int, default=32)
    parser.add_argument("--size", type=int, default=128, help="D of queries, keys, values")
    parser.add_argument("--hidden", type=int, default=128, help="the additive layer's h")
    parser.add_argument("--repeats", type=int, default=7, help="rounds (default %(default)s)")
    parser.add_argument("--calls", type=int, default=5, help="calls per round")
    parser.add_argument("--tiny", action="store_true", help="B 4, Q = K = 3, sizes 8")
    parser.add_argument("--out", type=Path, help="also write attention.json here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch, args.queries, args.keys, args.size, args.hidden = 4, 3, 3, 8, 8
    if min(args.batch, args.queries, args.keys, args.size, args.hidden, args.repeats,
           args.calls) < 1:
        parser.error("every size, --repeats and --calls must be positive")
    import torch
    torch.set_num_threads(1)
    B, Q, K, D, h = args.batch, args.queries, args.keys, args.size, args.hidden
    q, k, v, valid, dout = make_inputs(B, Q, K, D)
    layers = {"dot": DotProductAttention(), "additive": AdditiveAttention(D, D, h, seed=0)}
    rows = []
    for kind, layer in layers.items():
        tensors = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        params = [torch.tensor(layer.params[n], requires_grad=True)
                  for n in ("W_q", "W_k", "w_v")] if kind == "additive" else []
        t_valid, t_dout = torch.tensor(valid), torch.tensor(dout)
        mine = lambda: minirnn_step(layer, q, k, v, valid, dout)          # noqa: E731
        theirs = lambda: torch_step(torch, kind, tensors, params, t_valid, t_dout)  # noqa: E731
        mine(), theirs()                                                  # warm up
        grads = minirnn_step(layer, q, k, v, valid, dout)
        for a, t in zip(grads, tensors):                                  # the same computation
            np.testing.assert_allclose(a, t.grad.numpy(), rtol=2e-3, atol=2e-4)
        t_mine, t_theirs = [], []
        for _ in range(args.repeats):                                     # interleaved rounds
            t_mine.append(timed(mine, args.calls))
            t_theirs.append(timed(theirs, args.calls))
        ratios = np.array(t_theirs) / np.array(t_mine)
        rows.append({"layer": kind, "minirnn_ms": 1e3 * float(np.median(t_mine)),
                     "torch_ms": 1e3 * float(np.median(t_theirs)),
                     "ratio": float(np.median(t_theirs) / np.median(t_mine)),
                     "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max())})
    print(f"B {B}, Q {Q}, K {K}, D {D}, h {h}, float32, one thread; numpy {np.__version__}, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print("| layer | minirnn ms (fwd + bwd) | PyTorch ms | PyTorch time / minirnn time (range) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['minirnn_ms']:.2f} | {r['torch_ms']:.2f} | {r['ratio']:.2f} "
              f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |")
    if args.out:
        from minirnn._files import atomic_write_text
        atomic_write_text(args.out / "attention.json", json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
