"""Text data for language models: corpora, tokens, vocabularies and minibatches.

This is section "Converting raw text into sequences" and the minibatch part of
"Language models" of the book, in NumPy:

    raw text --preprocess--> letters and spaces --tokenize--> tokens --Vocab--> ids
    ids --seq_data_iter_random / seq_data_iter_sequential / WindowedData--> (X, Y)

Dimension letters used in the docstrings: B batch size, T time steps (``num_steps``),
V vocabulary size. Minibatches come batch-major, ``X`` and ``Y`` of shape ``(B, T)``,
int64 token ids, with ``Y`` equal to ``X`` shifted one token to the left (``Y[:, t]`` is
the token that follows ``X[:, t]`` in the text), as the book's data iterators give them.

Corpora are found, without downloading, in the first of these folders that holds a copy
whose SHA-1 is right (checked on every load, so a corrupt copy is never used):
``root`` if given, else ``$MINIRNN_DATA`` if set, else ``~/.cache/minirnn``; then
``../data`` (where the book's own code downloads its files). If there is none and
``download`` is true, the book's file is downloaded into the first folder, verified,
and written atomically.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import check_non_negative_int, check_positive_int, is_int

__all__ = [
    "CORPORA", "ChecksumError", "data_dirs", "load_time_machine", "load_text",
    "load_corpus", "preprocess", "tokenize", "Vocab", "build_corpus",
    "load_corpus_time_machine", "seq_data_iter_random", "seq_data_iter_sequential",
    "SeqDataLoader", "load_data_time_machine", "WindowedData",
    "sine_series", "window_series", "load_array", "SeriesWindows",
]


# --------------------------------------------------------------------------- corpora

@dataclass(frozen=True)
class CorpusFile:
    """A known corpus: its file name, where to download it and its SHA-1."""
    filename: str
    url: str
    sha1: str


CORPORA = {
    # The book's corpus: H. G. Wells, The Time Machine (178,979 bytes).
    "timemachine": CorpusFile(
        "timemachine.txt",
        "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
        "090b5e7e70c295757f55df93cb0a180b9691891a"),
    # Karpathy's char-rnn corpus, 40,000 lines of Shakespeare (1,115,394 bytes).
    "tinyshakespeare": CorpusFile(
        "tinyshakespeare.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
        "tinyshakespeare/input.txt",
        "04486597058d11dcc2c556b1d0433891eb639d2e"),
}


class ChecksumError(ValueError):
    """A corpus file (on disk or downloaded) whose SHA-1 is not the published one."""


def data_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for a corpus, in order; the first is where downloads go.

    Args:
        root: a folder, or None for ``$MINIRNN_DATA`` if set, else ``~/.cache/minirnn``.

    Returns:
        list of Path: that folder, then ``../data`` (relative to the working directory).
    """
    if root is None:
        root = os.environ.get("MINIRNN_DATA") or Path.home() / ".cache" / "minirnn"
    first = Path(root).expanduser()
    book = Path("..") / "data"
    return [first] if first.resolve() == book.resolve() else [first, book]


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it into place,
    so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _download(corpus: CorpusFile, folder: Path) -> bytes:
    """Download ``corpus.url``, verify its SHA-1, store it in ``folder``; its bytes."""
    path = folder / corpus.filename
    print(f"Downloading {corpus.url} to {path} ...", file=sys.stderr)
    try:
        with urllib.request.urlopen(corpus.url, timeout=30) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise FileNotFoundError(
            f"{corpus.filename} is not in {folder} and downloading it from {corpus.url} "
            f"failed ({err}); download it by hand and put it in {folder} (or set "
            f"MINIRNN_DATA to the folder that holds it)") from err
    got = _sha1(data)
    if got != corpus.sha1:
        raise ChecksumError(
            f"the file downloaded from {corpus.url} has SHA-1 {got}, expected "
            f"{corpus.sha1}; it was not saved. Download {corpus.filename} by hand and "
            f"put it in {folder}")
    _atomic_write_bytes(path, data)
    return data


def _load_known(corpus: CorpusFile, root, download: bool) -> str:
    """The text of a known corpus: a verified local copy, else a verified download."""
    folders = data_dirs(root)
    bad = []
    for folder in folders:
        path = folder / corpus.filename
        if path.is_file():
            data = path.read_bytes()
            got = _sha1(data)
            if got == corpus.sha1:
                return data.decode("utf-8")
            bad.append(f"{path} has SHA-1 {got}, expected {corpus.sha1}")
    if download:
        # A corrupt copy in the download folder is replaced (atomically).
        return _download(corpus, folders[0]).decode("utf-8")
    where = " or ".join(str(f) for f in folders)
    if bad:
        raise ChecksumError(
            f"corrupt copy of {corpus.filename}, not used: {'; '.join(bad)}. Put a good "
            f"copy (from {corpus.url}) in {folders[0]}, or pass download=True")
    raise FileNotFoundError(
        f"{corpus.filename} not found in {where}; put it in {folders[0]} (from "
        f"{corpus.url}), set MINIRNN_DATA to the folder that holds it, or pass "
        f"download=True")


def load_time_machine(root: str | os.PathLike | None = None, download: bool = True) -> str:
    """The raw text of *The Time Machine*, the book's corpus (SHA-1 verified).

    Args:
        root: folder to look in and download to; None for ``$MINIRNN_DATA``, else
            ``~/.cache/minirnn``. ``../data`` is searched too.
        download: download the book's file if no verified copy is found.

    Returns:
        str, the whole file (178,979 characters, 3,221 lines).

    Raises:
        FileNotFoundError: no copy, and ``download`` is false or the download failed.
        ChecksumError: the only copies (or the download) have the wrong SHA-1.
    """
    return _load_known(CORPORA["timemachine"], root, download)


def load_text(path: str | os.PathLike) -> str:
    """The text of any UTF-8 file (tinyshakespeare, or your own corpus).

    Args:
        path: str or Path of the file.

    Returns:
        str, its contents.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        OSError: it cannot be read (a folder, no permission).
        ValueError: it is not UTF-8 text, or it is empty.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"load_text: no file at path={str(path)!r}")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise OSError(f"load_text: cannot read path={str(path)!r}: {err.strerror}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"load_text: path={str(path)!r} is not UTF-8 text (byte "
                         f"{err.start}: {err.reason})") from err
    if not text.strip():
        raise ValueError(f"load_text: path={str(path)!r} is empty; a corpus needs text")
    return text


def load_corpus(name_or_path: str | os.PathLike, root=None, download: bool = True) -> str:
    """The raw text of a known corpus by name, or of a text file by path.

    Args:
        name_or_path: ``'timemachine'``, ``'tinyshakespeare'`` (both found as in
            ``load_time_machine`` and SHA-1 verified), or the path of a UTF-8 file.
        root, download: as in ``load_time_machine``, for the named corpora.

    Returns:
        str, the raw text.
    """
    name = str(name_or_path)
    if name in CORPORA:
        return _load_known(CORPORA[name], root, download)
    if not Path(name).expanduser().exists():
        raise FileNotFoundError(
            f"name_or_path={name!r} is neither a known corpus ({', '.join(CORPORA)}) "
            f"nor an existing file")
    return load_text(name)


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

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically: temporary file, then rename)."""
        doc = {"format": "minirnn.Vocab", "version": 1,
               "idx_to_token": self.idx_to_token,
               "token_freqs": [[tok, freq] for tok, freq in self.token_freqs]}
        _atomic_write_bytes(Path(path), json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        """Read a vocabulary written by ``save``; the same indices as when saved."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            idx_to_token, token_freqs = doc["idx_to_token"], doc["token_freqs"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"path={str(path)!r} is not a vocabulary saved by "
                             f"Vocab.save ({err!r})") from err
        if not idx_to_token or idx_to_token[0] != cls.UNK or \
                len(set(idx_to_token)) != len(idx_to_token):
            raise ValueError(f"path={str(path)!r}: idx_to_token must start with "
                             f"{cls.UNK!r} and have no repeats")
        vocab = cls.__new__(cls)
        vocab._set(idx_to_token, token_freqs)
        return vocab


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
                         f"its {len(raw_text)} characters is left")
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
            f"corpus has {len(corpus)} tokens, too short for one minibatch: batch_size="
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
                f"corpus has {len(corpus)} tokens, too short: num_train={num_train} + "
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


# The book's synthetic series (section "Working with sequences") is data too; it lives
# beside its models in minirnn.sequence and is re-exported here.
from .sequence import SeriesWindows, load_array, sine_series, window_series  # noqa: E402
