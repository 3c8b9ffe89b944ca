"""One-to-many: write a passage in the style of a given book.

The chapter's second task shape (image captioning in the book): one fixed input, the
author (0 *The Time Machine*, 1 *Tiny Shakespeare*), a sequence out.  One character
language model (``minirnn.models.ConditionalLM``, trained by ``minirnn.train.Trainer``)
learns both books' first 80%, every window labelled with its book: the author sets the
initial state, ``h_0 = tanh(E[author] W_ah + b_ah)`` (``--conditioning state``), or is fed
at every step (``input``).  Evaluation: held-out perplexity under the right and the wrong
author; samples of 100 characters per author, labelled by the classifier of
``examples/classify_author.py`` (the style accuracy: the fraction labelled as requested);
and the model as a generative classifier (Bayes' rule) on that classifier's test passages.

    python examples/classify_author.py --out figures     # first: the judge
    python examples/conditional_generation.py --out figures
    python examples/conditional_generation.py --conditioning input --out figures/input \
        --classifier figures/author_classifier.npz
    python examples/conditional_generation.py --updates 5 --hidden 8 --samples 4 \
        --eval-chars 2000 --test-passages 10 --classifier DIR/author_classifier.npz

Writes (in --out): conditional_generation.png, conditional_generation_loss.png,
conditional_lm.npz and metrics.json.
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minirnn import checkpoint  # noqa: E402
from minirnn.data import pad_sequences  # noqa: E402
from minirnn.data.tasks import (AUTHORS, PAD, TEST_LENGTHS, author_test_passages,  # noqa: E402
                                author_texts, char_vocab, encode_passages)
from minirnn.generate import next_token_probs  # noqa: E402
from minirnn.layers import evaluating  # noqa: E402
from minirnn.metrics import perplexity  # noqa: E402
from minirnn.models import Batch, ConditionalLM, SequenceClassifier  # noqa: E402
from minirnn.plotting import plot_running_mean, plt, save_figure  # noqa: E402
from minirnn.settings import Setting, atomic_write_json, example_parser, run_script  # noqa: E402
from minirnn.train import Trainer  # noqa: E402

SAMPLE_CHARS = 100
NAMES = {"timemachine": "The Time Machine", "tinyshakespeare": "Tiny Shakespeare"}
COLORS = ("tab:blue", "tab:red")


# %% Training windows: half from each book, each labelled with its book
class AuthorWindows:
    """``updates`` batches per ``iter()``: ``Batch((X, authors), Y)``, B/2 random windows
    of each book (the rest of an odd B from author 0), Y the next characters."""

    def __init__(self, ids_by_author, args):
        self.ids, self.args = ids_by_author, args
        self.rng = np.random.default_rng(args.seed)

    def __len__(self):                                   # one "epoch" of --updates batches
        return self.args.updates

    def __iter__(self):
        B, T = self.args.batch_size, self.args.num_steps
        authors = np.arange(B) % len(self.ids)
        for _ in range(self.args.updates):
            X, Y = np.empty((2, B, T), dtype=np.int64)
            for b, a in enumerate(authors):
                s = int(self.rng.integers(0, len(self.ids[a]) - T))
                X[b], Y[b] = self.ids[a][s:s + T], self.ids[a][s + 1:s + T + 1]
            yield Batch((X, authors), Y)


# %% Held-out loss under the right and the wrong author
def heldout_nll(model, ids, author, num_steps, batch_size=64) -> np.ndarray:
    """Mean negative log-likelihood at each position of consecutive ``num_steps``-windows
    of ``ids`` (each from the author's initial state), ``(num_steps,)``."""
    n = (len(ids) - 1) // num_steps
    X, Y = ids[:n * num_steps].reshape(n, -1), ids[1:n * num_steps + 1].reshape(n, -1)
    total = np.zeros(num_steps)
    with evaluating(model):
        for i in range(0, n, batch_size):
            x, y = X[i:i + batch_size], Y[i:i + batch_size]
            z = model.forward((x, np.full(len(x), author)))[0].astype(np.float64)
            z -= z.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))       # log softmax
            total -= np.take_along_axis(logp, y[..., None], axis=-1)[..., 0].sum(axis=0)
    return total / n


# %% Generation from each author, and the model as a classifier
def sample(model, vocab, author, num, num_chars, temperature, rng) -> list:
    """``num`` samples of ``num_chars`` characters, each started from a space with the
    author's initial state; ``<unk>`` and ``<pad>`` are never drawn."""
    x = np.full((num, 1), vocab[" "], dtype=np.int64)
    authors, out, state = np.full(num, author), np.empty((num, num_chars), dtype=np.int64), None
    with evaluating(model):
        for t in range(num_chars):
            logits, state = model.forward((x, authors), state)   # first step: h_0 from the author
            logits = logits[:, 0].astype(np.float64)
            logits[:, [vocab.unk, vocab[PAD]]] = -np.inf
            p = next_token_probs(logits, temperature)        # (num, V)
            x = (p.cumsum(axis=1) < rng.random((num, 1))).sum(axis=1, keepdims=True)  # inverse CDF
            x = np.minimum(x, len(vocab) - 1)
            out[:, t] = x[:, 0]
    return ["".join(vocab.to_tokens(row.tolist())) for row in out]


def classify_test_passages(model, judge, books, vocab, args) -> tuple:
    """Accuracy by length of ``model.classify`` (Bayes' rule) and of the judge on
    classify_author.py's test passages: ``({L: accuracy}, {L: accuracy})``."""
    tests = author_test_passages([b.test for b in books], args.test_passages, TEST_LENGTHS,
                                 seed=args.seed)
    generative, judged = {}, {}
    for L in TEST_LENGTHS:
        passages, labels = tests[L]
        ids = np.stack(encode_passages(passages, vocab))       # (N, L): no padding needed
        for scores, classify in ((generative, model.classify), (judged, judge.predict)):
            scores[L] = float(np.mean(np.concatenate(
                [classify(ids[i:i + 256]) for i in range(0, len(ids), 256)]) == labels))
    return generative, judged


# %% Figures
def conditioning_figure(nll, style, path, args):
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    pos = np.arange(1, args.num_steps + 1)
    for a, name in enumerate(AUTHORS):
        ax.plot(pos, nll[name]["right"], color=COLORS[a], lw=1.8, label=f"{NAMES[name]}, right author")
        ax.plot(pos, nll[name]["wrong"], color=COLORS[a], lw=1.2, ls="--",
                label=f"{NAMES[name]}, wrong author")
    ax.set_xscale("log")
    ax.set(xlabel="position in the held-out window (characters, log scale)",
           ylabel="cross-entropy (nats per character)")
    ax.set_title(f"Held-out loss by position: conditioning = {args.conditioning}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    acc = [style[name] for name in AUTHORS]
    bars = bx.bar([NAMES[n].replace(" ", "\n", 1) for n in AUTHORS], acc, color=COLORS)
    bx.bar_label(bars, fmt="%.2f", fontsize=9)
    bx.set(ylabel="labelled as the requested author", ylim=(0, 1.1))
    bx.set_title(f"Style: {args.samples} samples of {SAMPLE_CHARS} characters\n"
                 f"per author, temperature {args.temperature:g}", fontsize=10)
    return save_figure(fig, path)


# %% Run everything
SETTINGS = [
    Setting("conditioning", "--conditioning", ("state", "input"), "state",
            "the author sets h_0, or is fed at every step"),
    Setting("author_dim", "--author-dim", int, 16, "author embedding size", low=1, high=2 ** 16),
    Setting("updates", "--updates", int, 1500, "updates", low=1, high=10 ** 9),
    Setting("samples", "--samples", int, 100, "samples per author", low=1, high=10 ** 6),
    Setting("temperature", "--temperature", float, 0.8, "sampling temperature", low=0,
            high=100, open_low=True),
    Setting("eval_chars", "--eval-chars", int, 50_000, "held-out characters per book, at most",
            low=2, high=10 ** 9),
    Setting("classifier", "--classifier", str, None, "the author classifier's checkpoint "
            "(default: OUT/author_classifier.npz, from examples/classify_author.py)", optional=True),
    Setting("test_passages", "--test-passages", int, 500, "passages per book and length for "
            "the generative classifier", low=1, high=10 ** 6),
]


def main(argv=None):
    parser = example_parser(__doc__, "cell", "num_hiddens", "embed_dim", "batch_size",
                            "num_steps", "lr", "clip", "seed", "out", "no_progress", *SETTINGS,
                            defaults={"cell": "gru", "num_hiddens": 256, "embed_dim": 32,
                                      "batch_size": 32, "num_steps": 64, "lr": 0.005})
    args = parser.parse_args(argv)
    if args.eval_chars < args.num_steps + 1:
        parser.error(f"--eval-chars must be more than --steps ({args.num_steps}), got {args.eval_chars}")
    classifier_path = Path(args.classifier) if args.classifier else args.out / "author_classifier.npz"
    if not classifier_path.is_file():
        parser.error(f"no author classifier at {classifier_path}: run 'python examples/"
                     f"classify_author.py --out {classifier_path.parent}' first, or pass "
                     f"--classifier PATH")
    start = time.perf_counter()
    books, vocab = author_texts(), char_vocab()
    ckpt = checkpoint.load(classifier_path)
    judge = checkpoint.build_model(ckpt)
    if not isinstance(judge, SequenceClassifier) or ckpt.vocab.idx_to_token != vocab.idx_to_token:
        parser.error(f"{classifier_path} holds no author classifier of the task's vocabulary")
    train_ids = [np.array(vocab[list(b.train)], dtype=np.int64) for b in books]
    test_ids = [np.array(vocab[list(b.test[:args.eval_chars])], dtype=np.int64) for b in books]

    model = ConditionalLM(len(vocab), len(AUTHORS), args.num_hiddens, embed_dim=args.embed_dim,
                          class_dim=args.author_dim, conditioning=args.conditioning,
                          cell=args.cell, seed=args.seed)
    losses = []
    Trainer(model, AuthorWindows(train_ids, args), optimizer="adam", lr=args.lr, clip=args.clip,
            after_step=lambda trainer, loss: losses.append(loss),
            progress=not args.no_progress).fit(1)       # one pass of --updates batches
    train_seconds = time.perf_counter() - start
    nll = {name: {"right": heldout_nll(model, test_ids[a], a, args.num_steps),
                  "wrong": heldout_nll(model, test_ids[a], 1 - a, args.num_steps)}
           for a, name in enumerate(AUTHORS)}           # each book, the right and wrong author
    ppl_book = {name: {k: perplexity(float(v.mean())) for k, v in d.items()} for name, d in nll.items()}
    ppl = {k: perplexity(float(np.mean([nll[name][k].mean() for name in AUTHORS])))
           for k in ("right", "wrong")}
    print(f"held-out perplexity ({args.num_steps}-character windows), right / wrong author: "
          + "; ".join(f"{NAMES[n]} {ppl_book[n]['right']:.3f} / {ppl_book[n]['wrong']:.3f}"
                      for n in AUTHORS) + f"; both {ppl['right']:.3f} / {ppl['wrong']:.3f}")
    samples, style = {}, {}                              # generate, and let the judge label
    for a, name in enumerate(AUTHORS):
        samples[name] = sample(model, vocab, a, args.samples, SAMPLE_CHARS, args.temperature,
                               np.random.default_rng([args.seed, 1, a]))
        ids, lengths = pad_sequences(encode_passages(samples[name], vocab), pad_id=vocab[PAD])
        style[name] = float(np.mean(judge.predict(ids, lengths) == a))
    style_accuracy = float(np.mean([style[name] for name in AUTHORS]))
    print(f"style: the classifier labels {style_accuracy:.3f} of the samples with the requested "
          f"author\n" + "".join(f"  {NAMES[n]} ({style[n]:.3f}): {samples[n][0]!r}\n" for n in AUTHORS))
    generative, judged = classify_test_passages(model, judge, books, vocab, args)
    print(f"which book? test passages, generative (Bayes' rule) / judge: " + ", ".join(
        f"{L}: {generative[L]:.3f} / {judged[L]:.3f}" for L in TEST_LENGTHS))
    for path in (conditioning_figure(nll, style, args.out / "conditional_generation.png", args),
                 plot_running_mean(losses, args.out / "conditional_generation_loss.png",
                                   "training perplexity (running mean)",
                                   f"Conditional LM ({args.cell.upper()}, H = {args.num_hiddens}, "
                                   f"conditioning = {args.conditioning}): batch "
                                   f"{args.batch_size} x {args.num_steps}", exp=True)):
        print(f"saved {path}")
    settings = {**{k: str(v) if k == "out" else v for k, v in vars(args).items()},
                "classifier": str(classifier_path)}
    print("saved " + str(checkpoint.save(args.out / "conditional_lm.npz", model, vocab, {},
                                         {"authors": list(AUTHORS), **settings}, 1, {})))
    metrics = {"style_accuracy": style_accuracy, "perplexity": ppl,
               "style_accuracy_by_author": style, "perplexity_by_book": ppl_book,
               "generative_accuracy": generative[100],
               "generative_accuracy_by_length": {str(L): generative[L] for L in TEST_LENGTHS},
               "judge_accuracy_by_length": {str(L): judged[L] for L in TEST_LENGTHS},
               "train_perplexity": float(np.exp(np.mean(losses[-50:]))),
               "samples": {name: s[:5] for name, s in samples.items()}, "settings": settings,
               "seconds": {"train": train_seconds, "total": time.perf_counter() - start}}
    print(f"saved {atomic_write_json(args.out / 'metrics.json', metrics)}\n"
          f"wall time {metrics['seconds']['total']:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
