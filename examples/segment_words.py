"""Restoring the spaces of *The Time Machine*: aligned many-to-many, one tag per character
(d2l: the RNN chapter's "one output per input step" shape, and the bidirectional section's
lesson that a bidirectional model belongs where the future is given).

The text after the book's preprocessing (lowercase letters and single spaces) loses its
spaces: "thetimemachinebyhgwells".  For each letter the model says whether a word ends after
it; the spaces are put back there.  Train on the first 80% of the text, test on the rest
(cut at a space: no word and no character in both).

* Data: variable-length pieces of the letter stream, of ``--min-len`` to ``--max-len``
  letters, cut anywhere (mid-word too, so a piece's edges give nothing away); training
  draws new random pieces every epoch, the test text is cut into consecutive pieces, each
  letter tagged exactly once.  Pieces of similar lengths are batched together
  (``bucket_batches``), padded (``pad_sequences``); the recurrent layer gets their
  ``lengths`` and the loss is ``SoftmaxCrossEntropy`` with ``mask=sequence_mask(...)``:
  the mean over real letters, padding counts for nothing.
* Models (``minirnn.models.SequenceTagger``): embedding -> GRU (``--cell``) -> linear per
  step -> 2-way softmax; a unidirectional model (reads letters 1..t to tag letter t) and a
  bidirectional one (also reads the letters after t, from each piece's own last letter),
  the same size per direction, the same data, updates and seed.
* Baseline: a rule from letter-pair counts: split between letters a and b when, in the
  training text, "a b" (a space between them) occurred more often than "ab".
* Metric: F1 of word boundaries on the test text (precision: the predicted boundaries that
  are real; recall: the real ones found).

    python examples/segment_words.py        # default: about 4 minutes on a busy 2-core machine
    python examples/segment_words.py --epochs 1 --hidden 8 --embed 4 --max-chars 12000 \
        --sample-len 100                     # seconds (the test)
    python examples/segment_words.py --dev   # train on 72%, evaluate on the next 8% (tuning)

Figures (in --out, default figures/): segment_words_f1.png (test F1 and training loss per
epoch, both models, the baseline), segment_words_probs.png (each letter's boundary
probability on a test passage, both models, true boundaries marked); metrics.json (keys
``f1`` (bidirectional), ``unidirectional_f1``, ``baseline_f1``, precision and recall of
each, the restored sample, the history, the settings, the wall times) and
segment_words_sample.txt (the restored test passage).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from minirnn.data import (Vocab, bucket_batches, load_corpus, pad_sequences, preprocess,  # noqa: E402
                          run_example, sequence_mask)
from minirnn.layers import evaluating  # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minirnn.models import SequenceTagger  # noqa: E402
from minirnn.optim import Adam, clip_grad_norm  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402

PAD = "<pad>"
COLORS = {"unidirectional": "tab:blue", "bidirectional": "tab:orange", "baseline": "0.4"}


# %% The data: letters without spaces, and where the words end
def split_text(text: str, fraction: float = 0.8):
    """``text`` (letters and single spaces) -> (the first ``fraction``, the rest), cut at
    the first space at or after ``fraction * len(text)`` (dropped): no word in both."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    cut = text.find(" ", int(fraction * len(text)))
    if cut < 0:
        raise ValueError(f"text has no space after {fraction:.0%} of its {len(text)} characters")
    return text[:cut], text[cut + 1:]


def remove_spaces(text: str):
    """``"the time"`` -> ``("thetime", [0, 0, 1, 0, 0, 0, 1])``: the letters, and for each
    letter 1 if a word ends after it (the text's last letter ends a word)."""
    words = text.split()
    if not words:
        raise ValueError("text has no words")
    boundaries = np.zeros(sum(map(len, words)), dtype=np.int64)   # (N,)
    boundaries[np.cumsum([len(w) for w in words]) - 1] = 1         # each word's last letter
    return "".join(words), boundaries


def restore_spaces(letters: str, boundaries) -> str:
    """The inverse of ``remove_spaces``: a space after each letter tagged 1 (not the last)."""
    if len(letters) != len(boundaries):
        raise ValueError(f"boundaries must have one tag per letter ({len(letters)}), got "
                         f"{len(boundaries)}")
    cut = np.flatnonzero(np.asarray(boundaries)[:-1]) + 1           # spaces go before these
    return " ".join(letters[i:j] for i, j in zip([0, *cut], [*cut, len(letters)]))


def boundary_f1(predicted, true) -> dict:
    """Precision, recall and F1 of the predicted word boundaries (0/1 per letter).

    precision = TP / predicted boundaries, recall = TP / true boundaries,
    F1 = 2 P R / (P + R) (0 when there is nothing right)."""
    p, t = np.asarray(predicted).astype(bool), np.asarray(true).astype(bool)
    if p.shape != t.shape:
        raise ValueError(f"predicted and true must have the same shape, got {p.shape} and {t.shape}")
    tp = int((p & t).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / t.sum() if t.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


# %% The baseline: a rule from letter-pair counts
def fit_pair_rule(letters: str, boundaries) -> set:
    """The pairs ``a + b`` of adjacent letters that a space separated more often than not
    in the training text: ``count("a b") > count("ab")``."""
    split, together = collections.Counter(), collections.Counter()
    for i in range(len(letters) - 1):
        pair = letters[i:i + 2]
        (split if boundaries[i] else together)[pair] += 1
    return {pair for pair, n in split.items() if n > together[pair]}


def apply_pair_rule(rule: set, letters: str) -> np.ndarray:
    """Tag letter i a boundary when the pair (letter i, letter i + 1) is in ``rule``
    (an unseen pair: no space); the last letter ends the text, so it ends a word."""
    tags = np.array([letters[i:i + 2] in rule for i in range(len(letters) - 1)] + [True])
    return tags.astype(np.int64)


# %% Variable-length pieces, batched by length and padded
def random_pieces(n: int, count: int, min_len: int, max_len: int, rng) -> list:
    """``count`` random ``(start, length)`` pieces of a stream of ``n`` letters, lengths
    uniform in [min_len, max_len] (at most n)."""
    lengths = rng.integers(min(min_len, n), min(max_len, n) + 1, size=count)
    starts = rng.integers(0, n - lengths + 1)
    return list(zip(starts.tolist(), lengths.tolist()))


def consecutive_pieces(n: int, min_len: int, max_len: int, rng) -> list:
    """``(start, length)`` pieces that cut ``0..n`` into consecutive parts (each letter in
    exactly one), lengths uniform in [min_len, max_len] (the last one what is left)."""
    pieces, start = [], 0
    while start < n:
        length = min(int(rng.integers(min_len, max_len + 1)), n - start)
        pieces.append((start, length))
        start += length
    return pieces


def make_batches(ids: np.ndarray, tags: np.ndarray, pieces: list, batch_size: int,
                 pad_id: int, rng, shuffle: bool = True) -> list:
    """Batches ``(X (B, T), Y (B, T), lengths (B,), starts (B,))`` of pieces of similar
    lengths (``bucket_batches``), padded with ``pad_id`` (``Y`` with 0: masked)."""
    starts = np.array([s for s, _ in pieces])
    lengths = np.array([n for _, n in pieces])
    batches = []
    for index in bucket_batches(lengths, batch_size, rng=rng, shuffle=shuffle):
        X, L = pad_sequences([ids[starts[i]:starts[i] + lengths[i]] for i in index], pad_id)
        Y, _ = pad_sequences([tags[starts[i]:starts[i] + lengths[i]] for i in index], 0)
        batches.append((X, Y, L, starts[index]))
    return batches


# %% Training and tagging
def train_epoch(model, batches, optimizer, loss, clip: float, desc: str) -> float:
    """One pass over ``batches``: the masked mean loss, backward, clipping, Adam.
    Returns the epoch's loss, a mean over its real letters."""
    total, count = 0.0, 0
    for X, Y, lengths, _ in tqdm(batches, desc=desc, leave=False, disable=None):
        model.zero_grad()
        logits, _ = model.forward(X, None, lengths)                     # (B, T, 2), 0 past lengths
        mask = sequence_mask(lengths, X.shape[1])               # (B, T): t < lengths[b]
        value = loss.forward(logits, Y, mask=mask)              # mean over the real letters
        model.backward(loss.backward())                         # padding: dlogits = 0 there
        clip_grad_norm(model.grads, clip)
        optimizer.step()
        total, count = total + value * lengths.sum(), count + lengths.sum()
    model.zero_grad()
    return total / count


def boundary_probs(model, ids: np.ndarray, pieces: list, batch_size: int, pad_id: int) -> np.ndarray:
    """P(a word ends after letter i) for every letter of the stream ``ids`` (N,), each
    letter tagged once, inside its piece (dropout off)."""
    probs = np.full(len(ids), np.nan)
    batches = make_batches(ids, np.zeros_like(ids), pieces, batch_size, pad_id, rng=None,
                           shuffle=False)
    with evaluating(model):
        for X, _, lengths, starts in batches:
            logits = model.forward(X, None, lengths)[0].astype(np.float64)           # (B, T, 2)
            p = 1.0 / (1.0 + np.exp(logits[..., 0] - logits[..., 1]))      # softmax(o)[1]
            for b, (s, n) in enumerate(zip(starts, lengths)):
                probs[s:s + n] = p[b, :n]
    return probs


def train_tagger(name: str, data: dict, args) -> dict:
    """Train one ``SequenceTagger`` (``name``: 'unidirectional' or 'bidirectional') for
    ``args.epochs`` epochs; after each, its F1 on the evaluation text (a curve only:
    nothing is chosen by it).  The same seed, data and updates for both models."""
    model = SequenceTagger(data["vocab_size"], 2, args.hidden, embed_dim=args.embed,
                           cell=args.cell, num_layers=args.layers,
                           bidirectional=name == "bidirectional", dropout=args.dropout,
                           seed=args.seed)
    optimizer, loss = Adam(model.params, model.grads, lr=args.lr), SoftmaxCrossEntropy()
    rng = np.random.default_rng([args.seed, 1])                 # the same pieces for both models
    train_ids, train_tags = data["train_ids"], data["train_tags"]
    count = int(np.ceil(len(train_ids) / ((args.min_len + args.max_len) / 2)))  # ~ one pass
    history, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        pieces = random_pieces(len(train_ids), count, args.min_len, args.max_len, rng)
        batches = make_batches(train_ids, train_tags, pieces, args.batch, data["pad_id"], rng)
        value = train_epoch(model, batches, optimizer, loss, args.clip,
                            f"{name} epoch {epoch}/{args.epochs}")
        probs = boundary_probs(model, data["test_ids"], data["test_pieces"], args.batch,
                               data["pad_id"])
        scores = boundary_f1(probs > 0.5, data["test_tags"])
        history.append({"epoch": epoch, "loss": value, **scores,
                        "seconds": time.perf_counter() - start})
        print(f"{name:>15} epoch {epoch:>2}: loss {value:.4f}, {data['split']} F1 "
              f"{scores['f1']:.4f} (P {scores['precision']:.3f}, R {scores['recall']:.3f}), "
              f"{history[-1]['seconds']:.0f} s")
    return {"model": model, "probs": probs, "history": history, **scores}


# %% Figures
def f1_figure(results: dict, baseline: dict, path, args, split: str):
    """Left: F1 on the evaluation text per epoch, both models, the baseline; right: the
    training loss per epoch."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    for name, r in results.items():
        epochs = [h["epoch"] for h in r["history"]]
        ax1.plot(epochs, [h["f1"] for h in r["history"]], marker="o", lw=2,
                 color=COLORS[name], label=f"{name}: {r['f1']:.3f}")
        ax2.plot(epochs, [h["loss"] for h in r["history"]], marker="o", lw=2,
                 color=COLORS[name], label=name)
    ax1.axhline(baseline["f1"], color=COLORS["baseline"], ls="--", lw=1.2,
                label=f"letter-pair rule: {baseline['f1']:.3f}")
    ax1.axhline(0.9, color="tab:red", ls=":", lw=1, label="target 0.90 (bidirectional)")
    ax1.set(xlabel="epoch", ylabel=f"F1 of word boundaries ({split} text)",
            title=f"F1 on the {split} text (after the last epoch in the legend)")
    ax2.set(xlabel="epoch", ylabel="training loss (mean cross-entropy per letter)",
            title="Training loss (masked: real letters only)")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(f"Restoring the spaces of The Time Machine: embedding {args.embed} -> "
                 f"{args.cell.upper()} {args.hidden} per direction x {args.layers} layer(s) -> "
                 f"linear -> softmax; {args.epochs} epochs of pieces of {args.min_len}-"
                 f"{args.max_len} letters, batch {args.batch}, Adam lr {args.lr}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def probs_figure(probs: dict, baseline_tags, letters: str, true_tags, path, split: str):
    """Each letter of a passage: P(a word ends after it) from both models (``probs``:
    name -> (n,)); the true word ends marked (grey bars), the baseline's as crosses."""
    n = len(letters)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.16 * n), 4.2))
    x = np.arange(n)
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
    """The letters and boundary tags of the training and evaluation texts, their ids and
    the evaluation text's pieces.  ``--dev``: train on the first 90% of the training text,
    evaluate on the rest of it (the test text unread)."""
    text = preprocess(load_corpus("timemachine")).strip()
    train_text, test_text = split_text(text, 0.8)
    split = "test"
    if args.dev:
        train_text, test_text = split_text(train_text, 0.9)
        split = "dev"
    if args.max_chars:                                         # the fast setting: less of both
        train_text, test_text = train_text[:args.max_chars], test_text[:args.max_chars // 4]
        train_text, test_text = train_text[:train_text.rfind(" ")], test_text[:test_text.rfind(" ")]
    train_letters, train_tags = remove_spaces(train_text)
    test_letters, test_tags = remove_spaces(test_text)
    vocab = Vocab(list(train_letters), reserved_tokens=[PAD])  # <unk> 0, <pad> 1, a-z
    train_ids = np.array(vocab[list(train_letters)], dtype=np.int64)
    test_ids = np.array(vocab[list(test_letters)], dtype=np.int64)
    pieces = consecutive_pieces(len(test_ids), args.min_len, args.max_len,
                                np.random.default_rng([args.seed, 2]))
    return {"vocab": vocab, "vocab_size": len(vocab), "pad_id": vocab[PAD], "split": split,
            "train_letters": train_letters, "train_tags": train_tags, "train_ids": train_ids,
            "test_letters": test_letters, "test_tags": test_tags, "test_ids": test_ids,
            "test_pieces": pieces, "train_chars": len(train_text), "test_chars": len(test_text)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="gru", choices=["rnn", "gru", "lstm"],
                        help="recurrent cell of both models (default %(default)s)")
    parser.add_argument("--hidden", type=int, default=128,
                        help="hidden units per direction (default %(default)s)")
    parser.add_argument("--embed", type=int, default=32,
                        help="letter embedding size (default %(default)s)")
    parser.add_argument("--layers", type=int, default=1,
                        help="recurrent layers (default %(default)s)")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout between recurrent layers (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs (default %(default)s)")
    parser.add_argument("--batch", type=int, default=64, help="pieces per batch (default %(default)s)")
    parser.add_argument("--min-len", type=int, default=20,
                        help="shortest piece, letters (default %(default)s)")
    parser.add_argument("--max-len", type=int, default=120,
                        help="longest piece, letters (default %(default)s)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's lr (default %(default)s)")
    parser.add_argument("--clip", type=float, default=1.0,
                        help="gradient-norm clipping (default %(default)s)")
    parser.add_argument("--sample-len", type=int, default=400,
                        help="letters of the restored test passage shown (default %(default)s)")
    parser.add_argument("--max-chars", type=int, default=0,
                        help="use only this many characters of the training text (a quarter "
                             "as many of the test text); 0: all (default %(default)s)")
    parser.add_argument("--dev", action="store_true",
                        help="train on the first 90%% of the training text and evaluate on the "
                             "rest of it, never reading the test text (for choosing settings)")
    parser.add_argument("--seed", type=int, default=0, help="seeds everything (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="folder for the PNGs, metrics.json and the sample (default %(default)s)")
    args = parser.parse_args(argv)
    if min(args.hidden, args.embed, args.layers, args.epochs, args.batch, args.min_len,
           args.sample_len) < 1:
        parser.error("--hidden, --embed, --layers, --epochs, --batch, --min-len and "
                     "--sample-len must be positive")
    if not (args.lr > 0 and args.clip > 0):
        parser.error(f"--lr and --clip must be positive, got {args.lr} and {args.clip}")
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.max_len < args.min_len:
        parser.error(f"--max-len must be >= --min-len ({args.min_len}), got {args.max_len}")
    if args.max_chars and args.max_chars < 1000:
        parser.error(f"--max-chars must be 0 (all) or at least 1000, got {args.max_chars}")
    start = time.perf_counter()

    data = load_data(args)
    split = data["split"]
    print(f"training text: {data['train_chars']:,} characters, {len(data['train_ids']):,} "
          f"letters, {int(data['train_tags'].sum()):,} words; {split} text: "
          f"{data['test_chars']:,} characters, {len(data['test_ids']):,} letters in "
          f"{len(data['test_pieces'])} pieces of {args.min_len}-{args.max_len}")

    rule = fit_pair_rule(data["train_letters"], data["train_tags"])
    baseline_tags = apply_pair_rule(rule, data["test_letters"])
    baseline = boundary_f1(baseline_tags, data["test_tags"])
    print(f"letter-pair rule ({len(rule)} pairs split): {split} F1 {baseline['f1']:.4f} "
          f"(P {baseline['precision']:.3f}, R {baseline['recall']:.3f})")

    results = {name: train_tagger(name, data, args)
               for name in ("unidirectional", "bidirectional")}

    n = min(args.sample_len, len(data["test_letters"]))
    letters, truth = data["test_letters"][:n], data["test_tags"][:n]
    sample = {"input": letters, "truth": restore_spaces(letters, truth),
              "bidirectional": restore_spaces(letters, results["bidirectional"]["probs"][:n] > 0.5),
              "unidirectional": restore_spaces(letters, results["unidirectional"]["probs"][:n] > 0.5),
              "baseline": restore_spaces(letters, baseline_tags[:n])}
    print(f"\nthe first {n} letters of the {split} text, spaces restored:")
    for key, line in sample.items():
        print(f"{key:>15}: {line}")

    print(f"\nF1 of word boundaries on the {split} text ({len(data['test_ids']):,} letters):")
    print(f"{'':>15}{'F1':>8}{'precision':>11}{'recall':>8}")
    rows = {"bidirectional": results["bidirectional"], "unidirectional": results["unidirectional"],
            "letter-pair rule": baseline}
    for name, r in rows.items():
        print(f"{name:>15}{r['f1']:>8.4f}{r['precision']:>11.4f}{r['recall']:>8.4f}")
    met = results["bidirectional"]["f1"] >= 0.9 and \
        results["bidirectional"]["f1"] > max(results["unidirectional"]["f1"], baseline["f1"])
    print(f"target (bidirectional F1 >= 0.90, above the other two): {'met' if met else 'missed'}")

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"saved {f1_figure(results, baseline, args.out / 'segment_words_f1.png', args, split)}")
    m = min(80, n)                                             # the passage of the second figure
    path = probs_figure({name: r["probs"][:m] for name, r in results.items()}, baseline_tags[:m],
                        letters[:m], truth[:m], args.out / "segment_words_probs.png", split)
    print(f"saved {path}")
    path = args.out / "segment_words_sample.txt"
    path.write_text("".join(f"{key}:\n{line}\n\n" for key, line in sample.items()))
    print(f"saved {path}")

    total = time.perf_counter() - start
    bi, uni = results["bidirectional"], results["unidirectional"]
    metrics = {
        "f1": bi["f1"], "unidirectional_f1": uni["f1"], "baseline_f1": baseline["f1"],
        "precision": bi["precision"], "recall": bi["recall"],
        "unidirectional_precision": uni["precision"], "unidirectional_recall": uni["recall"],
        "baseline_precision": baseline["precision"], "baseline_recall": baseline["recall"],
        "target_met": bool(met), "evaluated_on": split,
        "letters": {"train": len(data["train_ids"]), split: len(data["test_ids"])},
        "sample": sample,
        "history": {name: r["history"] for name, r in results.items()},
        "parameters": {name: int(sum(p.size for p in r["model"].params.values()))
                       for name, r in results.items()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seconds": {"total": total, **{name: r["history"][-1]["seconds"]
                                       for name, r in results.items()}},
    }
    path = args.out / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"saved {path}\nwall time {total:.0f} s")
    return metrics


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    if "ipykernel" in sys.modules:
        main([])                                        # a kernel's own argv is not ours
    else:
        sys.exit(run_example(main))                     # a missing corpus: one line, exit 1
