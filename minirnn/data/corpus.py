"""The corpora on disk: where a copy is found, its SHA-1 checksum, and the download.

A corpus is found, without downloading, in the first of these folders that holds a copy
whose SHA-1 is right (checked on every load, so a corrupt copy is never used): ``root``
if given, else ``$MINIRNN_DATA`` if set, else ``~/.cache/minirnn``; then ``../data``
(where the book's own code downloads its files). If there is none and ``download`` is
true, the book's file is downloaded into the first folder, verified, and written
atomically. Any other UTF-8 file is read by path (``load_text``).
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .._files import atomic_write_bytes

__all__ = ["CORPORA", "ChecksumError", "data_dirs", "load_time_machine", "load_text",
           "load_corpus"]


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
    atomic_write_bytes(path, data)
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
