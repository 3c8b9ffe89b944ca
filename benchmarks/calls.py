"""How much of minirnn's own code one training step runs: calls and depth.

    python benchmarks/calls.py            # RNN, GRU and LSTM

One ``train_step`` of the command line's default model size (vocabulary 28, 128 hidden
units, batch 128, 32 steps, Adam, clipping at 1), profiled with ``sys.setprofile``: the
number of calls of functions defined in the ``minirnn`` package (``train_step`` itself not
counted), and the deepest stack of minirnn frames below ``train_step``, with that stack
printed.  A reader stepping through a step in a debugger walks exactly these frames.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

import minirnn
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM
from minirnn.optim import Adam
from minirnn.train import train_step

PACKAGE = str(Path(minirnn.__file__).resolve().parent)


def is_minirnn(code) -> bool:
    return str(Path(code.co_filename).resolve()).startswith(PACKAGE)


def profile_step(cell: str, vocab=28, hidden=128, batch=128, steps=32, seed=0) -> dict:
    """Count the minirnn calls and frames of one ``train_step`` (after one unprofiled step)."""
    rng = np.random.default_rng(seed)
    model = RNNLM(vocab, hidden, cell=cell, seed=seed)
    optimizer = Adam(model.params, model.grads, lr=0.01)
    loss = SoftmaxCrossEntropy()
    X, Y = rng.integers(0, vocab, (batch, steps)), rng.integers(0, vocab, (batch, steps))
    train_step(model, (X, Y), None, loss, optimizer)                 # warm up (imports, caches)
    calls, stack, deepest = Counter(), [], []
    inside = [False]

    def profiler(frame, event, arg):
        code = frame.f_code
        if event == "call":
            if code is train_step.__code__:
                inside[0] = True
                return
            if inside[0] and is_minirnn(code):
                calls[f"{Path(code.co_filename).name}:{code.co_qualname}"] += 1
                stack.append(code.co_qualname)
                if len(stack) > len(deepest):
                    deepest[:] = stack
        elif event == "return":
            if code is train_step.__code__:
                inside[0] = False
            elif inside[0] and is_minirnn(code) and stack:
                stack.pop()
    sys.setprofile(profiler)
    try:
        train_step(model, (X, Y), None, loss, optimizer)
    finally:
        sys.setprofile(None)
    return {"calls": sum(calls.values()), "depth": len(deepest), "deepest": deepest,
            "by_function": calls}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"],
                        choices=["rnn", "gru", "lstm"])
    parser.add_argument("--verbose", action="store_true", help="list the calls by function")
    args = parser.parse_args(argv)
    print("| cell | minirnn calls in one train_step | minirnn frames below train_step |")
    print("|---|---:|---:|")
    results = {cell: profile_step(cell) for cell in args.cells}
    for cell, r in results.items():
        print(f"| {cell} | {r['calls']} | {r['depth']} |")
    for cell, r in results.items():
        print(f"\n{cell}: deepest stack below train_step: {' > '.join(r['deepest'])}")
        if args.verbose:
            for name, n in r["by_function"].most_common():
                print(f"  {n:4d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
