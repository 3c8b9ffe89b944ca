"""Restoring the spaces of *The Time Machine*: aligned many-to-many, one tag per letter
(d2l: the "one output per input step" shape, and the bidirectional section's lesson).

For each letter of the text without spaces ("thetimemachinebyhgwells") a
``minirnn.models.SequenceTagger`` (embedding -> GRU -> linear per step -> softmax), trained
by ``minirnn.train.Trainer``, says whether a word ends after it.  Train on the first 80%
of the text, in random pieces of ``--min-len`` to ``--max-len`` letters, batched by length
and padded (the batch's mask: a loss over real letters); test on the rest.  Two models,
the same size per direction, data and seed: unidirectional and bidirectional.  Baseline:
split between a and b when "a b" occurred more often than "ab" in the training text.
Metric: F1 of word boundaries.

    python examples/segment_words.py          # about 4 minutes on 2 busy cores
    python examples/segment_words.py --epochs 1 --hidden 8 --embed-dim 4 --max-chars 12000
    python examples/segment_words.py --dev    # train on 72%, evaluate on the next 8%

Writes (in --out): segment_words_f1.png (F1 and training loss per epoch),
segment_words_probs.png (each letter's boundary probability on a test passage) and
metrics.json (F1, precision, recall, the restored sample, the history).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import time  # noqa: E402

import numpy as np  # noqa: E402

from minirnn.data import Vocab, bucket_batches, load_corpus, pad_sequences, preprocess, sequence_mask  # noqa: E402,E501
from minirnn.data.tasks import (apply_pair_rule, consecutive_pieces, fit_pair_rule,  # noqa: E402
                                remove_spaces, restore_spaces, split_text)
from minirnn.metrics import boundary_f1  # noqa: E402
from minirnn.models import Batch, SequenceTagger  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402
from minirnn.settings import Setting, atomic_write_json, example_parser, run_script  # noqa: E402
from minirnn.train import Trainer  # noqa: E402

PAD = "<pad>"
COLORS = {"unidirectional": "tab:blue", "bidirectional": "tab:orange", "baseline": "0.4"}


# %% Variable-length pieces, batched by length and padded
# The data: ``remove_spaces`` (minirnn.data.tasks) gives the letters and a 1 after each
# word's last letter; the baseline is ``fit_pair_rule``, the metric ``boundary_f1``.
def batches_of(ids, tags, pieces, batch_size, pad_id, rng, shuffle=True):
    """``(Batch(X, Y, lengths, mask), starts)`` of pieces of similar lengths, padded."""
    starts, lengths = np.array(pieces).T
    for index in bucket_batches(lengths, batch_size, rng=rng, shuffle=shuffle):
        X, L = pad_sequences([ids[starts[i]:starts[i] + lengths[i]] for i in index], pad_id)
        Y, _ = pad_sequences([tags[starts[i]:starts[i] + lengths[i]] for i in index], 0)
        yield Batch(X, Y, L, sequence_mask(L, X.shape[1])), starts[index]


class RandomPieces:
    """One epoch per ``iter()``: about one pass over the letters in random pieces of
    ``min_len`` to ``max_len``, drawn from ``rng`` (the same pieces for both models)."""

    def __init__(self, ids, tags, args, pad_id):
        self.ids, self.tags, self.args, self.pad_id = ids, tags, args, pad_id
        self.count = int(np.ceil(len(ids) / ((args.min_len + args.max_len) / 2)))
        self.rng = np.random.default_rng([args.seed, 1])

    def __len__(self):
        return -(-self.count // self.args.batch_size)

    def __iter__(self):
        n, a = len(self.ids), self.args
        lengths = self.rng.integers(min(a.min_len, n), min(a.max_len, n) + 1, size=self.count)
        pieces = list(zip(self.rng.integers(0, n - lengths + 1).tolist(), lengths.tolist()))
        for batch, _ in list(batches_of(self.ids, self.tags, pieces, a.batch_size, self.pad_id,
                                        self.rng)):
            yield batch


def boundary_probs(model, ids, pieces, batch_size, pad_id) -> np.ndarray:
    """P(a word ends after letter i) for every letter of ``ids``, inside its piece."""
    probs = np.full(len(ids), np.nan)
    for batch, starts in batches_of(ids, np.zeros_like(ids), pieces, batch_size, pad_id,
                                    rng=None, shuffle=False):
        logits = model.forward(batch.inputs, None, batch.lengths)[0].astype(np.float64)
        p = 1.0 / (1.0 + np.exp(logits[..., 0] - logits[..., 1]))      # softmax(o)[1]
        for b, (s, n) in enumerate(zip(starts, batch.lengths)):
            probs[s:s + n] = p[b, :n]
    return probs


def train_tagger(name: str, data: dict, args) -> dict:
    """One tagger, trained by the Trainer; its F1 on the evaluation text after each epoch
    (a curve only: nothing is chosen by it)."""
    model = SequenceTagger(data["vocab_size"], 2, args.num_hiddens, embed_dim=args.embed_dim,
                           cell=args.cell, num_layers=args.num_layers,
                           bidirectional=name == "bidirectional", dropout=args.dropout,
                           seed=args.seed)
    last = {}

    def evaluate(model):
        last["probs"] = boundary_probs(model, data["test_ids"], data["test_pieces"],
                                       args.batch_size, data["pad_id"])
        return boundary_f1(last["probs"] > 0.5, data["test_tags"])

    pieces = RandomPieces(data["train_ids"], data["train_tags"], args, data["pad_id"])
    print(f"{name}:")
    trainer = Trainer(model, pieces, optimizer="adam", lr=args.lr, clip=args.clip,
                      evaluate=evaluate, progress=not args.no_progress)
    history = trainer.fit(args.num_epochs).records
    return {"model": model, "probs": last["probs"], "history": history,
            **{k: history[-1][k] for k in ("f1", "precision", "recall")}}


# %% Figures
def f1_figure(results: dict, baseline: dict, path, args, split: str):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    for name, r in results.items():
        epochs = [h["epoch"] for h in r["history"]]
        ax1.plot(epochs, [h["f1"] for h in r["history"]], marker="o", lw=2,
                 color=COLORS[name], label=f"{name}: {r['f1']:.3f}")
        ax2.plot(epochs, [h["train_loss"] for h in r["history"]], marker="o", lw=2,
                 color=COLORS[name], label=name)
    ax1.axhline(baseline["f1"], color=COLORS["baseline"], ls="--", lw=1.2,
                label=f"letter-pair rule: {baseline['f1']:.3f}")
    ax1.set(xlabel="epoch", ylabel=f"F1 of word boundaries ({split} text)",
            title=f"F1 on the {split} text (after the last epoch in the legend)")
    ax2.set(xlabel="epoch", ylabel="training loss (mean cross-entropy per letter)",
            title="Training loss (masked: real letters only)")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(f"Restoring the spaces of The Time Machine: embedding {args.embed_dim} -> "
                 f"{args.cell.upper()} {args.num_hiddens} per direction x {args.num_layers} "
                 f"layer(s) -> linear -> softmax; {args.num_epochs} epochs of pieces of "
                 f"{args.min_len}-{args.max_len} letters, batch {args.batch_size}, Adam lr "
                 f"{args.lr}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def probs_figure(probs: dict, baseline_tags, letters: str, true_tags, path, split: str):
    n, x = len(letters), np.arange(len(letters))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.16 * n), 4.2))
    ax.bar(x, true_tags, width=1.0, color="0.88", label="a word ends here (truth)")
    for name, p in probs.items():
        ax.plot(x, p, marker="o", ms=3, lw=1.4, color=COLORS[name], label=f"{name} model")
    hits = np.flatnonzero(baseline_tags)
    ax.plot(hits, np.full(hits.size, 1.06), "x", color=COLORS["baseline"],
            label="letter-pair rule splits")
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(x)
    ax.set_xticklabels(list(letters), fontsize=7, family="monospace")
    ax.set(xlim=(-0.6, n - 0.4), ylim=(0, 1.12), ylabel="P(a word ends after this letter)",
           title=f"The first {n} letters of the {split} text, spaces removed: what each model "
                 f"reads into them")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


# %% Run everything
def load_data(args) -> dict:
    """Letters, tags and ids of the training and evaluation texts (``--dev``: the last 10%
    of the training text, the test text unread), and the evaluation text's pieces."""
    train_text, test_text = split_text(preprocess(load_corpus("timemachine")).strip(), 0.8)
    split = "dev" if args.dev else "test"
    if args.dev:
        train_text, test_text = split_text(train_text, 0.9)
    if args.max_chars:                                         # less of both
        train_text, test_text = train_text[:args.max_chars], test_text[:args.max_chars // 4]
        train_text, test_text = train_text[:train_text.rfind(" ")], test_text[:test_text.rfind(" ")]
    (train_letters, train_tags), (test_letters, test_tags) = map(remove_spaces, (train_text, test_text))
    vocab = Vocab(list(train_letters), reserved_tokens=[PAD])  # <unk> 0, <pad> 1, a-z
    test_ids = np.array(vocab[list(test_letters)], dtype=np.int64)
    return {"vocab_size": len(vocab), "pad_id": vocab[PAD], "split": split,
            "train_letters": train_letters, "train_tags": train_tags,
            "train_ids": np.array(vocab[list(train_letters)], dtype=np.int64),
            "test_letters": test_letters, "test_tags": test_tags, "test_ids": test_ids,
            "test_pieces": consecutive_pieces(len(test_ids), args.min_len, args.max_len,
                                              np.random.default_rng([args.seed, 2]))}


SETTINGS = [Setting("min_len", "--min-len", int, 20, "shortest piece, letters", low=1, high=10 ** 6),
            Setting("max_len", "--max-len", int, 120, "longest piece, letters", low=1, high=10 ** 6),
            Setting("sample_len", "--sample-len", int, 400, "letters of the restored passage",
                    low=1, high=10 ** 6),
            Setting("max_chars", "--max-chars", int, None, "use this many characters of the "
                    "training text (a quarter as many of the test text)", low=1000, none="all"),
            Setting("dev", "--dev", bool, False, "train on the first 90 percent of the training text, "
                    "evaluate on the rest of it (for choosing settings)")]


def main(argv=None):
    parser = example_parser(__doc__, "cell", "num_hiddens", "embed_dim", "num_layers", "dropout",
                            "num_epochs", "batch_size", "lr", "clip", "seed", "out",
                            "no_progress", *SETTINGS,
                            defaults={"cell": "gru", "num_hiddens": 128, "embed_dim": 32,
                                      "num_epochs": 12, "batch_size": 64, "lr": 0.01})
    args = parser.parse_args(argv)
    if args.max_len < args.min_len:
        parser.error(f"--max-len must be >= --min-len ({args.min_len}), got {args.max_len}")
    start = time.perf_counter()
    data = load_data(args)
    split = data["split"]
    print(f"training text: {len(data['train_ids']):,} letters, {int(data['train_tags'].sum()):,} "
          f"words; {split} text: {len(data['test_ids']):,} letters in "
          f"{len(data['test_pieces'])} pieces")
    rule = fit_pair_rule(data["train_letters"], data["train_tags"])
    baseline_tags = apply_pair_rule(rule, data["test_letters"])
    baseline = boundary_f1(baseline_tags, data["test_tags"])
    results = {name: train_tagger(name, data, args) for name in ("unidirectional", "bidirectional")}

    n = min(args.sample_len, len(data["test_letters"]))
    letters, truth = data["test_letters"][:n], data["test_tags"][:n]
    sample = {"input": letters, "truth": restore_spaces(letters, truth),
              **{name: restore_spaces(letters, results[name]["probs"][:n] > 0.5)
                 for name in ("bidirectional", "unidirectional")},
              "baseline": restore_spaces(letters, baseline_tags[:n])}
    print("".join(f"{key:>15}: {line}\n" for key, line in sample.items()))
    print(f"F1 of word boundaries on the {split} text:\n{'':>17}F1  precision  recall")
    for name, r in (*results.items(), ("letter-pair rule", baseline)):
        print(f"{name:>16} {r['f1']:.4f}   {r['precision']:.4f}  {r['recall']:.4f}")
    print(f"saved {f1_figure(results, baseline, args.out / 'segment_words_f1.png', args, split)}")
    m = min(80, n)                                             # the passage of the second figure
    print("saved " + str(probs_figure({k: r["probs"][:m] for k, r in results.items()},
                                      baseline_tags[:m], letters[:m], truth[:m],
                                      args.out / "segment_words_probs.png", split)))
    bi, uni = results["bidirectional"], results["unidirectional"]
    metrics = {"f1": bi["f1"], "precision": bi["precision"], "recall": bi["recall"],
               **{f"unidirectional_{k}": uni[k] for k in ("f1", "precision", "recall")},
               **{f"baseline_{k}": baseline[k] for k in ("f1", "precision", "recall")},
               "evaluated_on": split, "sample": sample,
               "letters": {"train": len(data["train_ids"]), split: len(data["test_ids"])},
               "history": {name: r["history"] for name, r in results.items()},
               "parameters": {name: int(sum(p.size for p in r["model"].params.values()))
                              for name, r in results.items()},
               "settings": {k: str(v) if k == "out" else v for k, v in vars(args).items()},
               "seconds": time.perf_counter() - start}
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\n"
          f"wall time {metrics['seconds']:.0f} s")
    return metrics


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
