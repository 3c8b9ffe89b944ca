"""Counting statistics of text: n-gram frequencies, Zipf's law, smoothed n-gram models.

Section "Language models" of the book before any neural network: count how often
tokens and runs of tokens occur, see that the counts fall as a power of their rank
(Zipf's law, ``log n_i = -alpha log i + c``), and turn counts into a language model with
Laplace smoothing whose perplexity on held-out text is the baseline an RNN must beat.

Dimension letters: V vocabulary size (of the training tokens, plus ``<unk>``).
Tokens are any hashable, sortable items: characters or words (see
``minirnn.data.tokenize``).

One model per class also classifies: ``ngram_classify`` gives a passage the class whose
model gives it the higher log-probability (the author classifiers' baseline), and
``choose_ngram_order`` picks its order on a validation split.
"""
from __future__ import annotations

import collections
import math
from typing import Sequence

import numpy as np

from ._checks import check_positive_int
from .data import Vocab
from .data.tasks import author_passages
from .metrics import perplexity

__all__ = ["ngram_counts", "zipf_exponent", "NGramLM", "ngram_classify", "choose_ngram_order"]


def ngram_counts(tokens: Sequence, n: int) -> collections.Counter:
    """How often each run of ``n`` consecutive tokens occurs.

    Args:
        tokens: sequence of tokens (e.g. words), length L.
        n: int >= 1; 1 for unigrams, 2 for bigrams, 3 for trigrams.

    Returns:
        collections.Counter mapping each n-tuple of tokens to its count (L - n + 1
        n-grams in all; unigrams are 1-tuples). ``.most_common(k)`` lists the top k by
        falling count, ties in order of first occurrence.
    """
    check_positive_int(n, "n")
    tokens = list(tokens)
    return collections.Counter(zip(*(tokens[i:] for i in range(n))))


def zipf_exponent(freqs, ranks: tuple[int, int | None] = (1, None)) -> float:
    """Zipf exponent ``alpha`` of ``log n_i = -alpha log i + c``, by least squares.

    The counts are sorted in falling order, so the most frequent has rank 1; the line
    is fitted to ``(log i, log n_i)`` for ranks ``lo <= i <= hi``.

    Args:
        freqs: positive counts, array-like of shape (N,), or a dict/Counter whose values
            are the counts (e.g. from ``ngram_counts``).
        ranks: (lo, hi), 1-based and inclusive; hi None for the last rank. The top few
            and the long tail of count-1 items bend away from the line, so a middle
            range gives the cleaner estimate.

    Returns:
        float alpha, minus the fitted slope (positive for falling counts).
    """
    if isinstance(freqs, dict):
        freqs = list(freqs.values())
    freqs = np.sort(np.asarray(freqs, dtype=np.float64).ravel())[::-1]
    if freqs.size == 0 or not np.all((freqs > 0) & np.isfinite(freqs)):
        raise ValueError(f"freqs must be finite positive counts, got {freqs.size} values "
                         f"from {freqs.min() if freqs.size else None} to "
                         f"{freqs.max() if freqs.size else None}")
    lo, hi = ranks
    hi = freqs.size if hi is None else min(int(hi), freqs.size)
    if lo < 1 or hi - lo < 1:
        raise ValueError(f"ranks must be (lo, hi) with 1 <= lo < hi <= {freqs.size} "
                         f"(the number of counts), got {ranks!r}")
    rank = np.arange(lo, hi + 1, dtype=np.float64)
    slope, _ = np.polyfit(np.log(rank), np.log(freqs[lo - 1:hi]), 1)
    return float(-slope)


class NGramLM:
    """A Laplace-smoothed n-gram language model, with the book's formulas.

    With ``n`` training tokens and ``m`` vocabulary entries (training tokens plus
    ``<unk>``)::

        P(x)          = (n(x) + e1 / m) / (n + e1)
        P(x' | x)     = (n(x, x') + e2 P(x')) / (n(x) + e2)
        P(x''| x, x') = (n(x, x', x'') + e3 P(x'')) / (n(x, x') + e3)

    and likewise for longer contexts (always smoothed towards the unigram ``P``, as the
    book does). Two details make every distribution sum to exactly 1 over the
    vocabulary:

    * a context's count in a denominator is how often it is followed by a token (for
      the last token of the training text this is one less than its unigram count);
    * tokens never seen in training are mapped to ``<unk>``, a vocabulary entry with
      count 0 whose probability ``(e1/m) / (n + e1)`` is the mass the formula leaves
      for them. So unseen held-out tokens cost a large but finite log-loss, never an
      infinite or NaN perplexity (every ``e`` must be > 0).

    Args:
        tokens: sequence of training tokens.
        n: int, the order (1 unigram, 2 bigram, 3 trigram; any n >= 1 works).
        eps: float > 0, the smoothing strength of every order, or a sequence
            ``(e1, ..., en)`` of n of them.

    Attributes:
        vocab: ``minirnn.data.Vocab`` of the training tokens (``<unk>`` = 0).
        counts: list, ``counts[k]`` a Counter of the (k+1)-grams of token ids.
        context_counts: list, ``context_counts[k]`` a Counter of the k-grams that are
            followed by a token (``context_counts[0]`` is unused).
        unigram_probs: list of V floats, ``P(x)`` of every vocabulary id.
    """

    def __init__(self, tokens: Sequence, n: int = 2, eps=1.0):
        self.n = check_positive_int(n, "n")
        eps = (eps,) * self.n if np.ndim(eps) == 0 else tuple(eps)
        if len(eps) != self.n or not all(np.isfinite(e) and e > 0 for e in eps):
            raise ValueError(f"eps must be a finite float > 0 or {self.n} of them (e1..e{self.n}),"
                             f" got {eps!r}")
        self.eps = tuple(float(e) for e in eps)
        tokens = list(tokens)
        if not tokens:
            raise ValueError("tokens must not be empty: nothing to count")
        self.vocab = Vocab(tokens)
        ids = self.vocab[tokens]
        self.num_tokens = len(ids)
        self.counts = [ngram_counts(ids, k + 1) for k in range(self.n)]
        self.context_counts = [collections.Counter()]
        for k in range(1, self.n):
            ctx = collections.Counter()
            for ngram, count in self.counts[k].items():
                ctx[ngram[:-1]] += count
            self.context_counts.append(ctx)
        # P(x) = (n(x) + e1/m) / (n + e1) for every vocabulary id x, shape (V,)
        e1, m = self.eps[0], len(self.vocab)
        self.unigram_probs = [(self.counts[0][(x,)] + e1 / m) / (self.num_tokens + e1)
                              for x in range(m)]

    def _prob_ids(self, ngram: tuple) -> float:
        """P(last id | the ids before it), for 1 <= len(ngram) <= n."""
        p = self.unigram_probs[ngram[-1]]
        k = len(ngram) - 1
        if k == 0:
            return p
        e = self.eps[k]
        return (self.counts[k][ngram] + e * p) / (self.context_counts[k][ngram[:-1]] + e)

    def prob(self, token, context: Sequence = ()) -> float:
        """P(token | context), using the last ``n - 1`` tokens of ``context``.

        Args:
            token: a token (unseen ones count as ``<unk>``).
            context: sequence of the tokens before it (may be shorter than n - 1).

        Returns:
            float in (0, 1).
        """
        context = list(context)[-(self.n - 1):] if self.n > 1 else []
        return self._prob_ids(tuple(self.vocab[context + [token]]))

    def log_probs(self, tokens: Sequence) -> np.ndarray:
        """``log P(x_t | x_{t-n+1} .. x_{t-1})`` of every token of a text, shape (L,).

        The first ``n - 1`` tokens use the shorter context they have (chain rule).
        """
        ids = self.vocab[list(tokens)]
        return np.array([math.log(self._prob_ids(tuple(ids[max(0, t - self.n + 1):t + 1])))
                         for t in range(len(ids))])

    def perplexity(self, tokens: Sequence) -> float:
        """Perplexity on a text: ``minirnn.metrics.perplexity`` of the mean
        negative log-likelihood of its tokens."""
        if len(tokens) == 0:
            raise ValueError("tokens must not be empty: no perplexity of nothing")
        return perplexity(-float(np.mean(self.log_probs(tokens))))

    def __repr__(self) -> str:
        return (f"NGramLM(n={self.n}, eps={self.eps}, vocab_size={len(self.vocab)}, "
                f"num_tokens={self.num_tokens})")


def ngram_classify(lms, passages) -> np.ndarray:
    """The class (index into ``lms``, one ``NGramLM`` per class) whose model gives each
    passage the higher log-probability: ``(len(passages),)`` int64."""
    return np.array([[lm.log_probs(list(p)).sum() for lm in lms] for p in passages]).argmax(axis=1)


def choose_ngram_order(texts, orders, num_passages: int, min_len: int, max_len: int,
                       rng) -> tuple:
    """The order with the best accuracy on passages of the last 10% of each training text
    (one per class; the models fitted on the first 90%), and each order's validation
    accuracy: ``(n, {order: accuracy})``; a single order is returned as given, ``{}``."""
    if len(orders) == 1:
        return orders[0], {}
    cut = [int(0.9 * len(t)) for t in texts]
    passages, labels = author_passages([t[c:] for t, c in zip(texts, cut)], num_passages,
                                       min_len, max_len, rng=rng)
    scores = {n: float(np.mean(ngram_classify([NGramLM(list(t[:c]), n=n)
                                                for t, c in zip(texts, cut)], passages) == labels))
              for n in orders}
    return max(scores, key=scores.get), scores
