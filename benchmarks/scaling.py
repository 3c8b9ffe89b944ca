"""How the cost of a minirnn training step grows with hidden size, batch and num_steps.

    python benchmarks/scaling.py                 # three sweeps (10 s here with --threads 1)
    python benchmarks/scaling.py --threads 1     # single-threaded BLAS
    python benchmarks/scaling.py --tiny          # a smoke run (what the test suite runs)

Each sweep moves one size and keeps the others at the book's 0.17 concise shape (H = 256,
B = 32, T = 35, V = 28, one-hot inputs): hidden size 32..1024, batch 1..1024, num_steps
8..256.  For every point: the step time (the step of ``throughput.py``: forward, loss,
backward, clipping, SGD), tokens per second, and the peak of NumPy's allocations
(``throughput.traced_peak_bytes``, tracemalloc).  The points of a sweep take turns, one
step each, and the time is the *minimum* over the repeats (as ``timeit`` advises: on a
machine shared with other jobs, slower repeats measure the other jobs).  Each sweep's
growth is fitted as ``time ~ x^a`` over its upper half (the lower points carry the fixed
per-step costs of Python).  Writes ``<out>/scaling.md`` and ``<out>/scaling.png``.
"""
from __future__ import annotations

import argparse
import os
import sys

# first: importing throughput sets the BLAS threads from --threads before NumPy loads
from throughput import (CONFIGS, THREADS, Config, make_minirnn_step, make_model, random_batch,
                        time_in_turns, traced_peak_bytes)

import matplotlib                              # noqa: E402
import matplotlib.ticker                       # noqa: E402
import numpy as np                             # noqa: E402
from tqdm import tqdm                          # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt                # noqa: E402

BASE = CONFIGS[2]                              # 0.17 concise: H 256, B 32, T 35, V 28
SWEEPS = {"num_hiddens": [32, 64, 128, 256, 512, 1024],
          "batch_size": [1, 4, 16, 64, 256, 1024],
          "num_steps": [8, 16, 32, 64, 128, 256]}
TINY_BASE = Config("tiny", 5, 8, 2, 4)
TINY_SWEEPS = {"num_hiddens": [4, 8, 16], "batch_size": [1, 2, 4], "num_steps": [2, 4, 8]}
LABELS = {"num_hiddens": "hidden size H", "batch_size": "batch size B", "num_steps": "num_steps T"}
EXPECTED = {"num_hiddens": 2, "batch_size": 1, "num_steps": 1}


def fit_exponent(x, seconds) -> float:
    """Slope a of log(seconds) = a log(x) + c over the upper half of the points."""
    half = len(x) // 2
    return float(np.polyfit(np.log(x[half:]), np.log(seconds[half:]), 1)[0])


def run(base: Config, sweeps: dict, repeats: int, warmup: int) -> dict:
    """For each sweep, every point's minimum step time (the points taking turns) and the
    traced peak memory of a fresh model."""
    results = {}
    with tqdm(total=sum(map(len, sweeps.values())), desc="sweeps", unit="point",
              disable=None) as bar:
        for name, values in sweeps.items():
            configs = [base._replace(name=f"{name}={v}", **{name: v}) for v in values]
            batches = [random_batch(cfg) for cfg in configs]
            steps = {cfg.name: make_minirnn_step(make_model(cfg), X, Y)
                     for cfg, (X, Y) in zip(configs, batches)}
            bar.set_postfix_str(name)
            times = time_in_turns(steps, repeats, warmup, block=1)
            results[name] = []
            for value, cfg, (X, Y) in zip(values, configs, batches):
                seconds = float(times[cfg.name].min())
                results[name].append({name: value, "seconds": seconds,
                                      "tokens_per_s": cfg.tokens / seconds,
                                      "peak_bytes": traced_peak_bytes(make_model(cfg), X, Y)})
                bar.update(1)
    return results


def markdown(results: dict, base: Config, threads: int, load: tuple) -> str:
    lines = [f"`python benchmarks/scaling.py --threads {threads}`: {threads} BLAS thread(s), "
             f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end; the other sizes "
             f"at H = {base.num_hiddens}, B = {base.batch_size}, T = {base.num_steps}, "
             f"V = {base.vocab_size}, one-hot inputs.", "",
             "| sweep | H | B | T | ms / step (min) | tokens/s | peak MB | fitted growth |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, points in results.items():
        x = np.array([p[name] for p in points], dtype=float)
        a = fit_exponent(x, np.array([p["seconds"] for p in points]))
        for i, p in enumerate(points):
            cfg = base._replace(**{name: p[name]})
            growth = f"time ~ {name}^{a:.2f} (upper half)" if i == 0 else ""
            lines.append(f"| {LABELS[name]} | {cfg.num_hiddens} | {cfg.batch_size} | "
                         f"{cfg.num_steps} | {p['seconds'] * 1e3:.2f} | {p['tokens_per_s']:,.0f} | "
                         f"{p['peak_bytes'] / 1e6:.2f} | {growth} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: str) -> None:
    """Time (top) and peak memory (bottom) against each swept size, log-log, with the fitted
    slope and a reference line of the expected slope through the largest point."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex="col")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    for col, (name, points) in enumerate(results.items()):
        x = np.array([p[name] for p in points], dtype=float)
        rows = [("ms per training step", np.array([p["seconds"] for p in points]) * 1e3, "o-", "C0"),
                ("peak traced memory (MB)", np.array([p["peak_bytes"] for p in points]) / 1e6,
                 "s-", "C1")]
        for row, (ylabel, y, style, color) in enumerate(rows):
            ax = axes[row, col]
            ax.loglog(x, y, style, color=color,
                      label=f"measured (upper-half slope {fit_exponent(x, y):.2f})")
            slope = EXPECTED[name] if row == 0 else 1
            ax.loglog(x, y[-1] * (x / x[-1]) ** slope, "--", color="gray",
                      label=f"slope {slope} through the last point")
            ax.set_xticks(x)
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 3)))
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_ylabel(ylabel)
            ax.set_title(f"{'time' if row == 0 else 'memory'} vs {LABELS[name]}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8, loc="upper left")
        axes[1, col].set_xlabel(LABELS[name])
    fig.suptitle("minirnn training step (forward, loss, backward, clip, SGD; float32), "
                 "one size swept at a time")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="BLAS threads (default: every core, %(default)s here)")
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per point")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", default="figures", help="folder for scaling.md and scaling.png")
    args = parser.parse_args(argv)
    for name, least in (("threads", 1), ("repeats", 1), ("warmup", 0)):
        if getattr(args, name) < least:
            parser.error(f"--{name} must be at least {least}, got {getattr(args, name)}")
    base, sweeps = (TINY_BASE, TINY_SWEEPS) if args.tiny else (BASE, SWEEPS)
    load_start = os.getloadavg()[0]
    results = run(base, sweeps, args.repeats, args.warmup)
    text = markdown(results, base, args.threads, (load_start, os.getloadavg()[0]))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scaling.md"), "w") as f:
        f.write(text)
    plot(results, os.path.join(args.out, "scaling.png"))
    print(text)
    print(f"wrote {args.out}/scaling.md and {args.out}/scaling.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
