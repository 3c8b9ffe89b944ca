"""The book's 1.0 RNN-from-scratch run (``d2l-1.0``) in PyTorch, beside minirnn's.

    python benchmarks/torch_reference.py --match 0          # same init, same batches: lockstep
    python benchmarks/torch_reference.py --seeds 0 1 2 3    # PyTorch on its own, per seed

PyTorch is never a dependency of minirnn; this script needs it installed.  The PyTorch
model is the book's recipe written out: parameters ``W_xh (V, H)``, ``W_hh (H, H)``,
``b_h (H,)``, ``W_hq (H, V)``, ``b_q (V,)`` drawn from N(0, 0.01^2) (biases zero), one-hot
inputs, ``H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)`` looped over time from the zero
state, ``O_t = H_t W_hq + b_q``, mean cross-entropy, gradients scaled by
``min(1, 1 / ||g||)`` over all parameters together, plain SGD with lr 1, float32.  Data:
minirnn's ``WindowedData`` for the preset (10,000 training windows of 33 characters,
shuffled each epoch, batches of 1,024 with the last one partial; 5,000 validation windows).

``--match SEED``: the PyTorch model starts from minirnn's initial weights and reads the
very same batches (a second ``WindowedData`` from the same seed), one epoch after
another with minirnn's ``Trainer``; the table shows both validation perplexities per
epoch and the largest weight difference.  Equal columns mean the two implementations
compute the same training run, up to float32 rounding.

``--seeds SEED ...``: PyTorch's own runs (``torch.manual_seed``: its own init and
shuffling) for 100 epochs; the final validation perplexity both as minirnn reports it
(exp of the mean token loss) and as the book's plot shows it (the mean over validation
batches of exp(batch loss)).  These are what the book's code reaches on this machine.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as minirnn.cli: set before numpy loads

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.presets import make_data, make_model, make_trainer, preset_config  # noqa: E402

PRESET = "d2l-1.0"
PARAM_NAMES = {"W_xh": "rnn.W_xh", "W_hh": "rnn.W_hh", "b_h": "rnn.b_h",
               "W_hq": "output.W", "b_q": "output.b"}


def torch_params(V: int, H: int, sigma: float, init: dict | None = None) -> dict:
    """The book's parameters as float32 leaf tensors: ``init`` (minirnn's arrays, by book
    name) or fresh N(0, sigma^2) weights and zero biases from torch's generator."""
    import torch
    if init is not None:
        return {k: torch.tensor(np.asarray(v, dtype=np.float32), requires_grad=True)
                for k, v in init.items()}
    shapes = {"W_xh": (V, H), "W_hh": (H, H), "b_h": (H,), "W_hq": (H, V), "b_q": (V,)}
    return {k: (torch.randn(*s) * sigma if k.startswith("W") else torch.zeros(*s)).requires_grad_()
            for k, s in shapes.items()}


def torch_loss(p: dict, X: np.ndarray, Y: np.ndarray, V: int):
    """Mean cross-entropy of the scratch RNN LM on ids ``X, Y (B, T)``: a 0-d tensor."""
    import torch
    import torch.nn.functional as F
    X_t = torch.from_numpy(np.ascontiguousarray(X.T))          # (T, B)
    inputs = F.one_hot(X_t, V).to(torch.float32)               # (T, B, V)
    state = torch.zeros(X.shape[0], p["W_hh"].shape[0])        # (B, H)
    outputs = []
    for X_step in inputs:                                      # H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)
        state = torch.tanh(X_step @ p["W_xh"] + state @ p["W_hh"] + p["b_h"])
        outputs.append(state @ p["W_hq"] + p["b_q"])           # O_t = H_t W_hq + b_q   (B, V)
    logits = torch.stack(outputs)                              # (T, B, V)
    targets = torch.from_numpy(np.ascontiguousarray(Y.T)).reshape(-1)
    return F.cross_entropy(logits.reshape(-1, V), targets)


def torch_epoch(p: dict, data, V: int, lr: float, theta: float) -> float:
    """One epoch of the book's update on ``data.train_iter()``; the training perplexity."""
    import torch
    total, count = 0.0, 0
    for X, Y in data.train_iter():
        loss = torch_loss(p, X, Y, V)
        for t in p.values():
            t.grad = None
        loss.backward()
        with torch.no_grad():
            norm = torch.sqrt(sum((t.grad ** 2).sum() for t in p.values()))
            scale = theta / norm if norm > theta else 1.0      # g <- min(1, theta/||g||) g
            for t in p.values():
                t -= lr * scale * t.grad                       # SGD
        total += float(loss.detach()) * Y.size
        count += Y.size
    return float(np.exp(total / count))


def torch_val(p: dict, data, V: int) -> tuple:
    """Validation perplexity: (exp of the mean token loss, mean of per-batch exp(loss))."""
    import torch
    total, count, batch_ppls = 0.0, 0, []
    with torch.no_grad():
        for X, Y in data.val_iter():
            loss = float(torch_loss(p, X, Y, V))
            total += loss * Y.size
            count += Y.size
            batch_ppls.append(np.exp(loss))
    return float(np.exp(total / count)), float(np.mean(batch_ppls))


def run_match(seed: int, epochs: int) -> list:
    """minirnn's Trainer and the PyTorch recipe from the same weights on the same batches;
    prints the table and returns one dict per epoch (``train_ppl``, ``val_ppl``,
    ``torch_train_ppl``, ``torch_val_ppl``, ``max_weight_diff``)."""
    config = preset_config(PRESET, seed=seed, sample_every=0, num_epochs=epochs)
    data, vocab = make_data(config)
    torch_data, _ = make_data(config)                          # same windows, same shuffles
    V = len(vocab)
    model = make_model(config, V)
    p = torch_params(V, config["num_hiddens"], config["sigma"],
                     init={k: model.params[v] for k, v in PARAM_NAMES.items()})
    rows = ["| epoch | minirnn train ppl | PyTorch train ppl | minirnn val ppl | PyTorch val ppl "
            "| max weight difference |", "|---|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    records = []

    def lockstep(trainer, record):
        train = torch_epoch(p, torch_data, V, config["lr"], config["clip"])
        val, _ = torch_val(p, torch_data, V)
        diff = max(float(np.abs(model.params[v] - p[k].detach().numpy()).max())
                   for k, v in PARAM_NAMES.items())
        rows.append(f"| {record['epoch']} | {record['train_ppl']:.4f} | {train:.4f} | "
                    f"{record['val_ppl']:.4f} | {val:.4f} | {diff:.1e} |")
        print(rows[-1], flush=True)
        records.append({"train_ppl": record["train_ppl"], "val_ppl": record["val_ppl"],
                        "torch_train_ppl": train, "torch_val_ppl": val, "max_weight_diff": diff})

    trainer = make_trainer(config, model, data, vocab, progress=False, callback=lockstep)
    trainer.fit(epochs)
    return records


def run_seeds(seeds, epochs: int) -> str:
    """PyTorch's own runs of the recipe, one per seed."""
    import torch
    config = preset_config(PRESET, sample_every=0)
    rows = ["| seed | PyTorch train ppl | PyTorch val ppl | as the book's plot | wall time |",
            "|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    finals = []
    for seed in seeds:
        torch.manual_seed(seed)
        data, vocab = make_data({**config, "seed": seed})
        V = len(vocab)
        p = torch_params(V, config["num_hiddens"], config["sigma"])
        started = time.perf_counter()
        for _ in range(epochs):
            train = torch_epoch(p, data, V, config["lr"], config["clip"])
        val, book_val = torch_val(p, data, V)
        finals.append(val)
        rows.append(f"| {seed} | {train:.2f} | {val:.2f} | {book_val:.2f} | "
                    f"{time.perf_counter() - started:.0f} s |")
        print(rows[-1], flush=True)
    sd = np.std(finals, ddof=1) if len(finals) > 1 else 0.0
    rows.append(f"| mean of {len(finals)} | | {np.mean(finals):.2f} (sd {sd:.2f}, "
                f"min {min(finals):.2f}, max {max(finals):.2f}) | | |")
    print(rows[-1])
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--match", type=int, metavar="SEED",
                       help="minirnn and PyTorch in lockstep from minirnn's init for this seed")
    group.add_argument("--seeds", nargs="+", type=int, metavar="SEED",
                       help="PyTorch's own runs for these seeds")
    parser.add_argument("--epochs", type=int, default=preset_config(PRESET)["num_epochs"])
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        parser.error("PyTorch is not installed (pip install torch); minirnn itself never needs it")
    torch.set_num_threads(1)                                   # as minirnn's one BLAS thread
    if args.match is not None:
        run_match(args.match, args.epochs)                     # prints its table as it goes
    else:
        run_seeds(args.seeds, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
