"""Where a training step's time goes, phase by phase, with one thread and with two.

    python benchmarks/phases.py                      # the 1.0 book's shape: H 32, B 1024, T 32
    python benchmarks/phases.py --shape 0.17 --steps 40

The step is ``benchmarks/throughput.py``'s (RNNLM, one-hot inputs, ``SoftmaxCrossEntropy``,
clipping at 1, SGD, float32, random ids), cut at its calls: the one-hot encoding, the
RNN's forward, the output layer's forward, the loss forward and backward, the output
layer's backward, the RNN's backward (its time loop and its weight gradients), clipping
and the update.  For each thread count (``minirnn.set_num_threads``, which sets
OpenBLAS's too) the process runs ``--steps`` steps after 5 warm-up steps, one count after
the other (not taking turns: a step that follows a two-thread step runs slower while the
other threads wind down), and prints the median of every phase in milliseconds, the ratio
of the two, and the load average; then what the GIL costs small calls (``print_small_calls``).  A phase that gains little from the second thread is
either a Python loop of small NumPy calls (each call's fixed cost and the hand-over of
the GIL do not shrink with the rows) or a pass over memory (two cores share one memory bus).
"""
from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "2"      # before NumPy loads: OpenBLAS may use up to 2

import argparse                               # noqa: E402
import threading                              # noqa: E402
import time                                   # noqa: E402

import numpy as np                            # noqa: E402

import minirnn                                # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minirnn.models import RNNLM              # noqa: E402
from minirnn.optim import SGD, clip_grad_norm  # noqa: E402

SHAPES = {"1.0": (32, 1024, 32), "0.17": (512, 32, 35)}   # name: (H, B, T)
V = 28
PHASES = ("one-hot X", "RNN forward", "output forward", "loss forward", "loss backward",
          "output backward", "RNN backward", "clip + SGD")


def time_phases(model, X, Y, steps: int) -> np.ndarray:
    """Median milliseconds of each of ``PHASES`` over ``steps`` steps (after 5 untimed)."""
    opt, loss = SGD(model.params, model.grads, 1.0), SoftmaxCrossEntropy()
    rows = []
    for i in range(steps + 5):
        clock = [time.perf_counter()]
        model.zero_grad()
        inputs = model.embedding.forward(X.T)                  # one-hot (T, B, V)
        clock.append(time.perf_counter())
        Hs, _ = model.rnn.forward(inputs, None)                # (T, B, H)
        clock.append(time.perf_counter())
        logits = model.output.forward(Hs)                      # (T, B, V)
        clock.append(time.perf_counter())
        loss.forward(logits.transpose(1, 0, 2), Y)
        clock.append(time.perf_counter())
        dlogits = loss.backward()
        clock.append(time.perf_counter())
        dHs = model.output.backward(dlogits.transpose(1, 0, 2))
        clock.append(time.perf_counter())
        model.rnn.backward(dHs, None, input_grad=False)        # one-hot: no dL/dX
        clock.append(time.perf_counter())
        clip_grad_norm(model.grads, 1.0)
        opt.step()
        clock.append(time.perf_counter())
        if i >= 5:
            rows.append(np.diff(clock))
    return np.median(np.array(rows), axis=0) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=list(SHAPES), default="1.0",
                        help="the 1.0 book's (default) or the 0.17 book's")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per thread count")
    parser.add_argument("--calls", type=int, default=4000,
                        help="small calls per thread in the GIL table (default %(default)s)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.calls < 1:
        parser.error(f"--steps and --calls must be positive, got {args.steps} and {args.calls}")
    H, B, T = SHAPES[args.shape]
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    model = RNNLM(V, H, seed=0)
    load0 = os.getloadavg()[0]
    ms = {}
    for n in (1, 2):
        minirnn.set_num_threads(n)
        ms[n] = time_phases(model, X, Y, args.steps)
    minirnn.set_num_threads(1)
    load1 = os.getloadavg()[0]
    print(f"`python benchmarks/phases.py --shape {args.shape} --steps {args.steps}`: H {H}, "
          f"B {B}, T {T}, V {V}, one-hot, float32; median of {args.steps} steps per thread "
          f"count; load average {load0:.1f} at the start, {load1:.1f} at the end.\n")
    print("| phase | 1 thread ms | 2 threads ms | 1 thread / 2 threads |")
    print("|---|---:|---:|---:|")
    for name, one, two in zip(PHASES, ms[1], ms[2]):
        print(f"| {name} | {one:.2f} | {two:.2f} | {one / two:.2f}x |")
    print(f"| the step (sum of the medians) | {ms[1].sum():.2f} | {ms[2].sum():.2f} | "
          f"{ms[1].sum() / ms[2].sum():.2f}x |")
    print_small_calls(H, calls=args.calls)
    return 0


def print_small_calls(H: int, rows: int = 512, calls: int = 4000) -> None:
    """The cost of the GIL for small calls: one thread making ``2 * calls`` calls on a
    ``(rows, H)`` float32 array against two threads making ``calls`` each (what one block
    of the backward time loop makes per step: ``np.add``, ``np.multiply``, a product with
    ``(H, H)``; and the forward's ``np.tanh``).  Best of 3."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((H, H)).astype(np.float32)
    minirnn.set_num_threads(1)                                 # OpenBLAS: one thread a call
    kinds = {"np.add": lambda a, o: np.add(a, a, out=o),
             "np.multiply": lambda a, o: np.multiply(a, a, out=o),
             "np.matmul with (H, H)": lambda a, o: np.matmul(a, W, out=o),
             "np.tanh": lambda a, o: np.tanh(a, out=o)}

    def work(call, n):
        a = rng.standard_normal((rows, H)).astype(np.float32)
        o = np.empty_like(a)
        for _ in range(n):
            call(a, o)

    print(f"\nSmall calls on ({rows}, {H}) float32 arrays: one thread making {2 * calls} "
          f"calls against two threads making {calls} each (best of 3).\n")
    print("| call | microseconds a call | one thread ms | two threads ms | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, call in kinds.items():
        one, two = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            work(call, 2 * calls)
            one.append(time.perf_counter() - t0)
            threads = [threading.Thread(target=work, args=(call, calls)) for _ in range(2)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            two.append(time.perf_counter() - t0)
        print(f"| {name} | {min(one) / (2 * calls) * 1e6:.1f} | {min(one) * 1e3:.0f} | "
              f"{min(two) * 1e3:.0f} | {min(one) / min(two):.2f}x |")


if __name__ == "__main__":
    raise SystemExit(main())
