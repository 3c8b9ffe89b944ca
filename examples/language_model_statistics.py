"""Language-model statistics (d2l, "Language Models"): n-grams, Zipf's law, perplexity.

On the words of *The Time Machine*: the most frequent unigrams, bigrams and trigrams;
their frequency against rank on a log-log plot with the fitted Zipf exponents
(``log n_i = -alpha log i + c``); and Laplace-smoothed n-gram models (n = 1, 2, 3,
characters and words) trained on the first 90% of the tokens and scored by their
perplexity on the last 10%, for several smoothing strengths. Last, the minibatches the
book cuts from ``list(range(35))``.

    python examples/language_model_statistics.py [--out figures/] [--data FOLDER]

Cells (``# %%``) mark its sections: open it in VS Code or Jupyter (jupytext) and run it
cell by cell, or run it whole as a script.
"""
# %% Imports and settings

import numpy as np
from matplotlib import ticker

from minirnn.data import (WindowedData, load_time_machine, preprocess, seq_data_iter_random,
                          seq_data_iter_sequential, tokenize)
from minirnn.ngram import NGramLM, ngram_counts, zipf_exponent
from minirnn.plotting import plt, save_figure       # matplotlib with the Agg backend
from minirnn.settings import example_parser, run_script

ZIPF_RANKS = (10, 1000)      # past the top few words, before the tail of count-1 n-grams
EPSILONS = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
ORDERS = (1, 2, 3)
NAMES = {1: "unigrams", 2: "bigrams", 3: "trigrams"}


# %% Zipf's law: frequency against rank, and the fitted exponents
def zipf_figure(counts, path):
    """Frequency against rank (log-log) for each n, with the fitted lines."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    alphas = {}
    for n, counter in counts.items():
        freqs = np.array(sorted(counter.values(), reverse=True), dtype=float)
        ranks = np.arange(1, len(freqs) + 1)
        alphas[n] = alpha = zipf_exponent(freqs, ZIPF_RANKS)
        line, = ax.loglog(ranks, freqs, label=f"{NAMES[n]}: alpha = {alpha:.2f}")
        lo, hi = ZIPF_RANKS
        # the fitted line through the rank range: log n_i = -alpha log i + c
        c = np.mean(np.log(freqs[lo - 1:hi]) + alpha * np.log(ranks[lo - 1:hi]))
        fit = np.array([lo, hi])
        ax.loglog(fit, np.exp(c) * fit ** -alpha, "--", color=line.get_color(), lw=2.5,
                  alpha=0.6)
    ax.axvspan(*ZIPF_RANKS, color="grey", alpha=0.08, label=f"fitted ranks {ZIPF_RANKS}")
    ax.set(xlabel="rank i (most frequent = 1)", ylabel="frequency n_i",
           title="Zipf's law in The Time Machine (words); dashed: least-squares fits")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)                 # atomic: never half a PNG
    return alphas


# %% Smoothed n-gram models: held-out perplexity by order and smoothing strength
def perplexity_table(tokens):
    """Held-out perplexity for every order and eps, and training perplexity at eps 1."""
    split = int(0.9 * len(tokens))
    train, test = tokens[:split], tokens[split:]
    held_out, on_train = {}, {}
    for n in ORDERS:
        for eps in EPSILONS:
            lm = NGramLM(train, n=n, eps=eps)
            held_out[n, eps] = lm.perplexity(test)
        on_train[n] = NGramLM(train, n=n, eps=1.0).perplexity(train)
    unseen = sum(tok not in lm.vocab for tok in test) / len(test)
    return held_out, on_train, len(lm.vocab), len(train), len(test), unseen


def perplexity_figure(results, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, (kind, (held_out, _, vocab_size, *_)) in zip(axes, results.items()):
        for n, marker in zip(ORDERS, "os^"):
            ax.plot(EPSILONS, [held_out[n, eps] for eps in EPSILONS], marker=marker,
                    label=f"n = {n} ({NAMES[n]})")
        ax.axhline(vocab_size, color="grey", ls=":",
                   label=f"uniform guess (V = {vocab_size:,})")
        ax.set(xscale="log", yscale="log", xlabel="smoothing strength eps (e1 = e2 = e3)",
               ylabel="held-out perplexity", title=f"{kind} level")
        ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9)
    axes[0].set_yticks([5, 10, 20, 30])
    fig.suptitle("Laplace-smoothed n-gram models: train on the first 90% of "
                 "The Time Machine, test on the last 10%")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


# %% The section: top n-grams, Zipf exponents, n-gram perplexities, the book's minibatches
def main(argv=None):
    args = example_parser(__doc__, "out", "data").parse_args(argv)   # --out checked writable
    out = args.out

    text = preprocess(load_time_machine(args.data))
    words = tokenize(text, "word")
    counts = {n: ngram_counts(words, n) for n in ORDERS}
    for n, counter in counts.items():
        top = ", ".join(f"{' '.join(gram)!r} {c}" for gram, c in counter.most_common(5))
        print(f"Top {NAMES[n]} ({len(counter):,} distinct): {top}")

    alphas = zipf_figure(counts, out / "zipf.png")
    print(f"\nZipf exponents alpha (least squares on log-log, ranks {ZIPF_RANKS[0]} to "
          f"{ZIPF_RANKS[1]}):")
    for n, alpha in alphas.items():
        print(f"    {NAMES[n]:>9}: {alpha:.3f}")

    results = {kind: perplexity_table(tokenize(text, kind)) for kind in ("char", "word")}
    for kind, (held_out, on_train, vocab_size, n_train, n_test, unseen) in results.items():
        print(f"\n{kind} level: {n_train:,} training and {n_test:,} held-out tokens "
              f"({100 * unseen:.1f}% of them unseen in training: <unk>), V = "
              f"{vocab_size:,} (with <unk>). Held-out perplexity:")
        print(f"{'eps':>8} | " + " | ".join(f"{f'n = {n}':>9}" for n in ORDERS))
        for eps in EPSILONS:
            print(f"{eps:>8g} | " + " | ".join(f"{held_out[n, eps]:>9.2f}" for n in ORDERS))
        print(f"{'train':>8} | " + " | ".join(f"{on_train[n]:>9.2f}" for n in ORDERS)
              + "   (perplexity on the training tokens, eps = 1)")
    perplexity_figure(results, out / "ngram_perplexity.png")

    print("\nMinibatches of list(range(35)), batch_size 2, num_steps 5 (seed 0):")
    for name, data_iter_fn in (("random sampling", seq_data_iter_random),
                               ("sequential partitioning", seq_data_iter_sequential)):
        print(f"  {name}:")
        for X, Y in data_iter_fn(list(range(35)), batch_size=2, num_steps=5, rng=0):
            print(f"    X: {X.tolist()}  Y: {Y.tolist()}")
    windows = WindowedData(np.arange(35), 5, num_train=20, num_val=10, batch_size=4, seed=0)
    X, Y = next(windows.train_iter())
    print("  1.0's windows (every stride-1 window of num_steps + 1 = 6 tokens; windows 0-19 "
          "train, shuffled; 20-29 validate), first training batch of 4:")
    print(f"    X: {X.tolist()}  Y: {Y.tolist()}")
    print("  The targets are the inputs shifted by one token: a character model reading "
          f"{text[text.index('machin'):][:6]!r} predicts {text[text.index('machin') + 1:][:6]!r}.")
    print(f"\nSaved {out / 'zipf.png'} and {out / 'ngram_perplexity.png'}")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
