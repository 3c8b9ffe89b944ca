"""Variable-length batches: padding, length masks and length buckets.

Sequences of different lengths share a batch by padding: each is written into a row of a
``(B, T)`` array, T the longest length, and the rest of its row is filled with ``pad_id``.
``lengths (B,)`` keeps what is real: row b holds ``lengths[b]`` tokens, then padding.
Every recurrent layer takes ``lengths`` (``forward(X, state, lengths)``) and treats
padding as absent; ``sequence_mask`` marks the real positions for a loss (the book's
``d2l.sequence_mask``), which must average over real tokens only (docs/tasks.md says why).

``bucket_batches`` draws batches of similar lengths, so that padding stays small: the
cost of a recurrent layer's time loop grows with the real tokens, but the matrix
products outside it and every elementwise pass over a ``(T, B, ...)`` array see the
padding too.
"""
from __future__ import annotations

import numpy as np

from .._checks import (check_bool, check_int, check_lengths, check_memory, check_positive_int,
                       make_rng)

__all__ = ["pad_sequences", "sequence_mask", "bucket_batches", "check_lengths", "PairBatches"]


def pad_sequences(seqs, pad_id: int = 0, num_steps: int | None = None):
    """Pad sequences of token ids into one batch.

    seqs: a list of B non-empty 1-D int sequences (lists or arrays) -> ``(ids, lengths)``:
    ``ids (B, T)`` int64, row b holding ``seqs[b]`` then ``pad_id``; ``lengths (B,)``
    int64.  T is the longest length, or ``num_steps`` when given (it must hold them all).
    """
    pad_id = check_int(pad_id, "pad_id", minimum=0)
    if isinstance(seqs, np.ndarray) and seqs.ndim == 2:
        seqs = list(seqs)
    if not isinstance(seqs, (list, tuple)):
        raise TypeError(f"seqs must be a list of 1-D int sequences, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("seqs must hold at least one sequence, got an empty list")
    arrays = []
    for b, s in enumerate(seqs):
        try:
            a = np.asarray(s)
        except ValueError:                                     # ragged: [1, [2, 3]]
            raise ValueError(f"seqs[{b}] must be a 1-D sequence of token ids, got a nested or "
                             f"ragged sequence {s!r}") from None
        if a.ndim != 1:
            raise ValueError(f"seqs[{b}] must be a 1-D sequence of token ids, got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"seqs[{b}] is empty: every sequence needs at least one token "
                             f"(lengths must be >= 1)")
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"seqs[{b}] must hold integer token ids, got dtype {a.dtype}")
        if a.min() < 0:
            raise ValueError(f"seqs[{b}] holds a negative token id {a.min()}")
        if a.max() > np.iinfo(np.int64).max:                   # uint64: would wrap round to < 0
            raise ValueError(f"seqs[{b}] holds token id {a.max()}, more than int64 (the ids' "
                             f"dtype) can hold")
        arrays.append(a)
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    T = int(lengths.max())
    if num_steps is not None:
        num_steps = check_positive_int(num_steps, "num_steps")
        check_memory(len(arrays) * num_steps * 8, f"a padded batch of {len(arrays)} x "
                     f"num_steps={num_steps} int64 ids", "num_steps")
        if num_steps < T:
            raise ValueError(f"num_steps must hold the longest sequence ({T} tokens), got "
                             f"{num_steps}")
        T = num_steps
    ids = np.full((len(arrays), T), pad_id, dtype=np.int64)
    for b, a in enumerate(arrays):
        ids[b, :a.size] = a
    return ids, lengths


def sequence_mask(lengths, num_steps: int, time_major: bool = False) -> np.ndarray:
    """The real positions of a padded batch: ``(B, T)`` bool, True where ``t < lengths[b]``
    (``(T, B)`` with ``time_major``).  The book's ``d2l.sequence_mask``."""
    num_steps = check_positive_int(num_steps, "num_steps")
    check_bool(time_major, "time_major")
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D (B,), got shape {lengths.shape}")
    if lengths.size == 0:
        raise ValueError(f"lengths must hold at least one length (an empty batch is no batch), "
                         f"got shape {lengths.shape}")
    lengths = check_lengths(lengths, num_steps, lengths.shape[0])
    mask = np.arange(num_steps)[None, :] < lengths[:, None]      # (B, T)
    return mask.T if time_major else mask


def bucket_batches(lengths, batch_size: int, seed=None, rng=None, shuffle: bool = True,
                   drop_last: bool = False) -> list:
    """Batches of similar lengths: a list of index arrays into ``lengths``.

    The indices are ordered by length (ties broken at random when ``shuffle``), cut into
    consecutive batches of ``batch_size`` (the last one smaller unless ``drop_last``: an
    error if that would leave no batch at all), and the batches' order is shuffled.
    Within a batch, indices run longest first, the order a recurrent layer works in (any
    order is accepted; this one needs no reordering).
    Seeded: the same ``seed`` gives the same batches.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D (N,), one length per sequence, got shape "
                         f"{lengths.shape}")
    if lengths.size == 0:
        raise ValueError(f"lengths must hold at least one length (no sequences: no batches), "
                         f"got shape {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must hold integers (each sequence's number of tokens), got "
                        f"dtype {lengths.dtype}")
    if lengths.min() < 1:
        raise ValueError(f"lengths must be >= 1, got {lengths.min()}")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_bool(shuffle, "shuffle")
    check_bool(drop_last, "drop_last")
    if drop_last and batch_size > lengths.size:
        raise ValueError(f"drop_last=True with batch_size {batch_size} leaves no batch of the "
                         f"{lengths.size} sequences (batch_size must be <= {lengths.size}, or "
                         f"drop_last=False)")
    rng = make_rng(seed, rng)
    ties = rng.permutation(lengths.size) if shuffle else np.arange(lengths.size)
    order = ties[np.argsort(-lengths[ties], kind="stable")]    # longest first, ties at random
    batches = [order[i:i + batch_size] for i in range(0, order.size, batch_size)]
    if drop_last and batches[-1].size < batch_size:
        batches.pop()
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class PairBatches:
    """A sequence-to-sequence task's epochs: each ``iter()`` yields ``((src, tgt_in),
    tgt_out, (src_lengths, tgt_lengths), mask)`` for batches of similar source lengths
    (``bucket_batches``), each padded to its longest, in a new order each epoch; ``mask``
    (``sequence_mask``) marks the real target tokens.  ``src``, ``tgt_in``, ``tgt_out``:
    N sequences of token ids each; ``seed``: the order (the same for models compared)."""

    def __init__(self, src, tgt_in, tgt_out, pad_id: int, batch_size: int, seed: int):
        if not len(src) == len(tgt_in) == len(tgt_out):
            raise ValueError(f"src, tgt_in and tgt_out must hold as many sequences, got "
                             f"{len(src)}, {len(tgt_in)} and {len(tgt_out)}")
        self.src, self.tgt_in, self.tgt_out, self.pad_id = src, tgt_in, tgt_out, pad_id
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.lengths = np.array([len(s) for s in src])
        self.rng = np.random.default_rng([seed, 1])

    def __len__(self):
        return -(-len(self.src) // self.batch_size)

    def __iter__(self):
        for idx in bucket_batches(self.lengths, self.batch_size, rng=self.rng):
            X, X_len = pad_sequences([self.src[i] for i in idx], self.pad_id)
            Y_in, Y_len = pad_sequences([self.tgt_in[i] for i in idx], self.pad_id)
            Y_out, _ = pad_sequences([self.tgt_out[i] for i in idx], self.pad_id)
            yield (X, Y_in), Y_out, (X_len, Y_len), sequence_mask(Y_len, Y_in.shape[1])
