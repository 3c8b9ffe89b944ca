"""The physical limits of a training step on this machine, against minirnn's step.

    python benchmarks/limits.py --threads 1          # the 1.0 book's shape (H 32, B 1024, T 32)
    python benchmarks/limits.py --threads 2 --configs '1.0 scratch' '0.17 scratch'

Measured in one run, taking turns where it matters:

* **memory bandwidth**, STREAM's kernels as single NumPy passes over float32 arrays: copy
  (``b[:] = a``: 8 bytes moved a float), scale (``b = s a``: 8), add (``c = a + b``: 12),
  at 4 MB (one ``(T, B, H)`` array of the 1.0 shape: it stays in the 32 MB L3 cache) and at
  64 MB (main memory), split over the rows by ``minirnn._threads`` with ``--threads``;
* **transcendentals**: nanoseconds per element of NumPy's float32 ``exp`` and ``tanh``
  (SIMD), on 1 M elements;
* **the GEMM bound**: ``throughput.make_gemm_step`` (every matrix product of the step,
  nothing else) and minirnn's own step (``throughput.make_minirnn_step``), taking turns.

From those, the floors of the 1.0 step's elementwise part: its ``T*B*H`` tanh and
``T*B*V`` exp at the measured rate (no implementation avoids them: PyTorch computes the
same ones), and its memory traffic: the bytes per token that NumPy's passes move
(``TRAFFIC``: each ufunc or product reads its operands and writes its result once), at the
4 MB bandwidth.  Printed as Markdown tables.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput as tp                       # noqa: E402  (sets the BLAS threads first)

import argparse                               # noqa: E402
import time                                   # noqa: E402

import numpy as np                            # noqa: E402

import minirnn                                # noqa: E402
from minirnn._threads import for_rows         # noqa: E402

#: The passes over (T, B, .) arrays in one minirnn step at one-hot inputs: (phase, what,
#: h, v) for h hidden vectors (H floats) and v logit rows (V floats) read or written per
#: token.  Per-step arrays of the loops (B x H) count like the window-long ones.
TRAFFIC = [
    ("forward", "one-hot inputs (write)", 0, 1),
    ("forward", "input projections X W_xh (read X, write P)", 1, 1),
    ("forward", "+ b_h", 2, 0),
    ("forward", "per step: H_{t-1} W_hh (read, write), + (2 reads, write), tanh (read, write)", 7, 0),
    ("forward", "outputs H W_hq (read H, write logits), + b_q", 1, 3),
    ("loss", "max and min of the logits (the safe-range check)", 0, 2),
    ("loss", "e = exp(z) (read, write), s = e 1 (read)", 0, 3),
    ("backward", "dlogits = e (scale / s) (read, write)", 0, 2),
    ("backward", "dW_hq (read H, dlogits), db_q (read), dL/dH (read, write)", 2, 3),
    ("backward", "f'(Z) = 1 - H^2 (read, write; read, write)", 4, 0),
    ("backward", "per step: dL/dH + dh (2 reads, write), * f' (2 reads, write), dZ W_hh^T (read, write)", 8, 0),
    ("backward", "dW_xh (read X, dZ), dW_hh (read H, dZ), db_h (read dZ)", 4, 1),
]


def traffic_bytes(cfg: tp.Config, itemsize: int = 4) -> int:
    """Bytes per token that ``TRAFFIC``'s passes move at ``cfg`` (H and V from it)."""
    H, V = cfg.num_hiddens, cfg.vocab_size
    return sum(h * H + v * V for _, _, h, v in TRAFFIC) * itemsize


def time_best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bandwidth(nbytes: int, repeats: int) -> dict:
    """GB/s of copy, scale and add over float32 arrays of ``nbytes`` each, in row blocks."""
    n = nbytes // 4
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((n // 1024, 1024)).astype(np.float32) for _ in range(3))
    kernels = {"copy": (lambda r: np.copyto(b[r], a[r]), 8),
               "scale": (lambda r: np.multiply(a[r], np.float32(3), out=b[r]), 8),
               "add": (lambda r: np.add(a[r], b[r], out=c[r]), 12)}
    return {name: bytes_per * n / time_best(lambda: for_rows(k, len(a), 1024), repeats) / 1e9
            for name, (k, bytes_per) in kernels.items()}


def ns_per_element(ufunc, repeats: int) -> float:
    x = (2 * np.random.default_rng(1).standard_normal((1024, 1024))).astype(np.float32)
    y = np.empty_like(x)
    return 1e9 * time_best(lambda: for_rows(lambda r: ufunc(x[r], out=y[r]), 1024, 1024),
                           repeats) / x.size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=tp.THREADS)
    parser.add_argument("--configs", nargs="+", default=["1.0 scratch"],
                        choices=[c.name for c in tp.CONFIGS if c.cell == "rnn" and c.embed_dim is None])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    minirnn.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    bw = {size: bandwidth(size, args.repeats) for size in (4 << 20, 64 << 20)}
    rate = {"exp": ns_per_element(np.exp, args.repeats), "tanh": ns_per_element(np.tanh, args.repeats)}
    rows = []
    for name in args.configs:
        cfg = tp.BY_NAME[name]
        X, Y = tp.random_batch(cfg)
        steps = {"minirnn": tp.make_minirnn_step(tp.make_model(cfg), X, Y),
                 "gemm": tp.make_gemm_step(cfg)}
        times = tp.time_in_turns(steps, args.repeats, 3, 5)
        med = {k: float(np.median(t)) for k, t in times.items()}
        N, H, V = cfg.tokens, cfg.num_hiddens, cfg.vocab_size
        transcendental = N * (H * rate["tanh"] + V * rate["exp"]) * 1e-9
        traffic = traffic_bytes(cfg) * N / (bw[4 << 20]["add"] * 1e9)
        rows.append((cfg, med, transcendental, traffic))
    load1 = os.getloadavg()[0]
    given = sys.argv[1:] if argv is None else argv
    print(f"`python benchmarks/limits.py {' '.join(repr(a) if ' ' in a else a for a in given)}`: "
          f"{args.threads} thread(s), load average {load0:.1f} at the start, {load1:.1f} at the "
          f"end; median of {args.repeats} runs.\n")
    print("| memory bandwidth, GB/s | copy | scale | add |\n|---|---:|---:|---:|")
    for size, r in bw.items():
        print(f"| float32 arrays of {size >> 20} MB | {r['copy']:.1f} | {r['scale']:.1f} | {r['add']:.1f} |")
    print(f"\nfloat32 `exp`: {rate['exp']:.2f} ns an element; `tanh`: {rate['tanh']:.2f} ns.\n")
    print("| configuration | minirnn ms | GEMM bound ms | share | tanh + exp floor ms | "
          "traffic B/token | traffic floor ms (4 MB add) | GEMM + both floors ms | share of that |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cfg, med, transcendental, traffic in rows:
        floor = med["gemm"] + transcendental + traffic
        print(f"| {cfg.name} | {med['minirnn'] * 1e3:.1f} | {med['gemm'] * 1e3:.1f} | "
              f"{med['gemm'] / med['minirnn']:.0%} | {transcendental * 1e3:.1f} | "
              f"{traffic_bytes(cfg):,} | {traffic * 1e3:.1f} | {floor * 1e3:.1f} | "
              f"{floor / med['minirnn']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
