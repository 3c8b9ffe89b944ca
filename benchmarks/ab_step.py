"""Before and after: one training step of this checkout against an older commit, taking turns.

    python benchmarks/ab_step.py --baseline 07ff25f                   # every shape, 1 and 2 threads
    python benchmarks/ab_step.py --baseline 07ff25f --threads 1 --shapes 1.0 --pairs 5
    PYTHONPATH=<checkout> python benchmarks/ab_step.py 1.0            # one checkout alone (as before)

The step is ``benchmarks/throughput.py``'s (forward, ``SoftmaxCrossEntropy``, backward,
``clip_grad_norm`` theta 1, SGD lr 1, float32, random ids), run by each checkout's own
code.  ``--baseline COMMIT`` extracts that commit's ``minirnn/`` (``git archive``) into a
temporary folder as the package ``minirnn_before`` (its imports are relative), and for
every thread count a fresh process imports both, builds the step with each, and times
them taking turns, step by step, ``--steps`` steps each after 5 warm-up steps, ``--pairs``
times per shape: a machine shared with other jobs slows both alike.  The thread count is
set before NumPy loads (``OPENBLAS_NUM_THREADS``) and, where a checkout has it, by its
``minirnn.set_num_threads`` (its own threads over rows).  ``--processes``: each checkout in
fresh processes of its own instead, taking turns (slower, and noisier on a busy machine).

Printed: per shape and thread count, the median wall time and CPU time (``process_time``:
with two threads, both threads' CPU time adds up) of a step in each pair, the ratios
after / before (below 1: faster), and the load average at the start and end.  A table in
Markdown, ready for docs/performance.md (it still needs its "Measured ..." paragraph).

Shapes: ``1.0`` (the 1.0 book's RNN: H 32, B 1024, T 32, V 28, one-hot), ``0.17`` (the
0.17 book's: H 512, B 32, T 35), ``concise`` (H 256, B 32, T 35), ``GRU`` (PyTorch's form)
and ``LSTM`` at H 256, B 32, T 35.
"""
import json
import os
import subprocess
import sys
import tempfile

SHAPES = {   # name: (cell, H, B, T, extra RNNLM arguments)
    "1.0": ("rnn", 32, 1024, 32, {}),
    "0.17": ("rnn", 512, 32, 35, {}),
    "concise": ("rnn", 256, 32, 35, {}),
    "GRU": ("gru", 256, 32, 35, {"reset_after": True}),
    "LSTM": ("lstm", 256, 32, 35, {}),
}
V = 28


def child(shape: str, steps: int) -> dict:
    """Time ``steps`` training steps at ``shape`` with the minirnn on ``sys.path`` (this
    process's environment set the threads)."""
    import time

    import numpy as np

    import minirnn
    from minirnn.losses import SoftmaxCrossEntropy
    from minirnn.models import RNNLM
    from minirnn.optim import SGD, clip_grad_norm
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    if hasattr(minirnn, "set_num_threads"):
        minirnn.set_num_threads(threads)
    cell, H, B, T, extra = SHAPES[shape]
    rng = np.random.default_rng(0)
    model = RNNLM(V, H, seed=0, **({"cell": cell, **extra} if cell != "rnn" else {}))
    opt, loss = SGD(model.params, model.grads, 1.0), SoftmaxCrossEntropy()
    X, Y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    wall, cpu = [], []
    for i in range(steps + 5):
        t0, c0 = time.perf_counter(), time.process_time()
        model.zero_grad()
        logits, _ = model.forward(X)
        value = loss.forward(logits, Y)
        model.backward(loss.backward())
        clip_grad_norm(model.grads, 1.0)
        opt.step()
        if i >= 5:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {"wall": float(np.median(wall)), "cpu": float(np.median(cpu)), "loss": value,
            "has_threads": hasattr(minirnn, "set_num_threads")}


def make_step(pkg: str, shape: str):
    """The training step at ``shape`` built with the package named ``pkg``."""
    import importlib

    import numpy as np
    lib = importlib.import_module(pkg)
    losses, models, optim = (importlib.import_module(f"{pkg}.{m}") for m in ("losses", "models", "optim"))
    cell, H, B, T, extra = SHAPES[shape]
    rng = np.random.default_rng(0)
    model = models.RNNLM(V, H, seed=0, **({"cell": cell, **extra} if cell != "rnn" else {}))
    opt, loss = optim.SGD(model.params, model.grads, 1.0), losses.SoftmaxCrossEntropy()
    X, Y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))

    def step():
        model.zero_grad()
        logits, _ = model.forward(X)
        value = loss.forward(logits, Y)
        model.backward(loss.backward())
        optim.clip_grad_norm(model.grads, 1.0)
        opt.step()
        return value
    return lib, step


def child_in_turns(shapes: list, steps: int, pairs: int) -> list:
    """Both checkouts in this process (``minirnn_before`` and ``minirnn``), taking turns
    step by step: per shape, ``pairs`` rounds of ``steps`` timed steps each."""
    import time

    import numpy as np
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    out = []
    for shape in shapes:
        built = {name: make_step(pkg, shape) for name, pkg in (("before", "minirnn_before"),
                                                               ("after", "minirnn"))}
        for lib, _ in built.values():
            if hasattr(lib, "set_num_threads"):
                lib.set_num_threads(threads)
        rounds = []
        for _ in range(pairs):
            wall = {name: [] for name in built}
            cpu = {name: [] for name in built}
            for i in range(steps + 5):
                for name, (_, step) in (built.items() if i % 2 else reversed(built.items())):
                    t0, c0 = time.perf_counter(), time.process_time()
                    step()
                    if i >= 5:
                        wall[name].append(time.perf_counter() - t0)
                        cpu[name].append(time.process_time() - c0)
            rounds.append({name: {"wall": float(np.median(wall[name])),
                                  "cpu": float(np.median(cpu[name]))} for name in built})
        out.append(rounds)
    return out


def run_child(path: str, shape: str, threads: int, steps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=path, OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", shape,
                          "--steps", str(steps)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the step at {shape} with {path} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def extract(commit: str, repo: str, into: str) -> str:
    """``commit``'s ``minirnn/`` package, extracted into the folder ``into``, and a copy of it
    named ``minirnn_before`` (for ``--in-turns``)."""
    archive = subprocess.run(["git", "-C", repo, "archive", commit, "minirnn"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    before = os.path.join(into, "before")
    os.makedirs(before)
    subprocess.run(["cp", "-r", os.path.join(into, "minirnn"), os.path.join(before, "minirnn_before")],
                   check=True)
    return into


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", nargs="?", choices=list(SHAPES),
                        help="one checkout alone (PYTHONPATH): print its median step CPU time")
    parser.add_argument("--baseline", metavar="COMMIT", help="the commit to compare with")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--pairs", type=int, default=3, help="turns of each pair (default 3)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps a process (default 20)")
    parser.add_argument("--processes", action="store_true",
                        help="each checkout in fresh processes of its own, taking turns")
    parser.add_argument("--child", choices=list(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--child-in-turns", nargs="+", choices=list(SHAPES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps)))
        return 0
    if args.child_in_turns:
        print(json.dumps(child_in_turns(args.child_in_turns, args.steps, args.pairs)))
        return 0
    if args.shape:                                   # the old interface: this checkout alone
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        print(child(args.shape, args.steps)["cpu"])
        return 0
    if not args.baseline:
        parser.error("give --baseline COMMIT (or one shape, for one checkout alone)")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="minirnn-ab-") as tmp:
        before = extract(args.baseline, repo, tmp)
        for threads in args.threads:
            if not args.processes:                   # both in one process, taking turns
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, os.path.join(tmp, "before")]),
                           OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                           MKL_NUM_THREADS=str(threads))
                res = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-in-turns",
                                      *args.shapes, "--steps", str(args.steps), "--pairs",
                                      str(args.pairs)], env=env, capture_output=True, text=True)
                if res.returncode != 0:
                    raise RuntimeError(f"the steps with {threads} thread(s) failed:\n{res.stderr}")
                for shape, pairs in zip(args.shapes, json.loads(res.stdout.strip().splitlines()[-1])):
                    rows.append((threads, shape, pairs))
                continue
            for shape in args.shapes:
                pairs = []
                for i in range(args.pairs):
                    order = [("before", before), ("after", repo)]
                    if i % 2:
                        order.reverse()
                    got = {name: run_child(path, shape, threads, args.steps) for name, path in order}
                    pairs.append(got)
                    print(f"{threads} thread(s) {shape}: before {got['before']['wall'] * 1e3:.1f} ms, "
                          f"after {got['after']['wall'] * 1e3:.1f} ms", file=sys.stderr)
                rows.append((threads, shape, pairs))
    load1 = os.getloadavg()[0]
    print(f"`python benchmarks/ab_step.py --baseline {args.baseline}"
          + (f" --threads {' '.join(map(str, args.threads))}" if args.threads != [1, 2] else "")
          + (f" --shapes {' '.join(args.shapes)}" if args.shapes != list(SHAPES) else "")
          + (f" --pairs {args.pairs}" if args.pairs != 3 else "")
          + (f" --steps {args.steps}" if args.steps != 20 else "")
          + (" --processes" if args.processes else "")
          + f"`: {args.baseline} (before) against {head} (after), load average {load0:.1f} "
          f"at the start, {load1:.1f} at the end; median of {args.steps} steps each, "
          + ("in fresh processes taking turns" if args.processes else
             "both in one process, taking turns step by step")
          + f", {args.pairs} rounds per row.\n")
    print("| threads | shape | before ms (wall) | after ms (wall) | after / before (wall) | "
          "before ms (CPU) | after ms (CPU) | after / before (CPU) |")
    print("|---:|---|---|---|---|---|---|---|")
    for threads, shape, pairs in rows:
        def col(name, key):
            return ", ".join(f"{p[name][key] * 1e3:.1f}" for p in pairs)

        def ratio(key):
            return ", ".join(f"{p['after'][key] / p['before'][key]:.2f}" for p in pairs)
        print(f"| {threads} | {shape} | {col('before', 'wall')} | {col('after', 'wall')} | "
              f"{ratio('wall')} | {col('before', 'cpu')} | {col('after', 'cpu')} | {ratio('cpu')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
