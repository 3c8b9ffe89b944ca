"""The corpora on disk: where a copy is found, its SHA-1 checksum, and the download.

A corpus is found, without downloading, in the first of these folders that holds a copy
whose SHA-1 is right (checked on every load, so a corrupt copy is never used): ``root``
if given, else ``$MINIRNN_DATA`` if set, else ``~/.cache/minirnn``; then ``../data``
(where the book's own code downloads its files). If there is none and ``download`` is
true, the book's file is downloaded into the first folder, verified, and written
atomically. Any other UTF-8 file is read by path (``load_text``).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .._files import atomic_write_bytes

__all__ = ["CORPORA", "MAX_CORPUS_BYTES", "ChecksumError", "CorpusNotFoundError", "data_dirs",
           "load_time_machine", "load_text", "load_corpus"]


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


class CorpusNotFoundError(FileNotFoundError):
    """A named corpus is in none of the folders searched and could not be downloaded."""


def _places(root) -> str:
    """The folders ``data_dirs(root)`` searches, as a user names them: ``$MINIRNN_DATA
    (/data), ../data (/home/me/data)``."""
    named = []
    for i, folder in enumerate(data_dirs(root)):
        if i > 0:
            label = "../data"
        elif root is not None:
            label = "root"
        else:
            label = "$MINIRNN_DATA" if os.environ.get("MINIRNN_DATA") else "~/.cache/minirnn"
        named.append(f"{label} ({folder.expanduser().resolve()})")
    return " or ".join(named)


def _not_found(corpus: CorpusFile, root, why: str) -> CorpusNotFoundError:
    return CorpusNotFoundError(
        f"{corpus.filename} is not in {_places(root)} and {why}; download {corpus.url} by "
        f"hand into one of those folders, or set MINIRNN_DATA to the folder that holds it")


def _download(corpus: CorpusFile, folder: Path, root) -> bytes:
    """Download ``corpus.url``, verify its SHA-1, store it in ``folder``; its bytes."""
    path = folder / corpus.filename
    try:
        with urllib.request.urlopen(corpus.url, timeout=30) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        reason = getattr(reason, "strerror", None) or reason
        raise _not_found(corpus, root, f"downloading it failed ({reason})") from None
    got = _sha1(data)
    if got != corpus.sha1:
        raise ChecksumError(
            f"the file downloaded from {corpus.url} has SHA-1 {got}, expected "
            f"{corpus.sha1}; it was not saved. Download {corpus.filename} by hand and "
            f"put it in {folder}")
    atomic_write_bytes(path, data)
    print(f"Downloaded {corpus.url} ({len(data):,} bytes, SHA-1 checked) to {path}",
          file=sys.stderr)
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
        return _download(corpus, folders[0], root).decode("utf-8")
    if bad:
        raise ChecksumError(
            f"corrupt copy of {corpus.filename}, not used: {'; '.join(bad)}. Put a good "
            f"copy (from {corpus.url}) in {folders[0]}, or pass download=True")
    raise _not_found(corpus, root, "download=False (pass download=True to fetch it)")


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


#: The largest corpus file read (bytes): preparing a text takes about 24 bytes of memory a
#: character (the text, its tokens, their ids), so 50 MiB needs about 1.3 GB.
MAX_CORPUS_BYTES = 50 * 2**20

_FILE_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}


def load_text(path: str | os.PathLike, max_bytes: int | None = None) -> str:
    """The text of any UTF-8 file (tinyshakespeare, or your own corpus).

    Args:
        path: str or Path of a regular file.
        max_bytes: the largest file read; None for ``MAX_CORPUS_BYTES`` (50 MiB).

    Returns:
        str, its contents.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        OSError: it cannot be read (a folder, no permission).
        ValueError: it is not a regular file (a device such as ``/dev/zero``, a FIFO: they
            can be endless), it is larger than ``max_bytes``, not UTF-8 text, or empty.
    """
    path = Path(path).expanduser()
    limit = MAX_CORPUS_BYTES if max_bytes is None else max_bytes
    if not path.exists():
        raise FileNotFoundError(f"load_text: no file at path={str(path)!r}")
    try:
        mode = path.stat().st_mode                   # stat: never blocks, even on a FIFO
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(mode):
            raise ValueError(f"load_text: path={str(path)!r} is not a regular file but "
                             f"{_FILE_KINDS.get(stat.S_IFMT(mode), 'not a file')}, which may "
                             f"never end; give the path of a text file")
        with open(path, "rb") as f:
            data = f.read(limit + 1)                 # + 1: to see a file longer than the limit
    except OSError as err:
        raise OSError(f"load_text: cannot read path={str(path)!r}: {err.strerror}") from None
    if len(data) > limit:
        raise ValueError(f"load_text: path={str(path)!r} is larger than the limit of "
                         f"{limit:,} bytes for a corpus (MAX_CORPUS_BYTES: preparing a text "
                         f"takes about 24 bytes of memory a character); use a part of it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"load_text: path={str(path)!r} is not UTF-8 text (byte "
                         f"{err.start}: {err.reason})") from None
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
