"""What padding costs: one forward and backward of a recurrent layer over a padded batch,
against the fraction of the batch that is padding.

The batch is ``(T, B, D)``; sequence lengths are spread evenly so that a fraction ``p``
of the ``T * B`` positions is padding (``p = 0``: every sequence T steps).  For each ``p``
and cell it times, taking turns in one run (median CPU time of ``--repeats`` rounds):

* ``lengths``: ``forward(X, lengths=...)`` and ``backward``: the time loop works on the
  sequences still running, the products outside it see the whole padded array;
* ``no lengths``: the same padded array without ``lengths``, every position computed
  (what ignoring the padding costs; its results are wrong for the padded sequences).

It prints a Markdown table: real tokens/s with lengths, that against ``p = 0`` (1.00:
padding costs nothing; ``1 - p``: padding costs as much as real tokens), and the time with
lengths against without.

    python benchmarks/padding.py                     # GRU and LSTM, H 128, B 64, T 100
    python benchmarks/padding.py --cells rnn --hidden 32 --batch 256 --repeats 5
"""
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.layers import GRU, LSTM, RNN  # noqa: E402

CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


def spread_lengths(T: int, B: int, p: float) -> np.ndarray:
    """B lengths in [1, T], evenly spread, whose padding fraction 1 - sum / (T B) is p."""
    mean = (1 - p) * T
    lo, hi = (2 * mean - T, T) if p <= 0.5 else (1, 2 * mean - 1)
    lengths = np.rint(np.linspace(hi, lo, B)).astype(np.int64)
    return np.clip(lengths, 1, T)


def step_time(layer, X, dHs, lengths) -> float:
    t0 = time.process_time()
    layer.forward(X, None, lengths)
    layer.backward(dHs)
    return time.process_time() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=["gru", "lstm"])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--input", type=int, default=32, help="input features D (an embedding)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--padding", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    T, B, D, H = args.steps, args.batch, args.input, args.hidden
    rng = np.random.default_rng(0)
    X = rng.standard_normal((T, B, D)).astype(np.float32)
    dHs = rng.standard_normal((T, B, H)).astype(np.float32)
    print(f"T {T}, B {B}, D {D}, H {H}, float32, {os.environ['OPENBLAS_NUM_THREADS']} BLAS "
          f"thread(s), median CPU time of {args.repeats} rounds taking turns\n")
    print("| cell | padding | real tokens/s (lengths) | vs no padding | time, lengths / no lengths |")
    print("|---|---|---|---|---|")
    for cell in args.cells:
        layer = CELLS[cell](D, H, seed=0)
        rows = {p: spread_lengths(T, B, p) for p in args.padding}
        times = {(p, w): [] for p in rows for w in ("lengths", "none")}
        for p, lengths in rows.items():                    # warm up
            step_time(layer, X, dHs, lengths)
        for _ in range(args.repeats):
            for p, lengths in rows.items():
                times[p, "lengths"].append(step_time(layer, X, dHs, lengths))
                times[p, "none"].append(step_time(layer, X, dHs, None))
        base = None
        for p, lengths in rows.items():
            t_len, t_none = np.median(times[p, "lengths"]), np.median(times[p, "none"])
            rate = lengths.sum() / t_len
            base = rate if base is None else base
            actual = 1 - lengths.sum() / (T * B)
            print(f"| {cell} | {actual:.2f} | {rate:,.0f} | {rate / base:.2f} | "
                  f"{t_len / t_none:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
