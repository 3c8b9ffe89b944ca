"""Evaluation metrics: perplexity for every language model in minirnn, BLEU for
sequence-to-sequence outputs, the F1 of word boundaries for the tagger.

Perplexity is the one number the chapter uses to compare language models, from the
counting n-gram models of ``minirnn.ngram`` to the trained RNNs: both compute the mean
negative log-likelihood of the tokens they predict and pass it here, so the two are
measured by the same formula.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import is_int

__all__ = ["perplexity", "bleu", "boundary_f1"]


def perplexity(mean_nll: float) -> float:
    """Perplexity ``exp(mean_nll)`` of a mean negative log-likelihood (natural log).

    With ``n`` predicted tokens, ``mean_nll = -(1/n) sum_t log P(x_t | x_<t)``; its
    exponential is 1 for a perfect model, ``V`` for a uniform guess over a vocabulary of
    ``V`` tokens, and infinity for a model that gives some token probability zero.

    Args:
        mean_nll: float, the mean negative log-likelihood per token, in nats.

    Returns:
        float, ``exp(mean_nll)``; ``inf`` when it overflows (``mean_nll`` above ~709).

    Raises:
        ValueError: ``mean_nll`` is NaN (a broken model, never a perplexity) or negative
            (a log-likelihood above 0: not from probabilities; -1e-6 is allowed for
            round-off of a perfect model).
    """
    mean_nll = float(mean_nll)
    if math.isnan(mean_nll):
        raise ValueError("mean_nll must be a number, got nan: the model produced NaN "
                         "log-probabilities")
    if mean_nll < -1e-6:
        raise ValueError(f"mean_nll must be >= 0 (a negative log-likelihood of "
                         f"probabilities), got {mean_nll}")
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


def _tokens(seq, name: str) -> list:
    """``seq`` as a list of tokens, each hashable (n-grams are counted in a dict), else a
    TypeError naming ``name``."""
    try:
        tokens = list(seq)
    except TypeError as err:                                         # None, 5, a 0-d array
        raise TypeError(f"{name} must be a sequence of tokens (a str or a list), got "
                        f"{type(seq).__name__} ({err})") from None
    for i, token in enumerate(tokens):
        try:
            hash(token)
        except TypeError:                                            # a list, a row of a 2-D array
            raise TypeError(f"{name} must be a sequence of hashable tokens (str, int), got "
                            f"{type(token).__name__} at position {i}") from None
    return tokens


def bleu(pred_seq, label_seq, k: int = 2) -> float:
    """The book's BLEU (d2l ``bleu(pred_seq, label_seq, k)``) of one prediction against
    one label: a brevity penalty times the clipped n-gram precisions, longer n weighted more.

        BLEU = exp(min(0, 1 - len_label / len_pred)) * prod_{n=1..k} p_n^(1 / 2^n)

    ``p_n`` = (n-grams of the prediction that match one in the label, each label n-gram
    matched at most as often as it occurs there) / (n-grams in the prediction).  A perfect
    prediction scores 1; the penalty ``exp(1 - len_label / len_pred) < 1`` catches a
    prediction shorter than its label, which could otherwise score 1 on precision alone.

    Sequences are sequences of tokens: a ``str`` is read as its characters (BLEU on
    characters, as for the digits of a sum); for words, pass ``sentence.split()`` (the book
    splits on spaces).  Where the book's code divides by zero this function says what it
    does instead: an empty prediction scores 0 (nothing predicted, nothing right), and an
    order n longer than the prediction has no n-grams to score, so its factor is left out
    (the brevity penalty already charges a short prediction).

    Args:
        pred_seq: the predicted tokens (a str of characters, or a list of tokens).
        label_seq: the reference tokens, at least one.
        k: int >= 1, the longest n-gram order (the book: 2).

    Returns:
        float in [0, 1].
    """
    if not is_int(k) or k < 1:                                       # a Python or NumPy int
        raise ValueError(f"k must be an int >= 1 (the longest n-gram order), got {k!r}")
    pred, label = _tokens(pred_seq, "pred_seq"), _tokens(label_seq, "label_seq")
    if not label:
        raise ValueError("label_seq must hold at least one token, got an empty sequence")
    if not pred:
        return 0.0
    len_pred, len_label = len(pred), len(label)
    score = math.exp(min(0.0, 1.0 - len_label / len_pred))          # the brevity penalty
    for n in range(1, min(k, len_pred) + 1):
        label_counts: dict[tuple, int] = {}                          # n-gram -> count in label
        for i in range(len_label - n + 1):
            gram = tuple(label[i:i + n])
            label_counts[gram] = label_counts.get(gram, 0) + 1
        num_matches = 0
        for i in range(len_pred - n + 1):
            gram = tuple(pred[i:i + n])
            if label_counts.get(gram, 0) > 0:                        # clipped: each label n-gram
                num_matches += 1                                     # matches at most its count
                label_counts[gram] -= 1
        score *= (num_matches / (len_pred - n + 1)) ** (0.5 ** n)    # p_n^(1/2^n)
    return score


def boundary_f1(predicted, true) -> dict:
    """precision = TP / predicted boundaries, recall = TP / true ones, F1 = 2PR / (P + R)."""
    p, t = np.asarray(predicted).astype(bool), np.asarray(true).astype(bool)
    tp = int((p & t).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / t.sum() if t.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
