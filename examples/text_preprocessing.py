"""Converting raw text into sequences (d2l, "Converting Raw Text into Sequence Data").

Reads *The Time Machine*, shows it before and after preprocessing, splits it into
character and word tokens, builds vocabularies and maps text to indices and back. Then
measures how the vocabulary shrinks as ``min_freq`` grows, and how much of the text the
dropped tokens were (they all become ``<unk>``), and plots both.

    python examples/text_preprocessing.py [--out figures/] [--data FOLDER]

The corpus is read from FOLDER, else $MINIRNN_DATA, else ~/.cache/minirnn (downloaded
there once if missing).

Cells (``# %%``) mark its sections: open it in VS Code or Jupyter (jupytext) and run it
cell by cell, or run it whole as a script.
"""
# %% Imports and settings

from minirnn.data import Vocab, load_time_machine, preprocess, tokenize
from minirnn.plotting import plt, save_figure       # matplotlib with the Agg backend
from minirnn.settings import example_parser, run_script

MIN_FREQS = [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]


# %% How many tokens min_freq drops
def vocab_by_min_freq(tokens):
    """For each min_freq: (vocabulary size, share of the tokens that map to <unk>)."""
    counts = Vocab(tokens).token_freqs            # every token with its count
    rows = []
    for min_freq in MIN_FREQS:
        vocab = Vocab(tokens, min_freq=min_freq)
        dropped = sum(freq for tok, freq in counts if tok not in vocab)
        rows.append((min_freq, len(vocab), dropped / len(tokens)))
    return rows


# %% The section: raw text -> preprocessed text -> tokens -> vocabulary -> indices, then
# the vocabulary size by min_freq (a table and a figure)
def main(argv=None):
    args = example_parser(__doc__, "out", "data").parse_args(argv)   # --out checked writable

    raw = load_time_machine(args.data)
    text = preprocess(raw)
    print(f"Raw text: {len(raw):,} characters, {len(raw.splitlines()):,} lines. It begins:")
    print("    " + "\n    ".join([line for line in raw.splitlines() if line][:3]))
    print(f"\nPreprocessed ([^A-Za-z]+ -> ' ', lowercase): {len(text):,} characters")
    print(f"    {text[:70]!r}")

    tokens = {kind: tokenize(text, kind) for kind in ("char", "word")}
    for kind, toks in tokens.items():
        vocab = Vocab(toks)
        top = ", ".join(f"{tok!r} {freq}" for tok, freq in vocab.token_freqs[:6])
        print(f"\n{kind} tokens: {len(toks):,}; vocabulary: {len(vocab):,} "
              f"(with <unk>); most frequent: {top}")
        print(f"    first tokens:  {toks[:10]}")
        print(f"    their indices: {vocab[toks[:10]]}")
        print(f"    and back:      {vocab.to_tokens(vocab[toks[:10]])}")
    char_vocab = Vocab(tokens["char"])
    print(f"\nCharacter vocabulary, index order <unk>, then sorted: {char_vocab.idx_to_token}")
    print("    (the 1.0 book sorts <unk> in with the others: ' ' = 0, '<unk>' = 1; the letters "
          "have the same indices)")

    print("\nVocabulary size by min_freq (tokens seen fewer times become <unk>):")
    print(f"{'min_freq':>9} | {'chars':>6} {'unk %':>7} | {'words':>6} {'unk %':>7}")
    table = {kind: vocab_by_min_freq(toks) for kind, toks in tokens.items()}
    for (min_freq, c_size, c_unk), (_, w_size, w_unk) in zip(table["char"], table["word"]):
        print(f"{min_freq:>9} | {c_size:>6} {100 * c_unk:>6.2f}% | {w_size:>6} {100 * w_unk:>6.2f}%")

    fig, (ax_size, ax_unk) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, marker in (("word", "o"), ("char", "s")):
        rows = [row for row in table[kind] if row[0] >= 1]  # 0 keeps all, as 1 does
        freqs = [row[0] for row in rows]
        ax_size.plot(freqs, [row[1] for row in rows], marker=marker, label=f"{kind}s")
        ax_unk.plot(freqs, [100 * row[2] for row in rows], marker=marker, label=f"{kind}s")
    ax_size.set(xscale="log", yscale="log", xlabel="min_freq",
                ylabel="vocabulary size (with <unk>)", title="Vocabulary size")
    ax_unk.set(xscale="log", xlabel="min_freq", ylabel="% of the text mapped to <unk>",
               title="Text lost to <unk>")
    for ax in (ax_size, ax_unk):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("The Time Machine: tokens counted fewer than min_freq times become <unk>")
    fig.tight_layout()
    path = save_figure(fig, args.out / "text_preprocessing.png", dpi=120)   # atomic
    print(f"\nSaved {path}")


# %% Run: as a script with its flags; cell by cell in a notebook, with the defaults
if __name__ == "__main__":
    run_script(main)
