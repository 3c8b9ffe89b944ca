"""Evaluation metrics shared by every language model in minirnn.

Perplexity is the one number the chapter uses to compare language models, from the
counting n-gram models of ``minirnn.ngram`` to the trained RNNs: both compute the mean
negative log-likelihood of the tokens they predict and pass it here, so the two are
measured by the same formula.
"""
from __future__ import annotations

import math

__all__ = ["perplexity"]


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
