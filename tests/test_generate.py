"""Tests of minirnn.generate: the book's greedy predict, seeded and sharpened sampling,
and the prefix's bad input."""
import numpy as np
import pytest

from minirnn.data import Vocab
from minirnn.generate import next_token_probs, predict
from minirnn.gradcheck import randomize_params
from minirnn.models import RNNLM

ALPHABET = "abcdefghijklmnopqrstuvwxyz "


@pytest.fixture(scope="module")
def vocab():
    return Vocab(list(ALPHABET))


@pytest.fixture
def model(vocab):
    """An untrained model with weights of order one, so its outputs vary by input and
    its next-token distributions are far from uniform and from one-hot."""
    m = RNNLM(len(vocab), 16, seed=0)
    randomize_params(m, np.random.default_rng(1), scale=0.8)
    return m


def book_predict(prefix, num_preds, model, vocab):
    """The book's predict, literally: warm up one token at a time, then argmax (over every
    token but ``<unk>``, which minirnn never generates)."""
    state = None
    outputs = [vocab[prefix[0]]]
    for y in prefix[1:]:
        _, state = model.forward(np.array([[outputs[-1]]]), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        logits, state = model.forward(np.array([[outputs[-1]]]), state)
        outputs.append(1 + int(logits[0, -1, 1:].argmax()))        # <unk> is index 0
    return "".join(vocab.to_tokens(outputs))


def test_greedy_is_the_books_predict_and_deterministic(model, vocab):
    text = predict("time traveller", 30, model, vocab)
    assert text == book_predict("time traveller", 30, model, vocab)
    assert text == predict("time traveller", 30, model, vocab)
    assert text.startswith("time traveller") and len(text) >= len("time traveller") + 30


def test_zero_predictions_return_the_prefix(model, vocab):
    assert predict("abc", 0, model, vocab) == "abc"


def test_sampling_is_seeded(model, vocab):
    a = predict("the ", 40, model, vocab, strategy="sample", seed=3)
    b = predict("the ", 40, model, vocab, strategy="sample", seed=3)
    c = predict("the ", 40, model, vocab, strategy="sample", seed=4)
    assert a == b
    assert a != c
    rng = np.random.default_rng(3)
    assert predict("the ", 40, model, vocab, strategy="sample", rng=rng) == a


def test_sampling_draws_from_the_models_distribution(model, vocab):
    logits, _ = model.forward(np.array([vocab[list("the")]]))
    p = next_token_probs(logits[0, -1])                             # (V,)
    p = np.r_[0.0, p[1:] / p[1:].sum()]                            # never <unk>
    rng = np.random.default_rng(0)
    n = 3000
    counts = np.bincount([vocab[predict("the", 1, model, vocab, strategy="sample", rng=rng)[-1]]
                          for _ in range(n)], minlength=len(vocab))
    # every frequency within 5 standard errors of its probability
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts / n - p) <= 5 * se + 1e-12), (counts / n, p)


def test_sharpening_q_proportional_to_p_alpha():
    rng = np.random.default_rng(5)
    o = rng.standard_normal(7)
    P = np.exp(o) / np.exp(o).sum()
    for alpha in (0.5, 2.0, 5.0):
        q = P ** alpha / (P ** alpha).sum()
        np.testing.assert_allclose(next_token_probs(o, 1 / alpha), q, rtol=1e-12)
    np.testing.assert_allclose(next_token_probs(np.array([1000.0, 0.0])), [1.0, 0.0])  # no overflow


def test_alpha_is_temperature_one_over_alpha(model, vocab):
    a = predict("the ", 40, model, vocab, strategy="sample", alpha=4.0, seed=1)
    t = predict("the ", 40, model, vocab, strategy="sample", temperature=0.25, seed=1)
    assert a == t


@pytest.mark.parametrize("cold", [dict(temperature=1e-4), dict(temperature=1e-320),
                                  dict(alpha=1e300)])
def test_a_cold_temperature_is_greedy(model, vocab, cold):
    """However small T is (o / T overflows below about 1e-306), sampling is the argmax."""
    greedy = predict("time ", 30, model, vocab)
    assert predict("time ", 30, model, vocab, strategy="sample", seed=0, **cold) == greedy


def test_next_token_probs_extremes():
    o = np.array([[1.0, 3.0, 3.0, -2.0]])
    np.testing.assert_array_equal(next_token_probs(o, 1e-320), [[0, 0.5, 0.5, 0]])
    np.testing.assert_allclose(next_token_probs(o, 1e300), [[0.25] * 4])


def test_out_of_vocabulary_prefix_maps_to_unk_with_a_warning(model, vocab):
    with pytest.warns(UserWarning, match=r"not in the vocabulary, read as <unk>: 'T', '\?'"):
        text = predict("The?", 5, model, vocab)
    assert text.startswith("The?")
    # the same continuation as the prefix with the unknown tokens replaced by <unk>
    ids = vocab[["<unk>", "h", "e", "<unk>"]]
    logits, state = model.forward(np.array([ids]))
    assert text[4] == vocab.to_tokens(int(logits[0, -1].argmax()))


def test_word_tokens(model):
    words = Vocab("the time traveller was here".split())
    m = RNNLM(len(words), 8, seed=0)
    randomize_params(m, np.random.default_rng(0))
    text = predict("the time", 3, m, words, token="word")
    assert text.startswith("the time ") and len(text.split()) == 5
    assert all(w in words for w in text.split())


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(prefix=""), ValueError, "prefix must hold at least one char, got ''"),
    (dict(prefix="   ", token="word"), ValueError, "prefix must hold at least one word"),
    (dict(prefix=5), TypeError, "prefix must be a str, got int"),
    (dict(num_preds=-1), ValueError, "num_preds must be a non-negative int, got -1"),
    (dict(num_preds=2.5), TypeError, "num_preds must be a non-negative int"),
    (dict(strategy="topk"), ValueError, "strategy must be one of 'greedy', 'sample', 'beam', got 'topk'"),
    (dict(strategy="sample", temperature=0), ValueError, "temperature must be a positive number, got 0"),
    (dict(strategy="sample", alpha=-1.0), ValueError, "alpha must be a positive number, got -1.0"),
    (dict(strategy="sample", temperature=0.5, alpha=2.0), ValueError, "not both"),
    (dict(temperature=0.5), ValueError, "apply to strategy='sample'"),
    (dict(token="byte"), ValueError, "token must be 'char' or 'word', got 'byte'"),
    (dict(strategy="sample", rng=42), TypeError, "rng must be a numpy.random.Generator"),
])
def test_bad_arguments_are_named(model, vocab, kwargs, error, match):
    args = dict(prefix="time", num_preds=3, model=model, vocab=vocab)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        predict(**args)


def test_unk_is_never_generated(model, vocab):
    """Not even by an untrained model (whose argmax is often <unk> here) or when hot."""
    logits, _ = model.forward(np.array([vocab[list("time kccc")]]))
    assert logits[0, -1].argmax() == vocab.unk                       # the book would print it
    for kwargs in ({}, dict(strategy="sample", temperature=50.0, seed=0)):
        text = predict("time kccc", 300, model, vocab, **kwargs)
        assert "<unk>" not in text and len(text) == len("time kccc") + 300
