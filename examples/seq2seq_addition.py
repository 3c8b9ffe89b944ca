"""Unaligned sequence to sequence: the book's encoder-decoder learns integer addition
written as text (d2l: the encoder-decoder and seq2seq sections).

``"123+45" -> "168"``: operands of 1 to ``--max-digits`` digits, so inputs and outputs have
lengths of their own and no step-for-step alignment.  ``--examples`` distinct problems, a
seeded tenth held out.  ``minirnn.models.Seq2Seq``: the encoder's final state starts the
decoder, its top layer's final h (the context) is read at every decoder step; teacher
forcing, a loss over the real target tokens (the batch's mask), batches of similar source
lengths, trained by ``minirnn.train.Trainer``; greedy prediction.  Two runs with the same
data and seeds: the source reversed (``"54+321"``, Sutskever et al., 2014) and as written;
reported on the held-out problems: exact match, the book's BLEU on characters (k = 2) and
exact match by the answer's number of digits.

    python examples/seq2seq_addition.py               # two runs, about 3 CPU minutes
    python examples/seq2seq_addition.py --examples 1000 --epochs 2 --hidden 8 --embed-dim 4

Writes (in --out): seq2seq_addition.png and metrics.json.
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import time  # noqa: E402

import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from minirnn.data import Vocab, bucket_batches, pad_sequences, sequence_mask  # noqa: E402
from minirnn.metrics import bleu  # noqa: E402
from minirnn.models import Batch, Seq2Seq  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402
from minirnn.settings import Setting, atomic_write_json, example_parser, run_script  # noqa: E402
from minirnn.train import Trainer  # noqa: E402

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
COLORS = {True: "tab:blue", False: "tab:orange"}
NAMES = {True: "reversed", False: "as written"}


# %% The data: distinct addition problems, a seeded held-out tenth
def make_problems(num_examples: int, max_digits: int = 3, seed: int = 0) -> list:
    """``num_examples`` distinct ``(a, b)``, each of 1 to ``max_digits`` digits (the count
    drawn uniformly, then the number); duplicates drawn again.  Seeded."""
    if num_examples > (10 ** max_digits) ** 2:
        raise ValueError(f"num_examples must be at most {(10 ** max_digits) ** 2} (every pair "
                         f"of operands of up to {max_digits} digits), got {num_examples}")
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
    return [problems[i] for i in order[n_test:]], [problems[i] for i in order[:n_test]]


def make_vocab() -> Vocab:
    """One vocabulary for both sides: ``<unk> <pad> <bos> <eos> + 0 .. 9`` (15 tokens)."""
    return Vocab(list("+0123456789"), reserved_tokens=(PAD, BOS, EOS))


def encode(problems: list, vocab: Vocab, reverse: bool):
    """Ids of every problem: ``src`` (``"a+b"``, reversed if asked), ``tgt_in`` (``<bos>``
    + the sum's digits) and ``tgt_out`` (the digits + ``<eos>``), lists of int arrays."""
    questions = [f"{a}+{b}"[::-1] if reverse else f"{a}+{b}" for a, b in problems]
    answers = [vocab[list(str(a + b))] for a, b in problems]
    return ([np.array(vocab[list(q)]) for q in questions],
            [np.array([vocab[BOS]] + d) for d in answers], [np.array(d + [vocab[EOS]]) for d in answers])


class AdditionBatches:
    """One epoch per ``iter()``: ``Batch((src, tgt_in), tgt_out, (src_lengths, tgt_lengths),
    mask)`` over buckets of similar source lengths, in an order drawn from ``rng``."""

    def __init__(self, seqs, pad_id: int, batch_size: int, seed: int):
        (self.S, self.S_len), (self.Y_in, self.Y_len), (self.Y_out, _) = \
            [pad_sequences(s, pad_id) for s in seqs]      # each padded once
        self.batch_size, self.rng = batch_size, np.random.default_rng([seed, 2])

    def __len__(self):
        return -(-len(self.S_len) // self.batch_size)

    def __iter__(self):
        for idx in bucket_batches(self.S_len, self.batch_size, rng=self.rng):
            src_len, tgt_len = self.S_len[idx], self.Y_len[idx]
            T_src, T_tgt = src_len.max(), tgt_len.max()   # each batch cut to its longest
            yield Batch((self.S[idx, :T_src], self.Y_in[idx, :T_tgt]), self.Y_out[idx, :T_tgt],
                        (src_len, tgt_len), sequence_mask(tgt_len, T_tgt))


# %% Prediction and scores
def predict(model, src: list, vocab: Vocab, max_len: int, chunk: int = 1000) -> list:
    """Greedy answers (strings) for every source, in chunks of similar lengths."""
    order = np.argsort(-np.array([s.size for s in src]), kind="stable")
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


# %% Training: the Trainer, with the held-out exact match after every epoch (watched only)
def run(train, test, vocab, reverse: bool, args) -> dict:
    model = Seq2Seq(len(vocab), len(vocab), embed_dim=args.embed_dim,
                    num_hiddens=args.num_hiddens, num_layers=args.num_layers, cell=args.cell,
                    seed=args.seed)
    data = AdditionBatches(encode(train, vocab, reverse), vocab[PAD], args.batch_size, args.seed)
    test_src = encode(test, vocab, reverse)[0]
    last = {}

    def held_out(model):                                  # after every epoch
        last["preds"] = predict(model, test_src, vocab, args.max_digits + 2)
        last["scores"] = score(last["preds"], test, args.bleu_k)
        return {"exact_match": last["scores"]["exact_match"]}

    trainer = Trainer(model, data, optimizer="adam", lr=args.lr, schedule=args.schedule,
                      clip=args.clip, evaluate=held_out, progress=not args.no_progress)
    trainer.fit(args.num_epochs)                          # one line an epoch, or a bar
    pairs = list(zip(test, test_src, last["preds"]))
    return {"history": trainer.history.records, "scores": last["scores"],
            "samples": [{"question": f"{a}+{b}", "source": "".join(vocab.to_tokens(list(s))),
                         "answer": str(a + b), "predicted": p} for (a, b), s, p in pairs[:10]],
            "wrong": [(f"{a}+{b}", str(a + b), p) for (a, b), _, p in pairs if p != str(a + b)]}


# %% The figure
def figure(runs: dict, path, args):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for reverse, r in runs.items():
        label, color = f"source {NAMES[reverse]}", COLORS[reverse]
        epochs = [h["epoch"] for h in r["history"]]
        axes[0].plot(epochs, [h["train_loss"] for h in r["history"]], marker="o", ms=3,
                     color=color, label=label)
        axes[1].plot(epochs, [max(1 - h["exact_match"], 1e-4) for h in r["history"]], marker="o",
                     ms=3, color=color, label=f"{label}: {r['scores']['exact_match']:.4f} exact")
    axes[0].set(xlabel="epoch", ylabel="training loss (nats per target token, log)",
                yscale="log", title="Training loss (teacher forcing)")
    axes[1].set(xlabel="epoch", ylabel="held-out error, 1 - exact match (log; 0 drawn at 1e-4)",
                yscale="log", title="Held-out problems, greedy decoding")
    counts = next(iter(runs.values()))["scores"]["by_length"]
    lengths = sorted(counts, key=int)
    for k, (reverse, r) in enumerate(runs.items()):
        xs = np.arange(len(lengths)) + (k - (len(runs) - 1) / 2) * 0.38
        axes[2].bar_label(axes[2].bar(xs, [r["scores"]["by_length"][n]["exact_match"] for n in lengths],
                          0.38, color=COLORS[reverse], label=f"source {NAMES[reverse]}"), fmt="%.3f", fontsize=7)
    axes[2].set_xticks(np.arange(len(lengths)), [f"{n} digit{'s' if n != '1' else ''}\n"
                                                 f"({counts[n]['count']})" for n in lengths])
    axes[2].set(ylabel="held-out exact match", ylim=(0, 1.22),
                title="Exact match by the answer's length (problems)")
    for ax in axes:
        if ax is not axes[2]:
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, **({"loc": "upper center", "ncol": 2} if ax is axes[2] else {}))
    fig.suptitle(f"Seq2seq addition: {args.cell.upper()} encoder-decoder, H = {args.num_hiddens}, "
                 f"E = {args.embed_dim}, {args.examples} problems (10% held out), "
                 f"{args.num_epochs} epochs of batch {args.batch_size}, Adam lr {args.lr} "
                 f"({args.schedule}), clipping {args.clip}", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


# %% Run everything
SETTINGS = [
    Setting("examples", "--examples", int, 50_000, "distinct problems", low=10, high=10 ** 7),
    Setting("held_out", "--held-out", float, 0.1, "fraction held out", low=0, high=1,
            open_low=True, open_high=True),
    Setting("max_digits", "--max-digits", int, 3, "digits of the longest operand", low=1, high=9),
    Setting("schedule", "--schedule", ("cosine", "constant"), "cosine",
            "the learning rate: cosine decay from --lr to 0 over the run, or constant"),
    Setting("bleu_k", "--bleu-k", int, 2, "BLEU's longest n-gram (the book's 2)", low=1, high=10),
    Setting("only_reversed", "--only-reversed", bool, False, "skip the run as written"),
]


def main(argv=None):
    parser = example_parser(__doc__, "num_epochs", "batch_size", "num_hiddens", "embed_dim",
                            "num_layers", "cell", "lr", "clip", "seed", "out", "no_progress",
                            *SETTINGS, defaults={"num_epochs": 8, "batch_size": 128,
                                                 "num_hiddens": 128, "embed_dim": 16,
                                                 "cell": "gru", "lr": 0.01})
    args = parser.parse_args(argv)
    if args.examples > (10 ** args.max_digits) ** 2 // 2:
        parser.error(f"--examples {args.examples} is more than half of every pair of operands "
                     f"of up to --max-digits {args.max_digits} digits")
    start = time.perf_counter()
    vocab = make_vocab()
    problems = make_problems(args.examples, args.max_digits, args.seed)
    train, test = split_problems(problems, args.held_out, args.seed)
    if not test or not train:
        parser.error(f"--examples {args.examples} with --held-out {args.held_out} leaves an "
                     f"empty split")
    print(f"{len(problems)} distinct problems: {len(train)} to train on, {len(test)} held out")
    runs = {reverse: run(train, test, vocab, reverse, args)
            for reverse in ((True,) if args.only_reversed else (True, False))}
    for reverse, r in runs.items():
        s = r["scores"]
        print(f"\nsource {'reversed' if reverse else 'as written'}: held-out exact match "
              f"{s['exact_match']:.4f}, BLEU (characters, k = {args.bleu_k}) {s['bleu']:.4f}, "
              f"{len(r['wrong'])} of {len(test)} wrong")
        print("  some wrong: " + "; ".join(f"{q} = {y}, said {p or '(empty)'}"
                                         for q, y, p in r["wrong"][:8]))
    print(f"saved {figure(runs, args.out / 'seq2seq_addition.png', args)}")
    name = {True: "reversed", False: "unreversed"}
    metrics = {"exact_match": runs[True]["scores"]["exact_match"], "bleu": runs[True]["scores"]["bleu"],
               "wrong": len(runs[True]["wrong"]), **{f"{key}_unreversed": runs[False]["scores"][key] for key in ("exact_match", "bleu")
                  if False in runs},
               **{key: {name[rev]: r[key] for rev, r in runs.items()}
                  for key in ("history", "samples")},
               "exact_match_by_length": {name[rev]: r["scores"]["by_length"]
                                         for rev, r in runs.items()},
               "num_train": len(train), "num_held_out": len(test),
               "settings": {k: str(v) if k == "out" else v for k, v in vars(args).items()},
               "seconds": time.perf_counter() - start}
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\n"
          f"wall time {metrics['seconds']:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
