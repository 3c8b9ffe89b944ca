"""One-to-many: write a passage in the style of a given book.

The chapter's second task shape (image captioning in the book): one fixed input, a
sequence out.  The fixed input is the author, 0 for *The Time Machine* and 1 for *Tiny
Shakespeare*; the output is text.  One character language model is trained on both books
(the first 80% of each, preprocessed as the book does: lowercase letters and spaces), every
training window labelled with its book (``minirnn.models.ConditionalLM``):

* ``--conditioning state`` (default): the author sets the initial state,
  ``h_0 = tanh(E[author] W_ah + b_ah)``, and the model then runs as any language model;
* ``--conditioning input``: the author's embedding ``E[author]`` is fed at every step,
  beside the character's (``h_0 = 0``).

Why the initial state by default: it is the chapter's one-to-many picture (the fixed input
enters once, the recurrence carries it), it adds nothing to the per-step work, and it is
enough.  Both were measured at the default settings (docs/tasks.md): the initial state
gave a style accuracy of 0.970 and held-out perplexity 4.33 (right author) / 5.07 (wrong);
feeding the author at every step 0.945 and 4.33 / 5.20 (both judged by the batch-64
classifier; the default batch-32 one labels 0.920 of the initial state's samples right,
and 0.925 of the other's).
The right-author perplexity is the same; feeding the author at every step makes the model
lean on it a little more (the wrong author costs more), but the GRU carries the initial
state's author along the whole 64-character window too: the loss gap between the wrong and
the right author does not fade with the position, it grows, in both runs (the figure's left
panel).

Evaluation: held-out perplexity of each book's test part (windows of ``--num-steps``
characters, each starting from the author's state, as in training) under the right and
the wrong author; and ``--samples`` samples of 100 characters per author (sampled at
``--temperature``, starting from a space), which the author classifier of
``examples/classify_author.py`` (its checkpoint ``author_classifier.npz``) labels: the
style accuracy is the fraction labelled with the requested author (target >= 0.90).
And the model as a classifier, generative where the judge is discriminative: the author
under which a passage is most probable (``ConditionalLM.classify``, Bayes' rule with equal
priors), on classify_author.py's own test passages (``author_test_passages``,
``--test-passages`` per book and length), beside the judge on the same passages: 0.923 at
100 characters against the judge's 0.922 (docs/tasks.md).

    python examples/classify_author.py --out figures     # first: the judge, its checkpoint
    python examples/conditional_generation.py            # default: a few minutes on 2 cores
    python examples/conditional_generation.py --conditioning input --out figures/input
    python examples/conditional_generation.py --updates 5 --hidden 8 --samples 4 \
        --eval-chars 2000 --test-passages 10 --classifier DIR/author_classifier.npz
        # seconds (the test)

Writes (in --out, default figures/): conditional_generation.png (held-out loss by
position under the right and the wrong author; style accuracy per author),
conditional_generation_loss.png (training curve), conditional_lm.npz (the model) and
metrics.json (``style_accuracy``, ``perplexity`` {"right", "wrong"}, per book and per
author, ``generative_accuracy`` at 100 characters and ``generative_accuracy_by_length``,
``judge_accuracy_by_length``, samples, settings, wall times).
"""
# %% Imports and settings (cells: open in VS Code or Jupyter and run one at a time)
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is faster

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from minirnn import checkpoint  # noqa: E402
from minirnn.data import pad_sequences, run_example  # noqa: E402
from minirnn.data.tasks import (AUTHORS, PAD, TEST_LENGTHS, author_test_passages,  # noqa: E402
                                author_texts, char_vocab, encode_passages)
from minirnn.generate import next_token_probs  # noqa: E402
from minirnn.layers import evaluating  # noqa: E402
from minirnn.losses import SoftmaxCrossEntropy  # noqa: E402
from minirnn.metrics import perplexity  # noqa: E402
from minirnn.models import SequenceClassifier, ConditionalLM  # noqa: E402
from minirnn.optim import Adam, clip_grad_norm  # noqa: E402
from minirnn.plotting import plt, save_figure  # noqa: E402

SAMPLE_CHARS = 100
TARGET = 0.90                        # style accuracy (issue #13)
NAMES = {"timemachine": "The Time Machine", "tinyshakespeare": "Tiny Shakespeare"}
COLORS = ("tab:blue", "tab:red")


# %% Training windows: half from each book, each labelled with its book
def random_windows(ids_by_author, batch_size, num_steps, rng):
    """``(X (B, T), Y (B, T), authors (B,))``: B/2 random windows of each book (the rest
    of an odd B from author 0), Y the next characters."""
    authors = np.arange(batch_size) % len(ids_by_author)
    X = np.empty((batch_size, num_steps), dtype=np.int64)
    Y = np.empty_like(X)
    for b, a in enumerate(authors):
        ids = ids_by_author[a]
        s = int(rng.integers(0, len(ids) - num_steps))
        X[b], Y[b] = ids[s:s + num_steps], ids[s + 1:s + num_steps + 1]
    return X, Y, authors


def train(model, ids_by_author, args, rng):
    opt, loss = Adam(model.params, model.grads, lr=args.lr), SoftmaxCrossEntropy()
    losses = np.empty(args.updates)
    bar = tqdm(range(args.updates), desc="training", leave=False, disable=None)  # terminal only
    for u in bar:
        X, Y, authors = random_windows(ids_by_author, args.batch, args.num_steps, rng)
        model.zero_grad()
        logits, _ = model.forward((X, authors))            # h_0 from each window's author
        losses[u] = loss.forward(logits, Y)
        model.backward(loss.backward())
        clip_grad_norm(model.grads, args.clip)
        opt.step()
        if u % 50 == 49:
            bar.set_postfix(ppl=f"{np.exp(losses[u - 49:u + 1].mean()):.2f}")
    model.zero_grad()
    return losses, opt


# %% Held-out loss under the right and the wrong author
def heldout_nll(model, ids, author, num_steps, batch_size=64) -> np.ndarray:
    """Mean negative log-likelihood at each position of consecutive ``num_steps``-windows
    of ``ids`` (each window from the author's initial state), ``(num_steps,)``."""
    n = (len(ids) - 1) // num_steps
    X = ids[:n * num_steps].reshape(n, num_steps)
    Y = ids[1:n * num_steps + 1].reshape(n, num_steps)
    total = np.zeros(num_steps)
    with evaluating(model):
        for i in range(0, n, batch_size):
            x, y = X[i:i + batch_size], Y[i:i + batch_size]
            logits, _ = model.forward((x, np.full(len(x), author)))
            z = logits.astype(np.float64)
            z -= z.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))       # log softmax
            total -= np.take_along_axis(logp, y[..., None], axis=-1)[..., 0].sum(axis=0)
    return total / n


# %% Generation from each author
def sample(model, vocab, author, num, num_chars, temperature, rng) -> list:
    """``num`` samples of ``num_chars`` characters, each started from a space with the
    author's initial state; ``<unk>`` and ``<pad>`` are never drawn."""
    banned = [vocab.unk, vocab[PAD]]
    x = np.full((num, 1), vocab[" "], dtype=np.int64)
    authors = np.full(num, author)
    out = np.empty((num, num_chars), dtype=np.int64)
    state = None                                         # first step: h_0 from the author
    with evaluating(model):
        for t in range(num_chars):
            logits, state = model.forward((x, authors), state)
            logits = logits[:, 0].astype(np.float64)
            logits[:, banned] = -np.inf
            p = next_token_probs(logits, temperature)    # (num, V)
            u = rng.random((num, 1))
            x = (p.cumsum(axis=1) < u).sum(axis=1, keepdims=True)   # inverse-CDF draw
            x = np.minimum(x, len(vocab) - 1)
            out[:, t] = x[:, 0]
    return ["".join(vocab.to_tokens(row.tolist())) for row in out]


def classify_test_passages(model, judge, books, vocab, args) -> tuple:
    """Accuracy by length of ``model.classify`` (the author under which a passage is most
    probable) and of the judge (``SequenceClassifier``) on the same test passages:
    ``({L: accuracy}, {L: accuracy})``."""
    tests = author_test_passages([b.test for b in books], args.test_passages, TEST_LENGTHS,
                                 seed=args.seed)
    generative, judged = {}, {}
    for L in tqdm(TEST_LENGTHS, desc="classifying", leave=False, disable=None):
        passages, labels = tests[L]
        ids = np.stack(encode_passages(passages, vocab))       # (N, L): no padding needed
        generative[L] = float(np.mean(np.concatenate(
            [model.classify(ids[i:i + 256]) for i in range(0, len(ids), 256)]) == labels))
        judged[L] = float(np.mean(np.concatenate(
            [judge.predict(ids[i:i + 256]) for i in range(0, len(ids), 256)]) == labels))
    return generative, judged


def load_classifier(path: Path):
    ckpt = checkpoint.load(path)
    model = checkpoint.build_model(ckpt)
    if not isinstance(model, SequenceClassifier):
        raise SystemExit(f"conditional_generation.py: error: {path} holds a "
                         f"{type(model).__name__}, not the author classifier")
    return model, ckpt.vocab


# %% Figures
def conditioning_figure(nll, style, path, args):
    """Left: held-out loss by position in the window, right vs wrong author, per book.
    Right: the fraction of samples the classifier labels with the requested author."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    pos = np.arange(1, args.num_steps + 1)
    for a, name in enumerate(AUTHORS):
        ax.plot(pos, nll[name]["right"], color=COLORS[a], lw=1.8,
                label=f"{NAMES[name]}, right author")
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
    for rect, v in zip(bars, acc):
        bx.annotate(f"{v:.2f}", (rect.get_x() + rect.get_width() / 2, v),
                    textcoords="offset points", xytext=(0, 3), ha="center", fontsize=9)
    bx.axhline(TARGET, color="0.3", ls=":", lw=1, label=f"target {TARGET}")
    bx.set_ylim(0, 1.1)
    bx.set(ylabel="labelled as the requested author")
    bx.set_title(f"Style: {args.samples} samples of {SAMPLE_CHARS} characters\n"
                 f"per author, temperature {args.temperature:g}", fontsize=10)
    bx.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def loss_figure(losses, path, args):
    fig, ax = plt.subplots(figsize=(7, 3.8))
    k = max(1, len(losses) // 100)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(np.arange(len(smooth)) + k, np.exp(smooth), color="tab:blue")
    ax.set(xlabel="update", ylabel="training perplexity (running mean)", yscale="log")
    ax.set_title(f"Conditional LM ({args.cell.upper()}, H = {args.hidden}, conditioning = "
                 f"{args.conditioning}): batch {args.batch} x {args.num_steps}", fontsize=10)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


# %% Run everything
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditioning", default="state", choices=["state", "input"],
                        help="the author sets h_0, or is fed at every step (default %(default)s)")
    parser.add_argument("--cell", default="gru", choices=["rnn", "gru", "lstm"],
                        help="recurrent cell (default %(default)s)")
    parser.add_argument("--hidden", type=int, default=256, help="hidden units (default %(default)s)")
    parser.add_argument("--embed", type=int, default=32, help="character embedding (default %(default)s)")
    parser.add_argument("--author-dim", type=int, default=16,
                        help="author embedding (default %(default)s)")
    parser.add_argument("--updates", type=int, default=1500, help="updates (default %(default)s)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default %(default)s)")
    parser.add_argument("--num-steps", type=int, default=64,
                        help="window length, training and held-out (default %(default)s)")
    parser.add_argument("--lr", type=float, default=0.005, help="Adam's lr (default %(default)s)")
    parser.add_argument("--clip", type=float, default=1.0,
                        help="gradient-norm clipping (default %(default)s)")
    parser.add_argument("--samples", type=int, default=100,
                        help="samples per author (default %(default)s)")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="sampling temperature (default %(default)s)")
    parser.add_argument("--eval-chars", type=int, default=50_000,
                        help="held-out characters per book for the perplexities, at most "
                             "(default %(default)s)")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="the author classifier's checkpoint (default: "
                             "OUT/author_classifier.npz, from examples/classify_author.py)")
    parser.add_argument("--test-passages", type=int, default=500,
                        help="passages per book and length for the generative classifier: "
                             "classify_author.py's test passages (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seeds everything (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="folder for the PNGs, metrics.json and the model (default %(default)s)")
    args = parser.parse_args(argv)
    if min(args.hidden, args.embed, args.author_dim, args.updates, args.batch, args.num_steps,
           args.samples, args.test_passages) < 1 or args.eval_chars < args.num_steps + 1:
        parser.error("--hidden, --embed, --author-dim, --updates, --batch, --num-steps, "
                     "--samples and --test-passages must be positive, --eval-chars more than "
                     "--num-steps")
    if not (args.lr > 0 and args.clip > 0 and args.temperature > 0):
        parser.error("--lr, --clip and --temperature must be positive")
    classifier_path = args.classifier or args.out / "author_classifier.npz"
    if not classifier_path.is_file():
        parser.error(f"no author classifier at {classifier_path}: run "
                     f"'python examples/classify_author.py --out {classifier_path.parent}' "
                     f"first, or pass --classifier PATH")
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    books, vocab = author_texts(), char_vocab()
    judge, judge_vocab = load_classifier(classifier_path)
    if judge_vocab.idx_to_token != vocab.idx_to_token:
        parser.error(f"{classifier_path}: its vocabulary is not the task's (char_vocab())")
    train_ids = [np.array(vocab[list(b.train)], dtype=np.int64) for b in books]
    test_ids = [np.array(vocab[list(b.test[:args.eval_chars])], dtype=np.int64) for b in books]

    model = ConditionalLM(len(vocab), len(AUTHORS), args.hidden, embed_dim=args.embed,
                          class_dim=args.author_dim, conditioning=args.conditioning,
                          cell=args.cell, seed=args.seed)
    t0 = time.perf_counter()
    losses, opt = train(model, train_ids, args, rng)
    train_seconds = time.perf_counter() - t0
    print(f"trained: {args.updates} updates, training perplexity (last 50) "
          f"{np.exp(losses[-50:].mean()):.2f}, {train_seconds:.0f} s")

    # held-out perplexity of each book under the right and the wrong author
    nll = {}
    for a, name in enumerate(AUTHORS):
        nll[name] = {"right": heldout_nll(model, test_ids[a], a, args.num_steps),
                     "wrong": heldout_nll(model, test_ids[a], 1 - a, args.num_steps)}
    ppl_book = {name: {k: perplexity(float(v.mean())) for k, v in d.items()}
                for name, d in nll.items()}
    ppl = {k: perplexity(float(np.mean([nll[name][k].mean() for name in AUTHORS])))
           for k in ("right", "wrong")}
    print(f"\nheld-out perplexity ({args.num_steps}-character windows):")
    print(f"{'book':<20}{'right author':>14}{'wrong author':>14}")
    for name in AUTHORS:
        print(f"{NAMES[name]:<20}{ppl_book[name]['right']:>14.3f}{ppl_book[name]['wrong']:>14.3f}")
    print(f"{'both (mean NLL)':<20}{ppl['right']:>14.3f}{ppl['wrong']:>14.3f}")

    # generate from each author, and let the classifier judge
    samples, style = {}, {}
    for a, name in enumerate(AUTHORS):
        samples[name] = sample(model, vocab, a, args.samples, SAMPLE_CHARS, args.temperature,
                               np.random.default_rng([args.seed, 1, a]))
        ids, lengths = pad_sequences(encode_passages(samples[name], vocab),
                                     pad_id=vocab[PAD])
        style[name] = float(np.mean(judge.predict(ids, lengths) == a))
    style_accuracy = float(np.mean([style[name] for name in AUTHORS]))
    print(f"\nstyle: the classifier labels {style_accuracy:.3f} of the samples with the "
          f"requested author (target >= {TARGET}: "
          f"{'met' if style_accuracy >= TARGET else 'missed'})")
    for name in AUTHORS:
        print(f"  {NAMES[name]}: {style[name]:.3f}; samples:")
        for s in samples[name][:3]:
            print(f"    {s!r}")

    # the language model as a classifier (generative: Bayes' rule), beside the judge
    # (discriminative), on classify_author.py's test passages
    generative, judged = classify_test_passages(model, judge, books, vocab, args)
    print(f"\nwhich book? {args.test_passages} test passages per book and length "
          f"(classify_author.py's): this model by Bayes' rule, argmax_a log p(passage | a), "
          f"against the judge")
    print(f"{'length':>8}{'generative':>12}{'judge':>8}")
    for L in TEST_LENGTHS:
        print(f"{L:>8}{generative[L]:>12.3f}{judged[L]:>8.3f}")

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"saved {conditioning_figure(nll, style, args.out / 'conditional_generation.png', args)}")
    print(f"saved {loss_figure(losses, args.out / 'conditional_generation_loss.png', args)}")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["classifier"] = str(classifier_path)
    path = checkpoint.save(args.out / "conditional_lm.npz", model, vocab, opt.state_dict(),
                           {"authors": list(AUTHORS), **settings}, 0, {})
    print(f"saved {path}")
    total = time.perf_counter() - start
    metrics = {
        "style_accuracy": style_accuracy,
        "perplexity": ppl,
        "style_accuracy_by_author": style,
        "perplexity_by_book": ppl_book,
        "loss_gap_by_position": {name: {"first": float(d["wrong"][0] - d["right"][0]),
                                        "last": float(d["wrong"][-1] - d["right"][-1])}
                                 for name, d in nll.items()},
        "generative_accuracy": generative[100],
        "generative_accuracy_by_length": {str(L): generative[L] for L in TEST_LENGTHS},
        "judge_accuracy_by_length": {str(L): judged[L] for L in TEST_LENGTHS},
        "target_met": style_accuracy >= TARGET,
        "train_perplexity": float(np.exp(losses[-50:].mean())),
        "samples": {name: s[:5] for name, s in samples.items()},
        "settings": settings,
        "seconds": {"train": train_seconds, "total": total},
    }
    path = args.out / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"saved {path}\nwall time {total:.0f} s")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    if "ipykernel" in sys.modules:
        main([])                                        # a kernel's own argv is not ours
    else:
        sys.exit(run_example(main))                     # a missing corpus: one line, exit 1
