"""Unaligned sequence to sequence: the book's encoder-decoder learns integer addition
written as text (d2l: the encoder-decoder and seq2seq sections; issue #13, task 4).

``"123+45" -> "168"``: operands of 1 to ``--max-digits`` digits (the number of digits of
each drawn uniformly, then the number), so the inputs (3 to 7 characters) and the outputs
(1 to 4 digits) have lengths of their own and no step-for-step alignment: the answer's
first digit depends on every digit of the input.  ``--examples`` distinct problems
(``a+b`` and ``b+a`` are two), a seeded 10% held out (``--held-out``).

The model (``minirnn.models.Seq2Seq``): an encoder (embedding -> GRU) reads the source;
its final state (each source's own, at its length) starts the decoder, and its top layer's
final hidden state, the context, is concatenated to the decoder's input at every step.
Teacher forcing: the decoder reads ``<bos>`` + the answer and predicts the answer +
``<eos>``; the loss is the cross-entropy averaged over the real target tokens
(``SoftmaxCrossEntropy(mask=...)``); batches of similar source lengths
(``bucket_batches``), padded (``pad_sequences``) and run with ``lengths=``.  Prediction
is greedy, one token at a time until ``<eos>``.

Two runs with the same data, seeds and settings: the source reversed (``"54+321"``: the
trick of Sutskever et al., 2014; the encoder then reads the first operand's leading digit
last, right before the decoder writes the answer's leading digit), and the source as
written.
Reported on the held-out problems: exact match (the whole answer right), the book's BLEU
on characters (``minirnn.metrics.bleu``, k = 2, mean over problems), and exact match by
the answer's number of digits.

    python examples/seq2seq_addition.py     # default: two runs, 3 CPU minutes (5.5 on a busy 2-core machine)
    python examples/seq2seq_addition.py --examples 1000 --epochs 2 --hidden 8 --embed 4  # seconds (the test)

Figures (in --out, default figures/): seq2seq_addition.png (training loss and held-out
exact match per epoch, reversed and not; exact match by answer length); metrics.json
(``exact_match``, ``exact_match_unreversed``, ``bleu``, ``bleu_unreversed``,
``exact_match_by_length``, the per-epoch history, sample outputs, settings, wall times).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from minirnn.data import Vocab, bucket_batches, pad_sequences, run_example, sequence_mask  # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minirnn.metrics import bleu  # noqa: E402
from minirnn.models import Seq2Seq  # noqa: E402
from minirnn.optim import Adam, clip_grad_norm  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
COLORS = {True: "tab:blue", False: "tab:orange"}      # reversed, as written


# %% The data: distinct addition problems, a seeded held-out tenth
def make_problems(num_examples: int, max_digits: int = 3, seed: int = 0) -> list:
    """``num_examples`` distinct ``(a, b)``, each operand of 1 to ``max_digits`` digits:
    the number of digits drawn uniformly, then the number (0-9 for one digit, 10-99 for
    two, ...), duplicates drawn again.  Seeded: the same seed, the same list."""
    capacity = 10 ** max_digits                           # operands 0 .. 10^d - 1
    if num_examples > capacity ** 2:
        raise ValueError(f"num_examples must be at most {capacity ** 2} (every pair of "
                         f"operands of up to {max_digits} digits), got {num_examples}")
    rng = np.random.default_rng(seed)
    seen, problems = set(), []
    while len(problems) < num_examples:
        digits = rng.integers(1, max_digits + 1, size=2)  # digits of a and of b
        low = np.where(digits == 1, 0, 10 ** (digits - 1))
        a, b = (int(rng.integers(lo, 10 ** d)) for lo, d in zip(low, digits))
        if (a, b) not in seen:
            seen.add((a, b))
            problems.append((a, b))
    return problems


def split_problems(problems: list, held_out: float = 0.1, seed: int = 0):
    """A seeded shuffle, the first ``round(held_out * n)`` held out: ``(train, test)``."""
    order = np.random.default_rng([seed, 1]).permutation(len(problems))
    n_test = int(round(held_out * len(problems)))
    return ([problems[i] for i in order[n_test:]], [problems[i] for i in order[:n_test]])


def make_vocab() -> Vocab:
    """One vocabulary for both sides: ``<unk> <pad> <bos> <eos> + 0 .. 9`` (15 tokens)."""
    return Vocab(list("+0123456789"), reserved_tokens=(PAD, BOS, EOS))


def encode(problems: list, vocab: Vocab, reverse: bool):
    """Token ids of every problem: ``src`` (``"a+b"``, reversed if asked), ``tgt_in``
    (``<bos>`` + the sum's digits) and ``tgt_out`` (the digits + ``<eos>``), lists of
    int arrays (``tgt_in`` and ``tgt_out`` have the same length, digits + 1)."""
    src, tgt_in, tgt_out = [], [], []
    for a, b in problems:
        question, answer = f"{a}+{b}", str(a + b)
        if reverse:
            question = question[::-1]                     # "123+45" -> "54+321"
        digits = vocab[list(answer)]
        src.append(np.array(vocab[list(question)], dtype=np.int64))
        tgt_in.append(np.array([vocab[BOS]] + digits, dtype=np.int64))
        tgt_out.append(np.array(digits + [vocab[EOS]], dtype=np.int64))
    return src, tgt_in, tgt_out


# %% Training: teacher forcing, a loss over the real target tokens only
def padded(seqs: list, pad_id: int):
    """All of ``seqs`` padded once (``pad_sequences``): ``(ids (N, T_max), lengths (N,))``;
    a batch is then rows of it, cut to its own longest length (``batch_of``)."""
    return pad_sequences(seqs, pad_id)


def batch_of(ids: np.ndarray, lengths: np.ndarray, idx: np.ndarray):
    """Rows ``idx`` of a padded array, cut to their longest: ``(ids (B, T), lengths (B,))``."""
    L = lengths[idx]
    return ids[idx, :L.max()], L


def cosine_lr(lr: float, step: int, total: int) -> float:
    """``lr * (1 + cos(pi * step / total)) / 2``: from lr down to 0 over ``total`` steps."""
    return lr * 0.5 * (1.0 + np.cos(np.pi * step / total))


def train_epoch(model, data, optimizer, args, rng, desc: str, step: int = 0,
                total_steps: int | None = None) -> tuple:
    """One pass over ``data`` = padded (src, tgt_in, tgt_out), each ``(ids, lengths)``, in
    batches of similar source lengths, the learning rate on its cosine from ``step`` of
    ``total_steps`` (None: constant).  Returns (the mean loss per real target token, the
    next step)."""
    (S, S_len), (Y_in_all, Y_len_all), (Y_out_all, _) = data
    loss = SoftmaxCrossEntropy()
    total, tokens = 0.0, 0
    batches = bucket_batches(S_len, args.batch, rng=rng)
    for idx in tqdm(batches, desc=desc, leave=False, disable=None):   # a bar in a terminal only
        X, X_len = batch_of(S, S_len, idx)                # (B, T_src), (B,)
        Y_in, Y_len = batch_of(Y_in_all, Y_len_all, idx)  # <bos> + answer  (B, T_tgt)
        Y_out = Y_out_all[idx, :Y_in.shape[1]]            # answer + <eos>  (B, T_tgt)
        mask = sequence_mask(Y_len, Y_in.shape[1])        # (B, T): the real target tokens
        if total_steps:
            optimizer.lr = cosine_lr(args.lr, step, total_steps)
        model.zero_grad()
        logits, _ = model.forward((X, Y_in), None, (X_len, Y_len))  # (B, T, V), teacher forcing
        value = loss.forward(logits, Y_out, mask)         # mean over the real tokens
        model.backward(loss.backward())
        clip_grad_norm(model.grads, args.clip)
        optimizer.step()
        step += 1
        n = int(mask.sum())
        total, tokens = total + value * n, tokens + n
    return total / tokens, step


def predict(model, src: list, vocab: Vocab, max_len: int, chunk: int = 1000) -> list:
    """Greedy answers (strings of digits; anything else the model emits is kept, as the
    token's text) for every source, in chunks of similar lengths."""
    lengths = np.array([s.size for s in src])
    order = np.argsort(-lengths, kind="stable")
    out = [None] * len(src)
    for i in range(0, len(src), chunk):
        idx = order[i:i + chunk]
        X, X_len = pad_sequences([src[j] for j in idx], vocab[PAD])
        for j, ids in zip(idx, model.greedy_decode(X, X_len, vocab[BOS], vocab[EOS], max_len)):
            out[j] = "".join(vocab.to_tokens([int(t) for t in ids]))
    return out


def score(preds: list, problems: list, k: int) -> dict:
    """Exact match, mean BLEU (characters, order k) and exact match by answer length."""
    answers = [str(a + b) for a, b in problems]
    right = np.array([p == y for p, y in zip(preds, answers)])
    by_length = {}
    for n in sorted({len(y) for y in answers}):
        rows = np.array([len(y) == n for y in answers])
        by_length[str(n)] = {"exact_match": float(right[rows].mean()), "count": int(rows.sum())}
    return {"exact_match": float(right.mean()),
            "bleu": float(np.mean([bleu(p, y, k) for p, y in zip(preds, answers)])),
            "by_length": by_length}


def run(train, test, vocab, reverse: bool, args) -> dict:
    """Train one model (source reversed or not) for ``args.epochs`` epochs; the held-out
    exact match after each epoch (watched, never used to choose anything)."""
    name = "reversed" if reverse else "as written"
    model = Seq2Seq(len(vocab), len(vocab), embed_dim=args.embed, num_hiddens=args.hidden,
                    num_layers=args.layers, cell=args.cell, seed=args.seed)
    optimizer = Adam(model.params, model.grads, lr=args.lr)
    train_data = [padded(seqs, vocab[PAD]) for seqs in encode(train, vocab, reverse)]
    test_data = encode(test, vocab, reverse)
    total_steps = args.epochs * -(-len(train) // args.batch) if args.schedule == "cosine" else None
    step = 0
    max_len = args.max_digits + 2                          # the longest sum + 1: room for <eos>
    rng = np.random.default_rng([args.seed, 2])            # the same batches for both runs
    history, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss, step = train_epoch(model, train_data, optimizer, args, rng, f"{name} epoch {epoch}",
                                 step, total_steps)
        preds = predict(model, test_data[0], vocab, max_len)
        scores = score(preds, test, args.bleu_k)
        history.append({"epoch": epoch, "loss": loss, "exact_match": scores["exact_match"],
                        "seconds": time.perf_counter() - start})
        print(f"{name:>10}  epoch {epoch:>3}  loss {loss:.4f}  held-out exact match "
              f"{scores['exact_match']:.4f}  ({history[-1]['seconds']:.0f} s)", flush=True)
    samples = [{"question": f"{a}+{b}", "source": "".join(vocab.to_tokens(list(s))),
                "answer": str(a + b), "predicted": p}
               for (a, b), s, p in list(zip(test, test_data[0], preds))[:args.samples]]
    return {"model": model, "history": history, "scores": scores, "samples": samples,
            "wrong": [(f"{a}+{b}", str(a + b), p) for (a, b), p in zip(test, preds)
                      if p != str(a + b)]}


# %% The figure
def figure(runs: dict, path: Path, args) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for reverse, r in runs.items():
        label = "source reversed" if reverse else "source as written"
        epochs = [h["epoch"] for h in r["history"]]
        axes[0].plot(epochs, [h["loss"] for h in r["history"]], marker="o", ms=3,
                     color=COLORS[reverse], label=label)
        axes[1].plot(epochs, [max(1 - h["exact_match"], 1e-4) for h in r["history"]], marker="o", ms=3,
                     color=COLORS[reverse], label=f"{label}: {r['scores']['exact_match']:.4f} "
                                                  f"exact")
    axes[0].set(xlabel="epoch", ylabel="training loss (nats per target token, log)",
                yscale="log", title="Training loss (teacher forcing)")
    axes[1].axhline(0.01, color="0.4", ls="--", lw=1, label="target: 0.99 exact (error 0.01)")
    axes[1].set(xlabel="epoch", ylabel="held-out error, 1 - exact match (log; 0 drawn at 1e-4)",
                yscale="log",
                title="Held-out problems, greedy decoding")
    lengths = sorted(next(iter(runs.values()))["scores"]["by_length"], key=int)
    width = 0.38
    for k, (reverse, r) in enumerate(runs.items()):
        acc = [r["scores"]["by_length"][n]["exact_match"] for n in lengths]
        xs = np.arange(len(lengths)) + (k - (len(runs) - 1) / 2) * width
        bars = axes[2].bar(xs, acc, width, color=COLORS[reverse],
                           label="source reversed" if reverse else "source as written")
        axes[2].bar_label(bars, fmt="%.3f", fontsize=7)
    counts = next(iter(runs.values()))["scores"]["by_length"]
    axes[2].set_xticks(np.arange(len(lengths)),
                       [f"{n} digit{'s' if n != '1' else ''}\n({counts[n]['count']})"
                        for n in lengths])
    axes[2].set(ylabel="held-out exact match", ylim=(0, 1.22),
                title="Exact match by the answer's length (problems)")
    for ax in axes[:2]:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, **({"loc": "upper center", "ncol": 2} if ax is axes[2] else {}))
    fig.suptitle(f"Seq2seq addition: {args.cell.upper()} encoder-decoder, H = {args.hidden}, "
                 f"E = {args.embed}, {args.examples} problems (10% held out), {args.epochs} "
                 f"epochs of batch {args.batch}, Adam lr {args.lr} ({args.schedule}), clipping {args.clip}",
                 fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


# %% Run everything
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=50_000,
                        help="distinct problems (default %(default)s)")
    parser.add_argument("--held-out", type=float, default=0.1,
                        help="fraction held out (default %(default)s)")
    parser.add_argument("--max-digits", type=int, default=3,
                        help="digits of the longest operand (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="(default %(default)s)")
    parser.add_argument("--batch", type=int, default=128, help="(default %(default)s)")
    parser.add_argument("--hidden", type=int, default=128,
                        help="hidden units H of encoder and decoder (default %(default)s)")
    parser.add_argument("--embed", type=int, default=16,
                        help="embedding size E (default %(default)s)")
    parser.add_argument("--layers", type=int, default=1, help="(default %(default)s)")
    parser.add_argument("--cell", default="gru", choices=["rnn", "gru", "lstm"],
                        help="(default %(default)s)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's lr (default %(default)s)")
    parser.add_argument("--schedule", default="cosine", choices=["cosine", "constant"],
                        help="the learning rate: cosine decay from --lr to 0 over the run, "
                             "or constant (default %(default)s)")
    parser.add_argument("--clip", type=float, default=1.0,
                        help="gradient-norm clipping (default %(default)s)")
    parser.add_argument("--bleu-k", type=int, default=2,
                        help="BLEU's longest n-gram (default %(default)s, the book's)")
    parser.add_argument("--only-reversed", action="store_true",
                        help="skip the run with the source as written")
    parser.add_argument("--samples", type=int, default=10,
                        help="held-out outputs printed and saved (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the problems, the split, the init and the batches "
                             "(default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="folder for the PNG and metrics.json (default %(default)s)")
    args = parser.parse_args(argv)
    if min(args.examples, args.epochs, args.batch, args.hidden, args.embed, args.layers,
           args.max_digits, args.bleu_k) < 1 or args.samples < 0:
        parser.error("--examples, --epochs, --batch, --hidden, --embed, --layers, "
                     "--max-digits and --bleu-k must be positive")
    if not 0 < args.held_out < 1:
        parser.error(f"--held-out must be in (0, 1), got {args.held_out}")
    if not (args.lr > 0 and args.clip > 0):
        parser.error("--lr and --clip must be positive")
    start = time.perf_counter()

    vocab = make_vocab()
    try:
        problems = make_problems(args.examples, args.max_digits, args.seed)
    except ValueError as err:
        parser.error(f"--examples: {err}")
    train, test = split_problems(problems, args.held_out, args.seed)
    if not test or not train:
        parser.error(f"--examples {args.examples} with --held-out {args.held_out} leaves an "
                     f"empty split")
    print(f"{len(problems)} distinct problems: {len(train)} to train on, {len(test)} held out; "
          f"e.g. {train[0][0]}+{train[0][1]} -> {sum(train[0])}")

    runs = {}
    for reverse in ((True,) if args.only_reversed else (True, False)):
        runs[reverse] = run(train, test, vocab, reverse, args)
    for reverse, r in runs.items():
        s = r["scores"]
        print(f"\nsource {'reversed' if reverse else 'as written'}: held-out exact match "
              f"{s['exact_match']:.4f}, BLEU (characters, k = {args.bleu_k}) {s['bleu']:.4f}, "
              f"{len(r['wrong'])} of {len(test)} wrong")
        print("  by answer length: " + ", ".join(
            f"{n} digits {v['exact_match']:.4f} ({v['count']})" for n, v in s["by_length"].items()))
        print("  samples: " + "; ".join(f"{x['question']} -> {x['predicted'] or '(empty)'}"
                                        for x in r["samples"]))
        if r["wrong"]:
            print("  some wrong: " + "; ".join(f"{q} = {y}, said {p or '(empty)'}"
                                             for q, y, p in r["wrong"][:8]))
    path = figure(runs, args.out / "seq2seq_addition.png", args)
    print(f"saved {path}")

    total = time.perf_counter() - start
    best = runs[True]
    metrics = {
        "exact_match": best["scores"]["exact_match"],
        "exact_match_unreversed": runs[False]["scores"]["exact_match"] if False in runs else None,
        "bleu": best["scores"]["bleu"],
        "bleu_unreversed": runs[False]["scores"]["bleu"] if False in runs else None,
        "exact_match_by_length": {("reversed" if rev else "unreversed"): r["scores"]["by_length"]
                                  for rev, r in runs.items()},
        "history": {("reversed" if rev else "unreversed"): r["history"] for rev, r in runs.items()},
        "samples": {("reversed" if rev else "unreversed"): r["samples"] for rev, r in runs.items()},
        "num_train": len(train), "num_held_out": len(test),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seconds": total,
    }
    path = args.out / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"saved {path}\nwall time {total:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    if "ipykernel" in sys.modules:
        main([])                                        # a kernel's own argv is not ours
    else:
        sys.exit(run_example(main))
