"""From raw text to token ids (the book's section "Converting raw text into sequences").

    raw text --preprocess--> letters and spaces --tokenize--> tokens --Vocab--> ids

``build_corpus`` does the three steps on one text; ``load_corpus_time_machine`` on
*The Time Machine*. V is the vocabulary size.
"""
from __future__ import annotations

import collections
import json
import os
import re
from pathlib import Path

import numpy as np

from .._checks import check_positive_int, is_int, plural
from .._files import atomic_write_bytes
from .corpus import load_time_machine

__all__ = ["preprocess", "tokenize", "Vocab", "build_corpus", "load_corpus_time_machine"]


# ------------------------------------------------------------ preprocessing, tokens

def preprocess(text: str) -> str:
    """Every run of non-letters becomes one space, then lowercase (the book's rule).

    Applied to the whole of *The Time Machine* (as the 1.0 book does) this gives
    173,428 characters of 26 letters and the space.
    """
    return re.sub("[^A-Za-z]+", " ", text).lower()


TOKEN_KINDS = ("char", "word")


def tokenize(text: str, token: str = "char") -> list[str]:
    """Split text into tokens: characters (``'char'``) or whitespace-separated words
    (``'word'``).

    Args:
        text: str, usually ``preprocess``-ed.
        token: ``'char'`` or ``'word'``.

    Returns:
        list of str tokens.
    """
    if token == "char":
        return list(text)
    if token == "word":
        return text.split()
    raise ValueError(f"token must be one of {TOKEN_KINDS}, got {token!r}")


# -------------------------------------------------------------------- vocabulary

class Vocab:
    """A vocabulary: token <-> index, as the book's ``Vocab``.

    Index order (deterministic): ``<unk>`` is 0, the reserved tokens follow in the order
    given, then every other token with count >= ``min_freq`` in sorted (code point)
    order. The 1.0 book sorts ``<unk>`` and the reserved tokens in with the others; here
    they come first, so ``<unk>`` is always 0 (as in the 0.17 book). For the
    characters of *The Time Machine* the only difference is that ``<unk>`` and the space
    swap places: every letter has the same index as in the 1.0 book ('a' = 2, 't' = 21).

    Args:
        tokens: sequence of str tokens, or a list of lists of tokens (flattened).
        min_freq: int, tokens counted fewer times map to ``<unk>``.
        reserved_tokens: sequence of str, e.g. ``('<pad>', '<bos>', '<eos>')``.

    Attributes:
        idx_to_token: list of str, the token of each index (length V).
        token_to_idx: dict str -> int.
        token_freqs: list of (token, count) for every counted token (also those below
            ``min_freq``), by falling count, ties by token.
    """

    UNK = "<unk>"

    def __init__(self, tokens=(), min_freq: int = 0, reserved_tokens=()):
        if isinstance(reserved_tokens, str):
            raise TypeError(f"reserved_tokens must be a sequence of str, got the str "
                            f"{reserved_tokens!r}; write ({reserved_tokens!r},)")
        tokens = list(tokens)
        if tokens and isinstance(tokens[0], list):
            tokens = [tok for line in tokens for tok in line]
        _check_tokens(tokens, "tokens")
        _check_tokens(list(reserved_tokens), "reserved_tokens")
        counter = collections.Counter(tokens)
        token_freqs = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        head = list(dict.fromkeys([self.UNK, *reserved_tokens]))  # ordered, no repeats
        taken = set(head)
        rest = sorted(tok for tok, freq in counter.items()
                      if freq >= min_freq and tok not in taken)
        self._set(head + rest, token_freqs)

    def _set(self, idx_to_token, token_freqs):
        self.idx_to_token = list(idx_to_token)
        self.token_to_idx = {tok: idx for idx, tok in enumerate(self.idx_to_token)}
        self.token_freqs = [(tok, int(freq)) for tok, freq in token_freqs]

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __contains__(self, token) -> bool:
        return token in self.token_to_idx

    def __getitem__(self, tokens):
        """Index of a token, or (nested) list of indices of a list of tokens; unknown
        tokens give ``self.unk``."""
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        if tokens and isinstance(tokens[0], (list, tuple)):
            return [self[line] for line in tokens]
        get, unk = self.token_to_idx.get, self.unk
        return [get(tok, unk) for tok in tokens]

    def to_tokens(self, indices):
        """Token of an index, or (nested) list of tokens of a list or array of indices.

        Raises:
            IndexError: an index outside ``[0, V)``.
        """
        if isinstance(indices, np.ndarray):
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.to_tokens(idx) for idx in indices]
        if not is_int(indices):
            raise TypeError(f"token ids must be ints, got {indices!r} ({type(indices).__name__})")
        idx = int(indices)
        if not 0 <= idx < len(self):
            raise IndexError(f"token id {idx} out of range for vocab_size {len(self)}")
        return self.idx_to_token[idx]

    @property
    def unk(self) -> int:
        """Index of the unknown token ``<unk>`` (always 0)."""
        return 0

    def __repr__(self) -> str:
        shown = ", ".join(repr(t) for t in self.idx_to_token[:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocab(size={len(self)}, tokens=[{shown}{more}])"

    def to_dict(self) -> dict:
        """The vocabulary as JSON types: its tokens in index order and its token counts
        (``from_dict`` gives back the same indices)."""
        return {"format": "minirnn.Vocab", "version": 1, "idx_to_token": list(self.idx_to_token),
                "token_freqs": [[tok, int(freq)] for tok, freq in self.token_freqs]}

    @classmethod
    def from_dict(cls, doc, source: str = "doc") -> "Vocab":
        """The ``Vocab`` with exactly the indices in ``doc`` (from ``to_dict``), every
        field checked; ``source`` names where ``doc`` came from in the errors.

        Raises:
            ValueError: a field is missing or malformed (named, with what was found).
        """
        def bad(what):
            return ValueError(f"{source} is not a vocabulary saved by Vocab.save: {what}")

        if not isinstance(doc, dict):
            raise bad(f"expected a JSON object, got {type(doc).__name__}")
        missing = [k for k in ("idx_to_token", "token_freqs") if k not in doc]
        if missing:
            raise bad(f"it has no {' or '.join(missing)}")
        idx_to_token, token_freqs = doc["idx_to_token"], doc["token_freqs"]
        if not isinstance(idx_to_token, list) or not all(isinstance(t, str) for t in idx_to_token):
            raise bad("idx_to_token must be a list of str")
        if not idx_to_token or idx_to_token[0] != cls.UNK or \
                len(set(idx_to_token)) != len(idx_to_token):
            raise ValueError(f"{source}: idx_to_token must start with {cls.UNK!r} and have "
                             f"no repeats")
        if not isinstance(token_freqs, list) or not all(
                isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                and is_int(pair[1]) and pair[1] >= 0 for pair in token_freqs):
            raise bad("token_freqs must be a list of [str, count >= 0] pairs")
        vocab = cls.__new__(cls)
        vocab._set(idx_to_token, token_freqs)
        return vocab

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically: temporary file, then rename)."""
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"Vocab.save: path={str(path)!r} is a folder; expected "
                                    f"the path of a file, e.g. {str(path / 'vocab.json')!r}")
        atomic_write_bytes(path, json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        """Read a vocabulary written by ``save``; the same indices as when saved.

        Raises:
            FileNotFoundError, OSError: no file at ``path``, or it cannot be read.
            ValueError: not UTF-8 JSON, or not a vocabulary (the field is named).
        """
        source = f"path={str(path)!r}"
        data = Path(path).read_bytes()
        try:
            doc = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise ValueError(f"{source} is not a vocabulary saved by Vocab.save: not UTF-8 "
                             f"text (byte {err.start}: {err.reason})") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{source} is not a vocabulary saved by Vocab.save: not JSON "
                             f"({err})") from None
        return cls.from_dict(doc, source)


def _check_tokens(tokens: list, name: str) -> None:
    """Every token a str (a vocabulary maps text; mixed types cannot even be sorted)."""
    for i, tok in enumerate(tokens):
        if not isinstance(tok, str):
            raise TypeError(f"{name} must all be str, got {tok!r} ({type(tok).__name__}) at "
                            f"index {i}")


def build_corpus(raw_text: str, token: str = "char", vocab: Vocab | None = None,
                 max_tokens: int | None = None) -> tuple[np.ndarray, Vocab]:
    """Preprocess, tokenize and index a text, as the book's ``build``.

    Args:
        raw_text: str, the raw text.
        token: ``'char'`` or ``'word'``.
        vocab: a Vocab to index with, or None to build one from all the tokens.
        max_tokens: int, keep the first ``max_tokens`` ids; None (or the book's -1)
            for all.

    Returns:
        (corpus, vocab): int64 array of token ids, and the vocabulary.
    """
    if max_tokens is not None and max_tokens != -1:
        check_positive_int(max_tokens, "max_tokens")
    text = preprocess(raw_text)
    if not text.strip():
        raise ValueError(f"the text has no letters a-z: preprocessing keeps only Latin letters "
                         f"(every run of other characters becomes one space), and nothing of "
                         f"its {plural(len(raw_text), 'character')} is left")
    tokens = tokenize(text, token)
    if vocab is None:
        vocab = Vocab(tokens)
    corpus = np.asarray(vocab[tokens], dtype=np.int64)
    if max_tokens is not None and max_tokens != -1:
        corpus = corpus[:max_tokens]
    return corpus, vocab


def load_corpus_time_machine(max_tokens: int | None = None, token: str = "char",
                             root=None) -> tuple[np.ndarray, Vocab]:
    """Token ids of *The Time Machine* and its vocabulary (whole-text preprocessing).

    Returns:
        (corpus, vocab): int64 ids (the first ``max_tokens``), and the Vocab (28 tokens
        for characters).
    """
    return build_corpus(load_time_machine(root), token, max_tokens=max_tokens)
