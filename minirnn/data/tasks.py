"""Data for the chapter's task examples: passages of two books (the author tasks), text
without its spaces (segmentation) and the adding problem (the gated cells).

Many-to-one (``examples/classify_author.py``: which book is a passage from?) and
one-to-many (``examples/conditional_generation.py``: a passage in the style of a given
book) use the same two corpora, after the book's preprocessing (``preprocess``: lowercase
letters and spaces, so case and punctuation give nothing away):

    author 0: *The Time Machine* (H. G. Wells)       ``'timemachine'``
    author 1: *Tiny Shakespeare*                     ``'tinyshakespeare'``

Each text is split once: its first ``train_fraction`` (80%) of characters is for training,
the rest for evaluation, so no character of an evaluation passage was ever trained on.
Passages are random windows of a text; ``author_passages`` draws the same number from
each author (balanced classes).  One vocabulary serves both tasks: ``<unk>`` (0),
``<pad>`` (1, what ``pad_sequences`` fills with), the space and the 26 letters.

Aligned many-to-many (``examples/segment_words.py``: restore the spaces of a text): the
text without its spaces and a tag per letter, 1 where a word ends (``remove_spaces``,
``restore_spaces``), a train/test cut at a space (``split_text``), the letter-pair
baseline (``fit_pair_rule``, ``apply_pair_rule``) and consecutive pieces of a text
(``consecutive_pieces``).

The adding problem (Hochreiter and Schmidhuber, 1997; ``examples/gated_cells.py``): T
random numbers, two of them marked, the target their sum (``adding_problem``,
``AddingStream``); a constant guess of 1 scores ``CONSTANT_GUESS_MSE`` = 1/6.
"""
from __future__ import annotations

import collections
import string
from typing import NamedTuple

import numpy as np

from .._checks import check_int, check_positive_int, make_rng
from .corpus import load_corpus
from .padding import bucket_batches, pad_sequences, sequence_mask
from .text import Vocab, preprocess

__all__ = ["AUTHORS", "PAD", "AuthorText", "author_texts", "char_vocab", "sample_passages",
           "author_passages", "author_test_passages", "encode_passages", "TEST_LENGTHS",
           "PassageBatches",
           "split_text", "remove_spaces", "restore_spaces", "fit_pair_rule", "apply_pair_rule",
           "consecutive_pieces", "adding_problem", "AddingStream", "CONSTANT_GUESS_MSE"]

#: The authors, in label order: label ``a`` is ``AUTHORS[a]`` (a corpus name of ``CORPORA``).
AUTHORS = ("timemachine", "tinyshakespeare")
#: The padding token of the task vocabulary (index 1).
PAD = "<pad>"
#: The adding problem's MSE of the constant guess 1 = E[sum]: Var(U_1 + U_2) = 2/12.
CONSTANT_GUESS_MSE = 1 / 6
#: The passage lengths the author classifiers are tested at.
TEST_LENGTHS = (20, 50, 100, 200)


class AuthorText(NamedTuple):
    """One book, preprocessed and split: ``train`` its first part, ``test`` the rest."""
    name: str
    train: str
    test: str


def author_texts(root=None, train_fraction: float = 0.8) -> list[AuthorText]:
    """Both books (``AUTHORS`` order), preprocessed and split at ``train_fraction``.

    Returns ``[AuthorText(name, train, test), ...]``: ``train`` is the first
    ``int(train_fraction * len(text))`` characters of the preprocessed text, ``test`` the
    rest (the two never overlap).  ``root``: where to look for the corpora
    (``load_corpus``).
    """
    if not isinstance(train_fraction, float) or not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be a float in (0, 1), got {train_fraction!r}")
    books = []
    for name in AUTHORS:
        text = preprocess(load_corpus(name, root=root)).strip()
        cut = int(train_fraction * len(text))
        books.append(AuthorText(name, text[:cut], text[cut:]))
    return books


def char_vocab() -> Vocab:
    """The task vocabulary (V = 29): ``<unk>`` 0, ``<pad>`` 1, then ``' '`` and ``a``..``z``
    (what ``preprocess`` leaves), fixed so that a checkpoint's ids never depend on the data."""
    return Vocab(list(" " + string.ascii_lowercase), reserved_tokens=(PAD,))


def sample_passages(text: str, num: int, min_len: int, max_len: int | None = None,
                    seed=None, rng=None) -> list[str]:
    """``num`` random windows of ``text``: each starts at a uniform position and has a
    length drawn uniformly from ``[min_len, max_len]`` (``max_len`` None: exactly
    ``min_len``).  Windows may overlap one another, never run past the end."""
    num = check_positive_int(num, "num")
    min_len = check_positive_int(min_len, "min_len")
    max_len = min_len if max_len is None else check_int(max_len, "max_len", minimum=min_len)
    if len(text) < max_len:
        raise ValueError(f"text has {len(text)} characters, fewer than max_len={max_len}")
    rng = make_rng(seed, rng)
    lengths = rng.integers(min_len, max_len + 1, size=num)
    starts = rng.integers(0, len(text) - lengths + 1)          # start + length <= len(text)
    return [text[s:s + n] for s, n in zip(starts.tolist(), lengths.tolist())]


def author_passages(texts, num_per_author: int, min_len: int, max_len: int | None = None,
                    seed=None, rng=None):
    """Balanced passages: ``num_per_author`` windows of each text in ``texts`` (str, one
    per author, label = its position), shuffled together.

    Returns ``(passages, labels)``: a list of ``A * num_per_author`` str and ``labels``
    ``(A * num_per_author,)`` int64.
    """
    rng = make_rng(seed, rng)
    passages, labels = [], []
    for a, text in enumerate(texts):
        passages += sample_passages(text, num_per_author, min_len, max_len, rng=rng)
        labels += [a] * num_per_author
    order = rng.permutation(len(passages))
    return [passages[i] for i in order], np.array(labels, dtype=np.int64)[order]


def author_test_passages(texts, num_per_author: int, lengths=TEST_LENGTHS, seed: int = 0) -> dict:
    """The test passages of the author classifiers: for each length L in ``lengths`` (in
    that order), ``author_passages(texts, num_per_author, L)`` from one generator seeded
    ``[seed, 2]``, so every example that asks with the same arguments scores the same
    passages.  Returns ``{L: (passages, labels)}`` (L a Python int)."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(f"texts must be a list of str (one text per author), got "
                        f"{type(texts).__name__}")
    if not texts:
        raise ValueError("texts must be a non-empty list of str (one text per author), got []")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts must be a list of str (one text per author), got "
                            f"{type(text).__name__} at texts[{i}]")
    num_per_author = check_positive_int(num_per_author, "num_per_author")
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, (list, tuple, np.ndarray)) \
            or np.ndim(lengths) != 1:
        raise TypeError(f"lengths must be a non-empty sequence of passage lengths, got {lengths!r}")
    if len(lengths) == 0:
        raise ValueError(f"lengths must be a non-empty sequence of passage lengths, got {lengths!r}")
    shortest = min(map(len, texts))
    lengths = [check_int(L, f"lengths[{i}]", minimum=1, maximum=max(shortest, 1),
                         why="the shortest text's length") for i, L in enumerate(lengths)]
    if len(set(lengths)) != len(lengths):
        raise ValueError(f"lengths must not repeat a length, got {tuple(lengths)}")
    rng = np.random.default_rng([check_int(seed, "seed", minimum=0), 2])
    return {L: author_passages(texts, num_per_author, L, rng=rng) for L in lengths}


def encode_passages(passages, vocab: Vocab) -> list[np.ndarray]:
    """Each passage as an int64 array of character ids (for ``pad_sequences``)."""
    return [np.array(vocab[list(p)], dtype=np.int64) for p in passages]


class PassageBatches:
    """Batches of passages for the author classifiers: one epoch per ``iter()``, with
    ``num_per_author`` fresh passages of ``min_len`` to ``max_len`` characters from each
    text (``author_passages``), batched by length (``bucket_batches``) and padded with
    ``<pad>`` (``pad_sequences``).

    Each batch is a tuple for ``minirnn.train.Trainer``: ``(ids (B, T), labels (B,),
    lengths (B,))``; with ``every_prefix``, ``(ids, targets, lengths, mask (B, T))``: the
    label at every step, masked to the prefixes of at least ``min_len`` characters, and
    with ``next_chars`` the targets are ``(labels (B, T), next ids (B, T), their mask
    (B, T))``: ``H_t`` predicts ``x_{t+1}`` for ``t < L - 1``.
    """

    def __init__(self, texts, vocab: Vocab, num_per_author: int, batch_size: int,
                 min_len: int, max_len: int, every_prefix: bool = True,
                 next_chars: bool = False, seed=None):
        self.texts, self.vocab, self.num, self.batch_size = texts, vocab, num_per_author, batch_size
        self.min_len, self.max_len = min_len, max_len
        self.every_prefix, self.next_chars = every_prefix, next_chars
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return -(-len(self.texts) * self.num // self.batch_size)

    def __iter__(self):
        passages, labels = author_passages(self.texts, self.num, self.min_len, self.max_len,
                                           rng=self.rng)
        seqs = encode_passages(passages, self.vocab)
        for idx in bucket_batches(np.array([len(s) for s in seqs]), self.batch_size, rng=self.rng):
            ids, lengths = pad_sequences([seqs[i] for i in idx], pad_id=self.vocab[PAD])
            y, T = labels[idx], ids.shape[1]
            if not self.every_prefix:
                yield ids, y, lengths
                continue
            mask = sequence_mask(lengths, T) & (np.arange(T) >= self.min_len - 1)   # (B, T)
            targets = np.repeat(y[:, None], T, axis=1)                             # (B, T)
            if self.next_chars:                           # H_t predicts x_{t+1}, t < L - 1
                following = np.roll(ids, -1, axis=1)
                targets = (targets, following, np.arange(T) < (lengths - 1)[:, None])
            yield ids, targets, lengths, mask


# The segmentation task: letters without spaces, and where the words end
def split_text(text: str, fraction: float = 0.8):
    """(the first ``fraction`` of ``text``, the rest), cut at the first space at or after
    ``fraction * len(text)`` (dropped): no word in both."""
    cut = text.find(" ", int(fraction * len(text)))
    if cut < 0:
        raise ValueError(f"text has no space after {fraction:.0%} of its {len(text)} characters")
    return text[:cut], text[cut + 1:]


def remove_spaces(text: str):
    """``"the time"`` -> ``("thetime", [0, 0, 1, 0, 0, 0, 1])``: the letters, and 1 for
    each letter a word ends after."""
    words = text.split()
    boundaries = np.zeros(sum(map(len, words)), dtype=np.int64)   # (N,)
    boundaries[np.cumsum([len(w) for w in words]) - 1] = 1         # each word's last letter
    return "".join(words), boundaries


def restore_spaces(letters: str, boundaries) -> str:
    """The inverse of ``remove_spaces``: a space after each letter tagged 1 (not the last)."""
    if len(letters) != len(boundaries):
        raise ValueError(f"boundaries must have one tag per letter ({len(letters)}), got "
                         f"{len(boundaries)}")
    cut = np.flatnonzero(np.asarray(boundaries)[:-1]) + 1           # spaces go before these
    return " ".join(letters[i:j] for i, j in zip([0, *cut], [*cut, len(letters)]))


def fit_pair_rule(letters: str, boundaries) -> set:
    """The baseline: the letter pairs ``ab`` that a space separated more often than not."""
    split, together = collections.Counter(), collections.Counter()
    for i in range(len(letters) - 1):
        (split if boundaries[i] else together)[letters[i:i + 2]] += 1
    return {pair for pair, n in split.items() if n > together[pair]}


def apply_pair_rule(rule: set, letters: str) -> np.ndarray:
    """A boundary after letter i when (letter i, letter i + 1) is in ``rule``; the last
    letter ends the text."""
    return np.array([letters[i:i + 2] in rule for i in range(len(letters) - 1)] + [True],
                    dtype=np.int64)


def consecutive_pieces(n: int, min_len: int, max_len: int, rng) -> list:
    """``(start, length)`` pieces cutting ``0..n`` into consecutive parts (each letter once)."""
    pieces, start = [], 0
    while start < n:
        length = min(int(rng.integers(min_len, max_len + 1)), n - start)
        pieces.append((start, length))
        start += length
    return pieces


# The adding problem
def adding_problem(rng: np.random.Generator, batch_size: int, num_steps: int):
    """A batch of the adding problem: X ``(T, B, 2)`` = (value in [0, 1), marker 0/1), two
    markers per sequence, one in each half; y ``(B, 1)`` = the sum of the two marked values."""
    T, B = num_steps, batch_size
    values = rng.random((T, B))
    first = rng.integers(0, T // 2, size=B)               # a marker in the first half
    second = rng.integers(T // 2, T, size=B)              # and one in the second
    markers = np.zeros((T, B))
    rows = np.arange(B)
    markers[first, rows] = markers[second, rows] = 1.0
    X = np.stack([values, markers], axis=-1).astype(np.float32)          # (T, B, 2)
    y = (values[first, rows] + values[second, rows]).astype(np.float32)  # (B,)
    return X, y[:, None]


class AddingStream:
    """Batches ``(X, y)`` of the adding problem, drawn from ``rng`` without end."""

    def __init__(self, batch_size: int, T: int, seed):
        self.batch_size, self.T, self.rng = batch_size, T, np.random.default_rng(seed)

    def __iter__(self):
        while True:
            yield adding_problem(self.rng, self.batch_size, self.T)
