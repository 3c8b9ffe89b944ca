"""Dates as people write them, translated to ISO 8601 by a seq2seq model with attention.

``"september 27, 1994"``, ``"27 sep 1994"``, ``"9/27/94"``, ``"tuesday, the 27th of
september 1994"`` (eight formats, ``minirnn.data.dates``) -> ``"1994-09-27"``.  The
held-out dates are never seen in training, in any format; every format is on both sides.

Two models with the same data, sizes, batches, optimizer and epochs: the encoder-decoder
with the Bahdanau decoder (``minirnn.models.Seq2SeqAttention``: at each output step the
query is the decoder's previous hidden state, the keys and values the encoder's outputs,
masked by the source lengths) and the book's encoder-decoder without attention
(``Seq2Seq``: one context vector).  Both are trained by ``minirnn.train.Trainer``.
Reported on the held-out dates: exact match (the whole date right) by greedy decoding,
with and without attention, and with beam search (beam 4, the book's length-normalized
score, ``minirnn.beam``); the attention weights of a few held-out dates as heatmaps.

    python examples/translate_dates.py            # the default: a few minutes on 2 cores
    python examples/translate_dates.py --num-train 300 --num-test 40 --epochs 1 --hidden 8

Writes (``--out``, default figures/): translate_dates_attention.png (source characters by
output characters, one panel per example), translate_dates.png (held-out exact match per
epoch, both models) and metrics.json (``exact_match``, ``exact_match_no_attention``,
``exact_match_beam``, by format, per epoch, the settings, wall times).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.beam import seq2seq_beam_search  # noqa: E402
from minirnn.data import PairBatches, pad_sequences  # noqa: E402
from minirnn.data.dates import date_examples, date_vocab  # noqa: E402
from minirnn.models import Seq2Seq, Seq2SeqAttention  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402
from minirnn.settings import Setting, atomic_write_json, example_parser, run_script  # noqa: E402
from minirnn.train import Trainer  # noqa: E402

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
TARGET_LEN = len("1994-09-27")
NUM_TRAIN = Setting("num_train", "--num-train", int, 10000, "training dates", low=1,
                    high=30000, metavar="N")
NUM_TEST = Setting("num_test", "--num-test", int, 2000, "held-out dates", low=1, high=6000,
                   metavar="N")
BEAM = Setting("beam", "--beam", int, 4, "beam size of the beam-search evaluation", low=1,
               high=64, metavar="K")


# %% The data: source characters -> <bos> + the date's characters -> the characters + <eos>
def encode(examples, vocab):
    """``(src, tgt_in, tgt_out)``: ``src`` a list of int arrays (the sources' characters),
    ``tgt_in`` and ``tgt_out`` ``(N, 11)`` int arrays (every target has 10 characters)."""
    src = [np.array(vocab[list(s)], dtype=np.int64) for s, _, _ in examples]
    tgt = np.array([vocab[list(t)] for _, t, _ in examples], dtype=np.int64)
    bos, eos = np.full((len(tgt), 1), vocab[BOS]), np.full((len(tgt), 1), vocab[EOS])
    return src, np.hstack([bos, tgt]), np.hstack([tgt, eos])


# %% Training: teacher forcing, one loss per output character, by minirnn's Trainer
def train(model, data, vocab, args, evaluate):
    """Adam with clipping; the held-out exact match after every epoch.  -> the history."""
    trainer = Trainer(model, PairBatches(*data, vocab[PAD], args.batch_size, args.seed),
                      optimizer="adam", lr=args.lr, clip=args.clip, seed=args.seed,
                      evaluate=lambda m: {"exact_match": evaluate(m)},
                      progress=not args.no_progress)
    return list(trainer.fit(args.num_epochs))


# %% Prediction: greedy (the book's) or beam search, in batches of similar lengths
def predict(model, src, vocab, beam=None, chunk=500):
    """The predicted date strings of the sources (a list of int arrays)."""
    order = np.argsort([s.size for s in src], kind="stable")
    out = [None] * len(src)
    for i in range(0, len(src), chunk):
        idx = order[i:i + chunk]
        X, X_len = pad_sequences([src[j] for j in idx], vocab[PAD])
        if beam is None:
            seqs = model.greedy_decode(X, X_len, vocab[BOS], vocab[EOS], TARGET_LEN + 1)
        else:
            seqs, _ = seq2seq_beam_search(model, X, X_len, vocab[BOS], vocab[EOS],
                                          TARGET_LEN + 1, beam_size=beam)
        for j, ids in zip(idx, seqs):
            out[j] = "".join(vocab.to_tokens([int(t) for t in ids]))
    return out


def scores(preds, examples):
    """Exact match over all held-out dates and by format."""
    right = np.array([p == t for p, (_, t, _) in zip(preds, examples)])
    formats = sorted({f for _, _, f in examples})
    by_format = {f: float(right[[g == f for _, _, g in examples]].mean()) for f in formats}
    return float(right.mean()), by_format


# %% The figures
def attention_figure(model, examples, vocab, path):
    """Each example's attention weights: output characters (rows) by source characters."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 6.5))
    for ax, (source, target, fmt) in zip(axes.flat, examples):
        X = np.array([vocab[list(source)]], dtype=np.int64)
        ids = model.greedy_decode(X, None, vocab[BOS], vocab[EOS], TARGET_LEN + 1)[0]
        out = vocab.to_tokens([int(t) for t in ids]) + [EOS]
        weights = model.attention_weights[0, :len(out)]       # (output steps, source steps)
        ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(source)), ["␣" if c == " " else c for c in source], fontsize=8)
        ax.set_yticks(range(len(out)), out, fontsize=8)
        ax.set_title(f"{source!r} -> {''.join(out[:-1])!r}  ({fmt})", fontsize=9)
    fig.suptitle("Attention weights on held-out dates: each output character (row) over the "
                 "source characters (columns)", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def history_figure(histories, beam_em, beam, path):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (name, history), color in zip(histories.items(), ("tab:blue", "tab:orange")):
        ax.plot([h["epoch"] for h in history], [h["exact_match"] for h in history], marker="o",
                color=color, label=f"{name}: {history[-1]['exact_match']:.4f}")
    ax.scatter([len(histories["attention"])], [beam_em], marker="*", s=150, color="tab:green",
               zorder=3, label=f"attention, beam {beam}: {beam_em:.4f}")
    ax.axhline(0.99, color="0.4", ls="--", lw=1, label="target 0.99")
    ax.set(xlabel="epoch", ylabel="held-out exact match (greedy)", ylim=(0, 1.02),
           title="Dates to ISO 8601: the same budget with and without attention")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


# %% Run everything
def main(argv=None):
    parser = example_parser(__doc__, NUM_TRAIN, NUM_TEST, "num_epochs", "batch_size",
                            "num_hiddens", "embed_dim", "cell", "lr", "clip", BEAM, "seed",
                            "out", "no_progress",
                            defaults={"num_epochs": 8, "batch_size": 128, "num_hiddens": 64,
                                      "embed_dim": 32, "cell": "gru", "lr": 0.005, "clip": 1.0,
                                      "out": "figures"})
    args = parser.parse_args(argv)
    if args.cell not in ("gru", "lstm"):
        parser.error(f"--cell must be gru or lstm here, got {args.cell}")
    start = time.perf_counter()
    vocab = date_vocab()
    train_examples, test_examples = date_examples(args.num_train, args.num_test, args.seed)
    print(f"{len(train_examples)} training dates, {len(test_examples)} held out; e.g. "
          f"{train_examples[0][0]!r} -> {train_examples[0][1]!r}")
    data = encode(train_examples, vocab)
    test_src = encode(test_examples, vocab)[0]

    def evaluate(model):
        return scores(predict(model, test_src, vocab), test_examples)[0]

    sizes = dict(embed_dim=args.embed_dim or 32, num_hiddens=args.num_hiddens, cell=args.cell,
                 seed=args.seed)
    models = {"attention": Seq2SeqAttention(len(vocab), len(vocab), **sizes),
              "no attention": Seq2Seq(len(vocab), len(vocab), **sizes)}
    histories, results = {}, {}
    for name, model in models.items():
        print(f"training {name}", flush=True)
        histories[name] = train(model, data, vocab, args, evaluate)
        results[name] = scores(predict(model, test_src, vocab), test_examples)
    attention = models["attention"]
    beam_preds = predict(attention, test_src, vocab, beam=args.beam)
    results["beam"] = scores(beam_preds, test_examples)
    for name, (em, by_format) in results.items():
        print(f"{name:>13}: held-out exact match {em:.4f}  by format: "
              + ", ".join(f"{f} {v:.3f}" for f, v in by_format.items()))
    shown = [next(e for e in test_examples if e[2] == f) for f in
             ("month d, yyyy", "d mon yyyy", "weekday, the dth of month yyyy", "m/d/yy")]
    print(f"saved {attention_figure(attention, shown, vocab, args.out / 'translate_dates_attention.png')}")
    print(f"saved {history_figure(histories, results['beam'][0], args.beam, args.out / 'translate_dates.png')}")
    wrong = [(s, t, p) for (s, t, _), p in zip(test_examples, beam_preds) if p != t]
    metrics = {"exact_match": results["attention"][0],
               "exact_match_no_attention": results["no attention"][0],
               "exact_match_beam": results["beam"][0], "beam_size": args.beam,
               "by_format": {k: v[1] for k, v in results.items()}, "history": histories,
               "wrong_beam": wrong[:20], "settings": {k: str(v) for k, v in vars(args).items()},
               "seconds": time.perf_counter() - start}
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\n"
          f"wall time {metrics['seconds']:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
