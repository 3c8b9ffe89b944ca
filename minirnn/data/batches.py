"""Minibatches of token ids for language models (the minibatch part of "Language models").

    ids --seq_data_iter_random / seq_data_iter_sequential / WindowedData--> (X, Y)

Dimension letters used in the docstrings: B batch size, T time steps (``num_steps``).
Minibatches come batch-major, ``X`` and ``Y`` of shape ``(B, T)``, int64 token ids, with
``Y`` equal to ``X`` shifted one token to the left (``Y[:, t]`` is the token that follows
``X[:, t]`` in the text), as the book's data iterators give them.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_non_negative_int, check_positive_int, plural
from .text import load_corpus_time_machine

__all__ = ["seq_data_iter_random", "seq_data_iter_sequential", "SeqDataLoader",
           "load_data_time_machine", "WindowedData", "Updates"]


# ------------------------------------------------------------------- minibatches

def _as_corpus(corpus) -> np.ndarray:
    corpus = np.asarray(corpus)
    if corpus.ndim != 1 or (corpus.size and not np.issubdtype(corpus.dtype, np.integer)):
        raise ValueError(f"corpus must be a 1-D sequence of int token ids, got an array "
                         f"of shape {corpus.shape} and dtype {corpus.dtype}")
    return corpus.astype(np.int64, copy=False)


def _check_subsequence_args(corpus, batch_size, num_steps) -> tuple[np.ndarray, int, int]:
    """Validate the arguments of the 0.17 iterators (before any randomness is drawn).

    The random offset discards up to ``num_steps - 1`` tokens and ``Y`` needs one token
    after the last ``X``, so one minibatch needs ``batch_size * num_steps + num_steps``
    tokens whatever the offset.
    """
    corpus = _as_corpus(corpus)
    batch_size = check_positive_int(batch_size, "batch_size")
    num_steps = check_positive_int(num_steps, "num_steps")
    need = batch_size * num_steps + num_steps
    if len(corpus) < need:
        raise ValueError(
            f"corpus has {plural(len(corpus), 'token')}, too short for one minibatch: batch_size="
            f"{batch_size} and num_steps={num_steps} need at least {need} "
            f"(batch_size * num_steps, plus num_steps for the random offset and the "
            f"one-token shift of Y)")
    return corpus, batch_size, num_steps


def _random_offset(num_steps: int, rng: np.random.Generator) -> int:
    """How many tokens an epoch skips at the start: uniform in ``[0, num_steps - 1]``
    (the 0.17 book's sequential iterator draws from ``[0, num_steps]``, an off-by-one
    that can skip a whole piece)."""
    return int(rng.integers(0, num_steps))


def seq_data_iter_random(corpus, batch_size: int, num_steps: int, rng=None):
    """Minibatches of subsequences in random order (the 0.17 book's random sampling).

    Drop a random offset in ``[0, num_steps - 1]``, cut the rest into pieces of
    ``num_steps`` tokens, shuffle the pieces and group them ``batch_size`` at a time.
    Every piece is visited once per epoch (leftover pieces that do not fill a batch are
    dropped); neighbouring minibatches are not neighbours in the text, so the hidden
    state must restart at every minibatch.

    Args:
        corpus: 1-D sequence of int token ids.
        batch_size: int B; num_steps: int T.
        rng: np.random.Generator, an int seed, or None for a fresh unseeded generator.

    Returns:
        an iterator of ``(X, Y)``, int64 arrays of shape ``(B, T)``, ``Y`` = ``X``
        shifted by one token.
    """
    corpus, batch_size, num_steps = _check_subsequence_args(corpus, batch_size, num_steps)
    rng = np.random.default_rng(rng)
    offset = _random_offset(num_steps, rng)
    num_subseqs = (len(corpus) - offset - 1) // num_steps  # -1: Y needs one more token
    starts = offset + num_steps * np.arange(num_subseqs)
    rng.shuffle(starts)
    num_batches = num_subseqs // batch_size
    steps = np.arange(num_steps)

    def batches():
        for i in range(num_batches):
            rows = starts[i * batch_size:(i + 1) * batch_size, None] + steps  # (B, T)
            yield corpus[rows], corpus[rows + 1]
    return batches()


def seq_data_iter_sequential(corpus, batch_size: int, num_steps: int, rng=None):
    """Minibatches by sequential partitioning (the 0.17 book's second iterator).

    Drop a random offset, split the rest into ``batch_size`` rows read left to right,
    and cut the rows into ``num_steps`` columns: row ``b`` of minibatch ``i + 1``
    continues row ``b`` of minibatch ``i`` in the text, so the hidden state can be
    carried over (detached). Arguments (corpus ids, B, T, rng) and the ``(X, Y)``
    batches, int64 ``(B, T)``, are as in ``seq_data_iter_random``.
    """
    corpus, batch_size, num_steps = _check_subsequence_args(corpus, batch_size, num_steps)
    offset = _random_offset(num_steps, np.random.default_rng(rng))
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = corpus[offset:offset + num_tokens].reshape(batch_size, -1)          # (B, L)
    Ys = corpus[offset + 1:offset + 1 + num_tokens].reshape(batch_size, -1)  # (B, L)
    num_batches = Xs.shape[1] // num_steps

    def batches():
        for i in range(0, num_batches * num_steps, num_steps):
            yield Xs[:, i:i + num_steps].copy(), Ys[:, i:i + num_steps].copy()
    return batches()


class SeqDataLoader:
    """A re-iterable minibatch loader: each ``iter()`` is the next epoch.

    Every epoch draws a fresh random offset (and, for random sampling, a fresh order)
    from one generator seeded once, so a run is reproducible from ``seed``.

    Args:
        corpus: 1-D sequence of int token ids.
        batch_size: int B; num_steps: int T.
        use_random_iter: bool, ``seq_data_iter_random`` if true, else
            ``seq_data_iter_sequential``.
        seed: int seed or np.random.Generator.
    """

    def __init__(self, corpus, batch_size: int, num_steps: int,
                 use_random_iter: bool = False, seed=0):
        self.corpus, self.batch_size, self.num_steps = _check_subsequence_args(
            corpus, batch_size, num_steps)
        self.use_random_iter = bool(use_random_iter)
        self.data_iter_fn = (seq_data_iter_random if self.use_random_iter
                             else seq_data_iter_sequential)
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        return self.data_iter_fn(self.corpus, self.batch_size, self.num_steps, self.rng)

    def __repr__(self) -> str:
        kind = "random" if self.use_random_iter else "sequential"
        return (f"SeqDataLoader({kind}, corpus of {len(self.corpus)} tokens, "
                f"batch_size={self.batch_size}, num_steps={self.num_steps})")


def load_data_time_machine(batch_size: int, num_steps: int, use_random_iter: bool = False,
                           max_tokens: int | None = 10000, seed=0, root=None):
    """The 0.17 book's data: a re-iterable loader over *The Time Machine*, and its Vocab.

    Characters, whole-text preprocessing, the first ``max_tokens`` ids.

    Args:
        batch_size: int B; num_steps: int T.
        use_random_iter: bool, random sampling instead of sequential partitioning.
        max_tokens: int, or None (or the book's -1) for the whole corpus.
        seed: int seed or np.random.Generator for the offsets and orders.
        root: folder of the corpus, as in ``load_time_machine``.

    Returns:
        (data_iter, vocab): a ``SeqDataLoader`` yielding ``(X, Y)`` int64 ``(B, T)``,
        and the 28-token Vocab.
    """
    corpus, vocab = load_corpus_time_machine(max_tokens, root=root)
    return SeqDataLoader(corpus, batch_size, num_steps, use_random_iter, seed), vocab


class WindowedData:
    """Every stride-1 window of ``num_steps + 1`` tokens, as the 1.0 book's data.

    Window ``i`` is ``corpus[i:i + num_steps + 1]``; its first ``num_steps`` tokens are
    the inputs ``X`` and its last ``num_steps`` the targets ``Y``. Windows ``0 ..
    num_train - 1`` are for training, the next ``num_val`` for validation (so no
    training window starts where a validation window does).

    API, for a trainer:
        ``train_iter()``: one epoch of training batches ``(X, Y)``, int64 ``(B, T)``, in
            a fresh shuffled order per call (drawn from the generator seeded by
            ``seed``). As the book's data loader, every training window is used once an
            epoch, so the last batch has ``num_train % batch_size`` rows if that is not
            zero (the book's 10,000 windows in batches of 1,024: 9 full batches and one
            of 784); ``drop_last=True`` drops those windows instead.
        ``val_iter()``: every validation window once, in order; the last batch has
            ``num_val % batch_size`` rows if that is not zero.
        ``num_train_batches``, ``num_val_batches``: batches per call of each.

    Args:
        corpus: 1-D sequence of int token ids.
        num_steps: int T.
        num_train: int, training windows (the book: 10,000).
        num_val: int, validation windows (the book: 5,000); 0 for none.
        batch_size: int B (the book: 1024); with ``drop_last``, at most ``num_train``.
        seed: int seed or np.random.Generator for the shuffling.
        drop_last: bool, drop each epoch's last partial training batch (default False,
            as the book).
    """

    def __init__(self, corpus, num_steps: int, num_train: int = 10000, num_val: int = 5000,
                 batch_size: int = 1024, seed=0, drop_last: bool = False):
        corpus = _as_corpus(corpus)
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.num_train = check_positive_int(num_train, "num_train")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.num_val = check_non_negative_int(num_val, "num_val")
        self.drop_last = bool(drop_last)
        if self.drop_last and self.batch_size > self.num_train:
            raise ValueError(f"batch_size={batch_size} is larger than num_train="
                             f"{num_train}: no full training batch")
        need = self.num_train + self.num_val + self.num_steps
        if len(corpus) < need:
            raise ValueError(
                f"corpus has {plural(len(corpus), 'token')}, too short: num_train={num_train} + "
                f"num_val={num_val} windows of num_steps + 1 = {num_steps + 1} tokens "
                f"need at least {need}")
        # (num_windows, T + 1) view of the corpus: no copy until a batch is taken.
        self.windows = np.lib.stride_tricks.sliding_window_view(corpus, self.num_steps + 1)
        self.rng = np.random.default_rng(seed)

    @property
    def num_train_batches(self) -> int:
        if self.drop_last:
            return self.num_train // self.batch_size
        return -(-self.num_train // self.batch_size)

    @property
    def num_val_batches(self) -> int:
        return -(-self.num_val // self.batch_size)

    def _batch(self, window_ids):
        w = self.windows[window_ids]                      # (B, T + 1), a copy
        return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])

    def train_iter(self):
        """One epoch of shuffled training batches ``(X, Y)``, int64 ``(B, T)``."""
        order = self.rng.permutation(self.num_train)
        for i in range(self.num_train_batches):
            yield self._batch(order[i * self.batch_size:(i + 1) * self.batch_size])  # last may be short

    def val_iter(self):
        """The validation windows in order, as ``(X, Y)`` int64 ``(<=B, T)``."""
        for start in range(self.num_train, self.num_train + self.num_val, self.batch_size):
            stop = min(start + self.batch_size, self.num_train + self.num_val)
            yield self._batch(np.arange(start, stop))

    def __repr__(self) -> str:
        return (f"WindowedData(num_steps={self.num_steps}, num_train={self.num_train}, "
                f"num_val={self.num_val}, batch_size={self.batch_size})")


class Updates:
    """``n`` batches per ``iter()``, taken from ``loader``'s epochs one after the other: a
    training run counted in updates, not epochs (``Trainer(model, Updates(loader, n))``
    and ``fit(1)``); ``rng`` is the loader's, for a checkpoint."""

    def __init__(self, loader, n: int):
        self.loader, self.n, self.rng = loader, n, getattr(loader, "rng", None)

    def __len__(self):
        return self.n

    def __iter__(self):
        count = 0
        while True:
            for batch in self.loader:
                yield batch
                count += 1
                if count == self.n:
                    return
