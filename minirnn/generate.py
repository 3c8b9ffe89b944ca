"""Generating text with a trained language model: the book's ``predict``, plus sampling.

Decoding, as in the book's "RNN from scratch" section:

1. *warm-up*: feed the prefix through the model, one token after another, only to
   update the hidden state (the model's predictions inside the prefix are not used);
2. *prediction*: from the output after the last prefix token, choose the next token,
   feed it back in, and repeat ``num_preds`` times.

Choosing the next token from the logits ``o`` (V,) at one step:

* ``strategy='greedy'`` (the book): ``argmax_j o_j``, deterministic;
* ``strategy='beam'``: the continuation of ``num_preds`` tokens with the highest log P
  that beam search with ``beam_size`` beams finds (``minirnn.beam``; beam 1 is greedy);
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

from ._checks import (check_non_negative_int, check_positive_int, check_positive_number,
                      make_rng, plural)
from .beam import lm_beam_search
from .layers import evaluating

__all__ = ["DECODING_STRATEGIES", "predict", "predict_stream", "prefix_to_ids", "next_token_probs"]

DECODING_STRATEGIES = ("greedy", "sample", "beam")


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
        warnings.warn(f"prefix {prefix!r}: {plural(len(unknown), token + ' token')} not in the "
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
            token: str = "char", beam_size: int | None = None) -> str:
    """The prefix followed by ``num_preds`` generated tokens, as the book's ``predict``.

    Args:
        prefix: str, at least one token; tokens outside the vocabulary become ``<unk>``
            with a warning (see ``prefix_to_ids``).
        num_preds: int >= 0, how many tokens to generate.
        model: a language model (``minirnn.models``): ``forward(X (B, T) int ids, state
            or None) -> (logits (B, T, V), state)``; the state is passed back as it came.
        vocab: the ``Vocab`` the model was trained with.
        strategy: ``'greedy'`` (argmax, the book), ``'sample'`` or ``'beam'``.
        temperature: T > 0 for ``'sample'`` (default 1): ``q ∝ exp(o / T)``.
        alpha: > 0 for ``'sample'``, the book's sharpening ``q ∝ P^alpha`` (= T 1/alpha).
        seed, rng: the random generator for ``'sample'`` (``rng`` wins if both given).
        token: ``'char'`` (output joined with ``''``) or ``'word'`` (joined with ``' '``).
        beam_size: int >= 1 for ``'beam'`` (default 4).

    Returns:
        str: the prefix (as given) and the generated tokens.

    ``<unk>`` (index 0) is never generated, by either strategy: it is not a token of the
    text but the stand-in for any token outside the vocabulary, so printing it continues
    nothing (the book's argmax and sampling are over the other tokens; a trained model
    hardly ever ranks ``<unk>`` first, as it is never a target, but an untrained one or a
    high temperature would print the literal ``<unk>``).  ``predict_stream`` gives the
    same text piece by piece, in constant memory.
    """
    return "".join(predict_stream(prefix, num_preds, model, vocab, strategy, temperature,
                                  alpha, seed, rng, token, beam_size))


def predict_stream(prefix: str, num_preds: int, model, vocab, strategy: str = "greedy",
                   temperature: float | None = None, alpha: float | None = None,
                   seed: int | None = None, rng: np.random.Generator | None = None,
                   token: str = "char", beam_size: int | None = None):
    """``predict``'s text as it is generated: an iterator of str pieces (the prefix, then
    one piece per token), in memory that does not grow with ``num_preds``.  Every
    argument is checked here, before the first piece; the arguments are ``predict``'s."""
    if strategy not in DECODING_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, DECODING_STRATEGIES))}, got {strategy!r}")
    num_preds = check_non_negative_int(num_preds, "num_preds")
    if strategy != "sample" and (temperature is not None or alpha is not None):
        raise ValueError(f"temperature and alpha apply to strategy='sample', got strategy="
                         f"{strategy!r} with temperature={temperature!r}, alpha={alpha!r}")
    if strategy != "beam" and beam_size is not None:
        raise ValueError(f"beam_size applies to strategy='beam', got strategy={strategy!r} "
                         f"with beam_size={beam_size!r}")
    beam_size = check_positive_int(4 if beam_size is None else beam_size, "beam_size")
    if temperature is not None and alpha is not None:
        raise ValueError(f"give temperature or alpha (T = 1/alpha), not both: got "
                         f"temperature={temperature!r}, alpha={alpha!r}")
    T = 1.0
    if temperature is not None:
        T = check_positive_number(temperature, "temperature")
    elif alpha is not None:
        T = 1.0 / check_positive_number(alpha, "alpha")                # q ∝ P^alpha = softmax(o alpha)
    rng = make_rng(seed, rng)
    vocab_size = getattr(model, "vocab_size", len(vocab))
    if len(vocab) != vocab_size:
        raise ValueError(f"vocab has {plural(len(vocab), 'token')} but the model's vocab_size is "
                         f"{vocab_size}: generate with the vocabulary the model was trained with")
    ids = prefix_to_ids(prefix, vocab, token)
    if getattr(model, "bidirectional", False):
        warnings.warn("the model is bidirectional: it was trained reading the text that "
                      "follows each token, which generation does not have, so this text is "
                      "not a next-token prediction (the book's lesson)", UserWarning, stacklevel=3)
    return _generate(prefix, ids, num_preds, model, vocab, strategy, T, rng, token, beam_size)


def _generate(prefix, ids, num_preds, model, vocab, strategy, T, rng, token, beam_size):
    """The book's decoding loop, one piece of text at a time (arguments checked), with
    the model in evaluation mode (dropout off) while it runs."""
    if token == "word":
        yield prefix.rstrip() if num_preds else prefix
    else:
        yield prefix
    sep = "" if token == "char" else " "
    if strategy == "beam":                                       # the best whole continuation
        if num_preds:
            for y in lm_beam_search(model, ids, num_preds, beam_size, unk_id=vocab.unk):
                yield sep + vocab.to_tokens(int(y))
        return
    with evaluating(model):
        # warm-up: one forward over the whole prefix; only the last output and state matter
        logits, state = model.forward(np.array([ids], dtype=np.int64), None)   # (1, L, V), a tuple
        for _ in range(num_preds):
            o = logits[0, -1].astype(np.float64)                 # (V,) output after the last token
            if o.shape[-1] > 1:
                o[vocab.unk] = -np.inf                           # never <unk>: exp(-inf) = 0
            if strategy == "greedy":
                y = int(np.argmax(o))                            # the book: most likely token
            else:
                y = int(rng.choice(o.shape[-1], p=next_token_probs(o, T)))
            yield sep + vocab.to_tokens(y)
            logits, state = model.forward(np.array([[y]], dtype=np.int64), state)  # feed it back
