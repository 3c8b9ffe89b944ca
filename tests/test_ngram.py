"""Tests of minirnn.ngram (n-gram counts, Zipf's law, Laplace-smoothed models) and
minirnn.metrics.perplexity.

Tests on the real corpus read *The Time Machine* from the folder named by MINIRNN_DATA;
without it they skip, except under CI=true, where they fail.
"""
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minirnn.ngram
from minirnn.data import Vocab, load_time_machine, preprocess, tokenize
from minirnn.metrics import perplexity
from minirnn.ngram import NGramLM, choose_ngram_order, ngram_classify, ngram_counts, zipf_exponent


@pytest.fixture(scope="module")
def words():
    root = os.environ.get("MINIRNN_DATA")
    if not (root and (Path(root) / "timemachine.txt").is_file()):
        reason = f"timemachine.txt not found in MINIRNN_DATA={root!r}"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI needs the real corpus: {reason}")
        pytest.skip(f"{reason}; set MINIRNN_DATA to the folder that holds it")
    return tokenize(preprocess(load_time_machine(root, download=False)), "word")


# ---------------------------------------------------------------- counts and Zipf

def test_top_ngrams_match_the_book(words):
    assert ngram_counts(words, 1).most_common(3) == [(("the",), 2261), (("i",), 1267),
                                                     (("and",), 1245)]
    assert ngram_counts(words, 2).most_common(1) == [(("of", "the"), 309)]
    assert ngram_counts(words, 3).most_common(1) == [(("the", "time", "traveller"), 59)]


def test_ngram_counts_by_hand():
    counts = ngram_counts("a b a b c".split(), 2)
    assert counts == {("a", "b"): 2, ("b", "a"): 1, ("b", "c"): 1}
    assert sum(ngram_counts(list("abcdefg"), 3).values()) == 5
    assert ngram_counts(["x"], 2) == {}
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        ngram_counts("abc", 0)
    with pytest.raises(TypeError, match=r"n must be a positive int, got 2.0 \(float\)"):
        ngram_counts("abc", 2.0)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.7])
def test_zipf_exponent_recovers_a_known_exponent(alpha):
    ranks = np.arange(1, 2001)
    exact = 1e7 * ranks ** -alpha
    rng = np.random.default_rng(0)
    assert zipf_exponent(rng.permutation(exact)) == pytest.approx(alpha, abs=1e-9)
    rounded = np.round(exact)                      # integer counts, as real ones are
    assert zipf_exponent(rounded, ranks=(1, 300)) == pytest.approx(alpha, abs=1e-3)
    as_counter = {f"w{i}": int(c) for i, c in enumerate(rounded[:300])}
    assert zipf_exponent(as_counter) == pytest.approx(alpha, abs=1e-3)


def test_zipf_exponent_uses_only_the_rank_range():
    # slope -1 over ranks 1..10, then a flat tail: only the range decides
    counts = np.concatenate([1000.0 / np.arange(1, 11), np.full(50, 1.0)])
    assert zipf_exponent(counts, ranks=(1, 10)) == pytest.approx(1.0)
    assert abs(zipf_exponent(counts, ranks=(1, None)) - 1.0) > 0.5
    for bad in [(0, 5), (5, 5), (60, 70)]:
        with pytest.raises(ValueError, match="ranks must be"):
            zipf_exponent(counts, ranks=bad)
    with pytest.raises(ValueError, match="positive counts"):
        zipf_exponent([3, 0, 1])


def test_zipf_exponents_fall_from_unigrams_to_trigrams(words):
    alphas = [zipf_exponent(ngram_counts(words, n), ranks=(10, 1000)) for n in (1, 2, 3)]
    assert 0.8 < alphas[0] < 1.3          # Zipf's law: alpha near 1 for words
    assert alphas[0] > alphas[1] > alphas[2] > 0


# ------------------------------------------------------------- the Laplace model

def test_laplace_formulas_by_hand():
    # n = 4 tokens, m = 4 vocabulary entries (a, b, c, <unk>); e1 = 2, e2 = 1, e3 = 0.5
    lm = NGramLM("a b a c".split(), n=3, eps=(2.0, 1.0, 0.5))
    p_a = (2 + 2 / 4) / (4 + 2)                       # P(a)
    p_b = (1 + 2 / 4) / (4 + 2)                       # P(b)
    p_unk = (0 + 2 / 4) / (4 + 2)                     # P(x) of any unseen x
    assert lm.prob("a") == pytest.approx(p_a)
    assert lm.prob("zebra") == pytest.approx(p_unk) and lm.prob("<unk>") == lm.prob("zebra")
    # 'a' is followed by a token twice (b, c): its context count is 2
    assert lm.prob("b", ["a"]) == pytest.approx((1 + 1.0 * p_b) / (2 + 1.0))
    assert lm.prob("a", ["b"]) == pytest.approx((1 + 1.0 * p_a) / (1 + 1.0))
    # 'c' ends the text, so it is never a context: P(x|c) = P(x)
    assert lm.prob("b", ["c"]) == pytest.approx(p_b)
    # trigram: (a, b) is followed by 'a' once; uses the unigram P(a), as the book does
    assert lm.prob("a", ["a", "b"]) == pytest.approx((1 + 0.5 * p_a) / (1 + 0.5))
    assert lm.prob("a", ["c", "a", "b"]) == lm.prob("a", ["a", "b"])  # last n-1 only


texts = st.lists(st.sampled_from("abcde"), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(texts, st.integers(1, 3), st.floats(0.01, 100.0),
       st.lists(st.sampled_from("abcdez"), max_size=3))
def test_laplace_probabilities_sum_to_one(tokens, n, eps, context):
    lm = NGramLM(tokens, n=n, eps=eps)
    probs = [lm.prob(tok, context) for tok in lm.vocab.idx_to_token]
    assert all(0 < p < 1 for p in probs)
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_perplexity_is_the_chain_rule_and_uses_metrics(n, monkeypatch):
    train = "the cat sat on the mat the cat ran".split()
    test = "the dog sat on the cat".split()       # 'dog' was never seen
    lm = NGramLM(train, n=n, eps=0.5)
    chain = [lm.prob(test[t], test[max(0, t - n + 1):t]) for t in range(len(test))]
    expected = math.exp(-sum(math.log(p) for p in chain) / len(test))
    assert lm.perplexity(test) == pytest.approx(expected)
    calls = []
    monkeypatch.setattr(minirnn.ngram, "perplexity",
                        lambda mean_nll: calls.append(mean_nll) or 123.0)
    assert lm.perplexity(test) == 123.0 and calls[0] == pytest.approx(math.log(expected))


def test_unseen_tokens_give_finite_perplexity():
    lm = NGramLM(list("abab"), n=3, eps=1e-3)
    value = lm.perplexity(list("xyzzy"))
    assert math.isfinite(value) and value > len(lm.vocab)


def test_huge_smoothing_is_a_uniform_guess():
    lm = NGramLM(list("aaaaaaaaabbc"), n=1, eps=1e12)
    assert lm.perplexity(list("abcab")) == pytest.approx(len(lm.vocab), rel=1e-6)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_training_text_is_easier_than_held_out_text(words, n):
    split = int(0.9 * len(words))
    lm = NGramLM(words[:split], n=n, eps=1.0)
    train_ppl, held_out_ppl = lm.perplexity(words[:split]), lm.perplexity(words[split:])
    assert 1 < train_ppl < held_out_ppl < math.inf


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="eps must be a finite float > 0 or 2 of them"):
        NGramLM(list("abc"), n=2, eps=0.0)
    for bad in (math.inf, (1.0, math.nan)):
        with pytest.raises(ValueError, match="eps must be a finite float > 0"):
            NGramLM(list("abc"), n=2, eps=bad)
    with pytest.raises(ValueError, match="eps must be"):
        NGramLM(list("abc"), n=2, eps=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        NGramLM(list("abc"), n=0)
    with pytest.raises(ValueError, match="tokens must not be empty"):
        NGramLM([], n=1)


# ------------------------------------------------------------------ metrics

def test_metrics_perplexity():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(28)) == pytest.approx(28)
    assert perplexity(np.float32(1.0)) == pytest.approx(math.e, rel=1e-6)
    assert perplexity(1e4) == math.inf
    with pytest.raises(ValueError, match="nan"):
        perplexity(float("nan"))
    assert perplexity(-1e-9) == pytest.approx(1.0)           # round-off of a perfect model
    for bad in (-5.0, -math.inf):
        with pytest.raises(ValueError, match=r"mean_nll must be >= 0 .*got -"):
            perplexity(bad)


@pytest.mark.parametrize("freqs", [[5, math.inf, 3], [5, math.nan, 3], [5, 0, 3], []])
def test_zipf_exponent_rejects_what_is_not_a_count(freqs):
    with pytest.raises(ValueError, match="freqs must be finite positive counts"):
        zipf_exponent(freqs)


DOCS = Path(__file__).resolve().parents[1] / "docs"


def docs_row(label: str, page: str = "text-data.md") -> list[float]:
    """The numbers of the docs page's table row that starts with ``| label |``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [float(cell.replace(",", "")) for cell in row.split("|")[2:-1]]


def test_docs_zipf_and_character_perplexities_are_what_the_code_gives(words):
    """docs/text-data.md's Zipf row and held-out character perplexities (examples/
    language_model_statistics.py: first 90% of the tokens to train, the rest to test)."""
    alphas = [zipf_exponent(ngram_counts(words, n), (10, 1000)) for n in (1, 2, 3)]
    np.testing.assert_allclose(alphas, docs_row("words"), atol=5e-4)
    chars = tokenize(preprocess(load_time_machine(os.environ["MINIRNN_DATA"], download=False)), "char")
    split = int(0.9 * len(chars))
    ppl = [NGramLM(chars[:split], n=n, eps=1.0).perplexity(chars[split:]) for n in (1, 2, 3)]
    np.testing.assert_allclose(ppl, docs_row("characters (V = 28), eps = 1"), atol=5e-3)


def test_docs_word_perplexities_and_counts_are_what_the_code_gives(words):
    """The rest of docs/text-data.md's perplexity table (words, and both kinds scored on
    their training tokens) and the counts its text gives: 173,428 characters, 28 of them
    in the vocabulary, 4,327 words, 8.2% of the held-out words unseen."""
    text = preprocess(load_time_machine(os.environ["MINIRNN_DATA"], download=False))
    page = " ".join((DOCS / "text-data.md").read_text(encoding="utf-8").split())
    assert f"lowercase: {len(text):,} characters" in page
    chars = tokenize(text, "char")
    assert f"the rest sorted: {len(Vocab(chars))} characters" in page
    split = int(0.9 * len(chars))
    char_lm = [NGramLM(chars[:split], n=n, eps=1.0) for n in (1, 2, 3)]
    np.testing.assert_allclose([lm.perplexity(chars[:split]) for lm in char_lm],
                               docs_row("characters, on the training tokens, eps = 1"), atol=5e-3)
    split = int(0.9 * len(words))
    train, test = words[:split], words[split:]
    light = [NGramLM(train, n=n, eps=1.0) for n in (1, 2, 3)]
    unseen = sum(tok not in light[0].vocab for tok in test) / len(test)
    label = f"words (V = {len(light[0].vocab):,}; {100 * unseen:.1f}% of held-out words unseen), eps = 1"
    np.testing.assert_allclose([lm.perplexity(test) for lm in light], docs_row(label), atol=5e-3)
    np.testing.assert_allclose([NGramLM(train, n=n, eps=1000.0).perplexity(test) for n in (1, 2, 3)],
                               docs_row("words, eps = 1000 (the strongest tried, the best here)"),
                               atol=5e-3)
    np.testing.assert_allclose([lm.perplexity(train) for lm in light],
                               docs_row("words, on the training tokens, eps = 1"), atol=5e-3)


def test_ngram_classify_gives_each_passage_its_likelier_class():
    lms = [NGramLM(list("ab" * 50), n=2), NGramLM(list("aabb" * 25), n=2)]
    np.testing.assert_array_equal(ngram_classify(lms, ["ababab", "aabbaa", "babab"]), [0, 1, 0])


def test_choose_ngram_order_picks_the_order_that_tells_the_texts_apart():
    # both texts are half a, half b: unigrams cannot tell them apart, bigrams can
    texts = ["ab" * 400, "aabb" * 200]
    n, scores = choose_ngram_order(texts, [1, 2], 20, 8, 12, np.random.default_rng(0))
    assert n == 2 and set(scores) == {1, 2}
    assert scores[2] == 1.0 and scores[1] < 0.8
    assert choose_ngram_order(texts, [3], 20, 8, 12, np.random.default_rng(0)) == (3, {})
