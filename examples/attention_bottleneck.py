"""The bottleneck that attention removes, measured: exact match by source length.

The book motivates attention with Bahdanau et al.'s plot: the encoder-decoder's one
fixed-length context vector forgets long inputs, and its scores fall with the sentence's
length, while the attention decoder, which looks back at every encoder state, holds up.
Here on a task with a known answer: copy a random string of 5 to 60 letters
(``"hcbjaeg" -> "hcbjaeg"``), the same data, sizes, batches and steps for the book's
``Seq2Seq`` (the context vector) and ``Seq2SeqAttention`` (the Bahdanau decoder).

    python examples/attention_bottleneck.py          # the default: minutes on 2 cores
    python examples/attention_bottleneck.py --num-train 200 --num-test 50 --epochs 1 --hidden 8

Writes (``--out``, default figures/): attention_bottleneck.png (held-out exact match and
per-character accuracy by source length, both models) and metrics.json (``by_length``:
per length bucket, both models; the settings; wall times).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.data import PairBatches, Vocab, pad_sequences  # noqa: E402
from minirnn.models import Seq2Seq, Seq2SeqAttention  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402
from minirnn.settings import Setting, atomic_write_json, example_parser, run_script  # noqa: E402
from minirnn.train import Trainer  # noqa: E402

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
LETTERS = "abcdefghij"
MIN_LEN, MAX_LEN, BUCKET = 5, 60, 5
NUM_TRAIN = Setting("num_train", "--num-train", int, 12000, "training strings", low=1,
                    high=10 ** 6, metavar="N")
NUM_TEST = Setting("num_test", "--num-test", int, 1200, "held-out strings", low=1,
                   high=10 ** 5, metavar="N")


# %% The data: random strings of MIN_LEN to MAX_LEN letters, copied
def make_strings(n: int, rng) -> list:
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)
    return ["".join(rng.choice(list(LETTERS), size=k)) for k in lengths]


def encode(strings, vocab):
    """``(src, tgt_in, tgt_out)`` lists of int arrays: the string, ``<bos>`` + the string,
    the string + ``<eos>``."""
    ids = [np.array(vocab[list(s)], dtype=np.int64) for s in strings]
    return (ids, [np.concatenate([[vocab[BOS]], x]) for x in ids],
            [np.concatenate([x, [vocab[EOS]]]) for x in ids])


# %% Training: teacher forcing, the loss over the real target tokens, by minirnn's Trainer
def train(model, data, vocab, args):
    trainer = Trainer(model, PairBatches(*data, vocab[PAD], args.batch_size, args.seed),
                      optimizer="adam", lr=args.lr, clip=args.clip, seed=args.seed,
                      progress=not args.no_progress)
    return list(trainer.fit(args.num_epochs))


def predict(model, src, vocab, chunk=400):
    order = np.argsort([s.size for s in src], kind="stable")
    out = [None] * len(src)
    for i in range(0, len(src), chunk):
        idx = order[i:i + chunk]
        X, X_len = pad_sequences([src[j] for j in idx], vocab[PAD])
        for j, ids in zip(idx, model.greedy_decode(X, X_len, vocab[BOS], vocab[EOS], MAX_LEN + 1)):
            out[j] = "".join(vocab.to_tokens([int(t) for t in ids]))
    return out


def by_length(preds, strings):
    """Exact match and per-character accuracy (position by position, over the source's
    length) in buckets of BUCKET lengths: {"5-9": {...}, ...}."""
    rows = {}
    for lo in range(MIN_LEN, MAX_LEN + 1, BUCKET):
        hi = min(lo + BUCKET - 1, MAX_LEN)
        pairs = [(p, s) for p, s in zip(preds, strings) if lo <= len(s) <= hi]
        if pairs:
            chars = [np.mean([i < len(p) and p[i] == c for i, c in enumerate(s)]) for p, s in pairs]
            rows[f"{lo}-{hi}"] = {"exact_match": float(np.mean([p == s for p, s in pairs])),
                                  "char_accuracy": float(np.mean(chars)), "count": len(pairs)}
    return rows


# %% The figure: the book's motivating plot, made here
def figure(results, args, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
    for name, color in (("attention", "tab:blue"), ("no attention", "tab:orange")):
        rows = results[name]
        mids = [np.mean([int(v) for v in k.split("-")]) for k in rows]
        for ax, key in zip(axes, ("exact_match", "char_accuracy")):
            ax.plot(mids, [r[key] for r in rows.values()], marker="o", color=color,
                    label="Seq2SeqAttention (Bahdanau)" if name == "attention"
                    else "Seq2Seq (one context vector)")
    axes[0].set(ylabel="held-out exact match (greedy)", title="The whole string right")
    axes[1].set(ylabel="held-out accuracy per character", title="Characters in place")
    for ax in axes:
        ax.set(xlabel="source length (characters; buckets of 5)", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Copying a string of {MIN_LEN}-{MAX_LEN} letters: {args.cell.upper()}, "
                 f"H = {args.num_hiddens}, {args.num_train} strings, {args.num_epochs} epochs, "
                 f"the same budget for both", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


# %% Run everything
def main(argv=None):
    parser = example_parser(__doc__, NUM_TRAIN, NUM_TEST, "num_epochs", "batch_size",
                            "num_hiddens", "embed_dim", "cell", "lr", "clip", "seed", "out",
                            "no_progress",
                            defaults={"num_epochs": 10, "batch_size": 64, "num_hiddens": 64,
                                      "embed_dim": 16, "cell": "gru", "lr": 0.005,
                                      "clip": 1.0, "out": "figures"})
    args = parser.parse_args(argv)
    if args.cell not in ("gru", "lstm"):
        parser.error(f"--cell must be gru or lstm here, got {args.cell}")
    start = time.perf_counter()
    vocab = Vocab(list(LETTERS), reserved_tokens=(PAD, BOS, EOS))
    rng = np.random.default_rng(args.seed)
    train_strings = make_strings(args.num_train, rng)
    test_strings = make_strings(args.num_test, rng)
    data, test_src = encode(train_strings, vocab), encode(test_strings, vocab)[0]
    sizes = dict(embed_dim=args.embed_dim or 16, num_hiddens=args.num_hiddens, cell=args.cell,
                 seed=args.seed)
    results = {}
    for name, model in (("attention", Seq2SeqAttention(len(vocab), len(vocab), **sizes)),
                        ("no attention", Seq2Seq(len(vocab), len(vocab), **sizes))):
        print(f"training {name}", flush=True)
        train(model, data, vocab, args)
        results[name] = by_length(predict(model, test_src, vocab), test_strings)
    print("\nheld-out exact match by source length (attention / no attention):")
    for k in results["attention"]:
        a, b = results["attention"][k], results["no attention"][k]
        print(f"  {k:>6}  {a['exact_match']:.3f} / {b['exact_match']:.3f}   per character "
              f"{a['char_accuracy']:.3f} / {b['char_accuracy']:.3f}   ({a['count']} strings)")
    print(f"saved {figure(results, args, args.out / 'attention_bottleneck.png')}")
    metrics = {"by_length": results, "settings": {k: str(v) for k, v in vars(args).items()},
               "seconds": time.perf_counter() - start}
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\n"
          f"wall time {metrics['seconds']:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
