"""Beam search: the book's decoding between greedy and exhaustive search.

Greedy search keeps the single most likely token at each step; exhaustive search scores
every sequence (|Y|^T' of them); beam search keeps the ``beam_size`` best partial
sequences at each step: from the k alive ones it scores all k |Y| one-token extensions by
log P(y_1 .. y_t) = sum_t log P(y_t | y_<t, c) and keeps the k best.  An extension that
is ``<eos>``, or reaches ``max_len`` tokens, ends (the beam then has fewer alive).  Of the
candidates that ended, the one returned has the highest length-normalized score

    score = (1 / L^alpha) log P(y_1 .. y_L | c)          alpha = 0.75 by default

with L the number of tokens the candidate generated, ``<eos>`` included.  Beam size 1 is
greedy search exactly (the same ties: the lowest token id wins); a beam as wide as the
number of candidates (|Y|^max_len) is exhaustive search.

The model side is a *decoding*, three calls on a batch of N rows:

* ``decode_step(y (N,) int, state) -> (logits (N, V), state)``: one step, from the
  previous token of every row;
* ``select_rows(state, rows (N',) int) -> state``: the state of rows ``rows`` (repeated
  or reordered), as beams are kept, copied or dropped;
* ``begin_decoding(...)``: the state of B rows to start from (its arguments are the
  model's: a source batch for a seq2seq model, a prefix for a language model).

``seq2seq_beam_search`` runs it for a seq2seq model (``minirnn.models``' ``Seq2Seq``
and ``Seq2SeqAttention`` both offer these calls); ``lm_beam_search`` continues a prefix
with a language model (no ``<eos>``: every candidate has ``num_preds`` tokens).

Dimension letters: B sources, k beam size, V target vocabulary, N = B k rows.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_int, check_number, check_positive_int
from .layers import evaluating

__all__ = ["beam_search", "seq2seq_beam_search", "lm_beam_search", "log_softmax"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log P = o - logsumexp(o)`` over the last axis, in float64 (max-shifted)."""
    o = np.asarray(logits, dtype=np.float64)
    z = o - o.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def check_beam_args(beam_size, alpha, max_len):
    """One line naming the argument for a bad ``beam_size``, ``alpha`` or ``max_len``."""
    return (check_positive_int(beam_size, "beam_size"),
            check_number(alpha, "alpha", minimum=0),
            check_positive_int(max_len, "max_len"))


def beam_search(decoding, state, batch_size: int, bos_id: int, eos_id: int | None,
                max_len: int, beam_size: int = 4, alpha: float = 0.75, banned=()):
    """Beam search for ``batch_size`` independent rows, all beams as one batch.

    Args:
        decoding: an object with ``decode_step`` and ``select_rows`` (module docstring).
        state: the decoding state of ``batch_size`` rows (from ``begin_decoding``).
        bos_id: the first input token of every row; eos_id: the token that ends a
            candidate (None: candidates end only at ``max_len``).
        max_len: int >= 1, the most tokens a candidate generates (``<eos>`` included).
        beam_size: int k >= 1; alpha: float >= 0, the length normalization's exponent.
        banned: token ids never generated (a language model's ``<unk>``).

    Returns:
        ``(sequences, scores)``: a list of ``batch_size`` int arrays, each the best
        candidate's tokens without its ``<eos>``, and their scores (B,) float64.
    """
    k, alpha, max_len = check_beam_args(beam_size, alpha, max_len)
    B = check_positive_int(batch_size, "batch_size")
    state = decoding.select_rows(state, np.repeat(np.arange(B), k))   # row b k + j: beam j of b
    scores = np.full((B, k), -np.inf)                         # log P of each alive beam
    scores[:, 0] = 0.0                                        # one empty beam to start from
    tokens = np.zeros((B, k, 0), dtype=np.int64)              # (B, k, t) the beams' tokens
    y = np.full(B * k, bos_id, dtype=np.int64)
    best = [(-np.inf, np.zeros(0, dtype=np.int64)) for _ in range(B)]
    for t in range(1, max_len + 1):
        logits, state = decoding.decode_step(y, state)
        logp = log_softmax(logits)                            # log P(y_t | y_<t, c)  (B k, V)
        if len(banned):
            logp[:, list(banned)] = -np.inf
        V = logp.shape[-1]
        extended = (scores[:, :, None] + logp.reshape(B, k, V)).reshape(B, k * V)
        top = np.argsort(-extended, axis=1, kind="stable")[:, :k]   # the k best; ties: lowest id
        scores = np.take_along_axis(extended, top, axis=1)    # (B, k)
        beam, token = np.divmod(top, V)                       # which beam it extends, by what
        tokens = np.concatenate([np.take_along_axis(tokens, beam[..., None], axis=1),
                                 token[..., None]], axis=2)
        state = decoding.select_rows(state, (np.arange(B)[:, None] * k + beam).ravel())
        ended = (token == eos_id) | (t == max_len)
        for b, j in zip(*np.nonzero(ended & np.isfinite(scores))):
            normalized = scores[b, j] / t ** alpha            # (1 / L^alpha) log P(y_1..y_L)
            if normalized > best[b][0]:                       # ties: the one found first
                best[b] = (normalized, tokens[b, j, :t - (token[b, j] == eos_id)])
        scores[ended] = -np.inf                               # ended: no longer extended
        if not np.isfinite(scores).any():
            break
        y = token.ravel()
    return [seq for _, seq in best], np.array([s for s, _ in best])


def seq2seq_beam_search(model, src: np.ndarray, src_lengths, bos_id: int, eos_id: int,
                        max_len: int, beam_size: int = 4, alpha: float = 0.75):
    """The best candidate of beam search for every source of a batch: ``src (B, T)`` ids,
    ``src_lengths (B,)`` or None -> ``(sequences, scores)`` (``beam_search``), the model
    in evaluation mode.  ``beam_size=1`` gives ``model.greedy_decode``'s tokens."""
    check_beam_args(beam_size, alpha, max_len)                # before the encoder runs
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        check_int(value, name, minimum=0, maximum=model.tgt_vocab_size - 1)
    decoding = model if hasattr(model, "decode_step") else _Seq2SeqDecoding(model)
    with evaluating(model):
        state = decoding.begin_decoding(src, src_lengths)
        return beam_search(decoding, state, src.shape[0], bos_id, eos_id, max_len, beam_size,
                           alpha)


class _Seq2SeqDecoding:
    """The book's ``Seq2Seq`` (no attention) as a decoding: the state is the decoder's
    recurrent state and the fixed context, ``(S (a tuple of (L, N, H)), c (N, H))``."""

    def __init__(self, model):
        self.model = model

    def begin_decoding(self, src, src_lengths):
        _, S = self.model.encoder.forward(src, src_lengths)  # the encoder's final state
        return S, self.model.context(S)

    def decode_step(self, y, state):
        S, c = state
        logits, S = self.model.decoder.forward(y[:, None], S, c)   # (N, 1, V)
        return logits[:, -1], (S, c)

    @staticmethod
    def select_rows(state, rows):
        S, c = state
        return tuple(a[:, rows] for a in S), c[rows]


class _LanguageModelDecoding:
    """A language model as a decoding: the state is the recurrent state, a tuple of
    ``(L, N, H)`` arrays; one step is ``forward`` on one token per row."""

    def __init__(self, model):
        self.model = model

    def decode_step(self, y, state):
        logits, state = self.model.forward(y[:, None], state)     # (N, 1, V)
        return logits[:, -1], state

    @staticmethod
    def select_rows(state, rows):
        return tuple(s[:, rows] for s in state)


def lm_beam_search(model, prefix_ids, num_preds: int, beam_size: int = 4, unk_id: int | None = None):
    """The ``num_preds`` tokens after ``prefix_ids`` (a list of ids) with the highest
    log P under a language model, by beam search (every candidate has ``num_preds``
    tokens, so the length normalization changes nothing); ``unk_id`` is never generated.
    ``beam_size=1`` is the book's greedy ``predict``.  -> an int array (num_preds,)."""
    num_preds = check_positive_int(num_preds, "num_preds")
    check_positive_int(beam_size, "beam_size")
    with evaluating(model):
        state = model.begin_state(1)                          # zeros, a tuple of (L, 1, H)
        if len(prefix_ids) > 1:                               # warm up on all but the last token,
            _, state = model.forward(np.array([prefix_ids[:-1]], dtype=np.int64), state)
        seqs, _ = beam_search(_LanguageModelDecoding(model), state, 1, prefix_ids[-1], None,
                              num_preds, beam_size, banned=() if unk_id is None else (unk_id,))
    return seqs[0]                                            # which the search reads first
