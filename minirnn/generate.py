"""Generating text with a trained language model: the book's ``predict``, plus sampling.

Decoding, as in the book's "RNN from scratch" section:

1. *warm-up*: feed the prefix through the model, one token after another, only to
   update the hidden state (the model's predictions inside the prefix are not used);
2. *prediction*: from the output after the last prefix token, choose the next token,
   feed it back in, and repeat ``num_preds`` times.

Choosing the next token from the logits ``o`` (V,) at one step:

* ``strategy='greedy'`` (the book): ``argmax_j o_j``, deterministic;
* ``strategy='sample'``: draw from ``q_j ∝ P_j^alpha``, ``P = softmax(o)``.  This is the
  book's exercise of sharpened sampling; since ``P^alpha ∝ exp(alpha o)`` it is the
  same as sampling from ``softmax(o / T)`` with temperature ``T = 1 / alpha``. Give
  ``temperature`` (T = 1 is plain sampling, T < 1 sharpens, T > 1 flattens) or
  ``alpha``, not both.  Seeded by ``seed`` or ``rng``: the same seed gives the same text.

Dimension letters: B batch (1 here), T steps, V vocabulary size, H hidden units.
"""
from __future__ import annotations

import warnings

import numpy as np

from ._checks import check_non_negative_int, check_positive_number
from .layers import evaluating

__all__ = ["DECODING_STRATEGIES", "predict", "prefix_to_ids", "next_token_probs"]

DECODING_STRATEGIES = ("greedy", "sample")


def prefix_to_ids(prefix: str, vocab, token: str = "char") -> list[int]:
    """The ids of the prefix's tokens (characters, or whitespace-separated words).

    A token outside the vocabulary maps to ``<unk>``, with a ``UserWarning`` that names
    it. The book's corpora are lowercased letters and spaces, so an upper-case letter,
    a digit or punctuation is such a token: pass ``minirnn.data.preprocess(prefix)``
    to fold the prefix into the corpus's alphabet first.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if token not in ("char", "word"):
        raise ValueError(f"token must be 'char' or 'word', got {token!r}")
    tokens = list(prefix) if token == "char" else prefix.split()
    if not tokens:
        raise ValueError(f"prefix must hold at least one {token}, got {prefix!r}: the "
                         f"model needs a token to start from")
    unknown = list(dict.fromkeys(t for t in tokens if t not in vocab))   # in order, once each
    if unknown:
        warnings.warn(f"prefix {prefix!r}: {len(unknown)} {token} token(s) not in the "
                      f"vocabulary, read as <unk>: {', '.join(map(repr, unknown))} "
                      f"(the corpus was preprocessed to lowercase letters and spaces; "
                      f"minirnn.data.preprocess(prefix) folds a prefix into it)",
                      UserWarning, stacklevel=3)
    return [vocab[t] for t in tokens]


def next_token_probs(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` over the last axis, in float64 (stable: max-shifted).

    With ``T = 1 / alpha`` this is ``q ∝ P^alpha`` for ``P = softmax(logits)``.
    """
    o = np.asarray(logits, dtype=np.float64)
    z = o - o.max(axis=-1, keepdims=True)                        # shift first: every z_j <= 0,
    with np.errstate(over="ignore"):                             # so (o - max o) / T never
        z /= temperature                                         # overflows to inf - inf: at
    q = np.exp(z)                                                # worst -inf, exp(-inf) = 0
    return q / q.sum(axis=-1, keepdims=True)                     # q_j = exp(o_j/T) / sum_k exp(o_k/T)


def predict(prefix: str, num_preds: int, model, vocab, strategy: str = "greedy",
            temperature: float | None = None, alpha: float | None = None,
            seed: int | None = None, rng: np.random.Generator | None = None,
            token: str = "char") -> str:
    """The prefix followed by ``num_preds`` generated tokens, as the book's ``predict``.

    Args:
        prefix: str, at least one token; tokens outside the vocabulary become ``<unk>``
            with a warning (see ``prefix_to_ids``).
        num_preds: int >= 0, how many tokens to generate.
        model: a language model (``minirnn.models``): ``forward(X (B, T) int ids, state
            or None) -> (logits (B, T, V), state)``; the state is passed back as it came.
        vocab: the ``Vocab`` the model was trained with.
        strategy: ``'greedy'`` (argmax, the book) or ``'sample'``.
        temperature: T > 0 for ``'sample'`` (default 1): ``q ∝ exp(o / T)``.
        alpha: > 0 for ``'sample'``, the book's sharpening ``q ∝ P^alpha`` (= T 1/alpha).
        seed, rng: the random generator for ``'sample'`` (``rng`` wins if both given).
        token: ``'char'`` (output joined with ``''``) or ``'word'`` (joined with ``' '``).

    Returns:
        str: the prefix (as given) and the generated tokens.
    """
    if strategy not in DECODING_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, DECODING_STRATEGIES))}, got {strategy!r}")
    num_preds = check_non_negative_int(num_preds, "num_preds")
    if strategy == "greedy" and (temperature is not None or alpha is not None):
        raise ValueError(f"temperature and alpha apply to strategy='sample', got strategy="
                         f"'greedy' with temperature={temperature!r}, alpha={alpha!r}")
    if temperature is not None and alpha is not None:
        raise ValueError(f"give temperature or alpha (T = 1/alpha), not both: got "
                         f"temperature={temperature!r}, alpha={alpha!r}")
    T = 1.0
    if temperature is not None:
        T = check_positive_number(temperature, "temperature")
    elif alpha is not None:
        T = 1.0 / check_positive_number(alpha, "alpha")                # q ∝ P^alpha = softmax(o alpha)
    if rng is None:
        rng = np.random.default_rng(seed)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    ids = prefix_to_ids(prefix, vocab, token)
    if getattr(model, "bidirectional", False):
        warnings.warn("the model is bidirectional: it was trained reading the text that "
                      "follows each token, which generation does not have, so this text is "
                      "not a next-token prediction (the book's lesson)", UserWarning, stacklevel=2)

    with evaluating(model):                                      # dropout off
        # warm-up: one forward over the whole prefix; only the last output and state matter
        logits, state = model.forward(np.array([ids], dtype=np.int64), None)   # (1, L, V), a tuple
        outputs = []
        for _ in range(num_preds):
            o = logits[0, -1]                                    # (V,) output after the last token
            if strategy == "greedy":
                y = int(np.argmax(o))                            # the book: most likely token
            else:
                y = int(rng.choice(o.shape[-1], p=next_token_probs(o, T)))
            outputs.append(y)
            logits, state = model.forward(np.array([[y]], dtype=np.int64), state)  # feed it back
    generated = vocab.to_tokens(outputs)
    sep = "" if token == "char" else " "
    if token == "word" and generated:
        return prefix.rstrip() + " " + " ".join(generated)
    return prefix + sep.join(generated)
