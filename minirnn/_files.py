"""Writing files all or nothing, and saying which file could not be written and why.

Every file minirnn writes (checkpoints, a run's ``config.json``, ``history.json``,
``perplexity.png``, ``samples.txt``, a vocabulary, a downloaded corpus) goes through
``atomic_open``: a temporary file beside the target, synced, then renamed over it.  A
reader sees the old file or the new one, never half of one; a failure (a full disk, a
folder made read-only, Ctrl-C) leaves the old file as it was and no temporary behind,
and raises ``WriteError``, an ``OSError`` that names the file asked for (never the
temporary) and the reason.  Nothing here imports another minirnn module.
"""
from __future__ import annotations

import errno as errno_codes
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WriteError", "atomic_open", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json"]


class WriteError(OSError):
    """A file could not be written: ``filename`` is the file asked for, ``strerror`` why
    (``str(err)``: ``cannot write runs/x/checkpoint.npz: No space left on device``)."""

    def __str__(self):
        return f"cannot write {self.filename}: {self.strerror}"


def _write_error(err: OSError, path: Path) -> WriteError:
    if isinstance(err, WriteError):
        return err
    code = err.errno if err.errno is not None else errno_codes.EIO
    return WriteError(code, err.strerror or str(err) or os.strerror(code), str(path))


@contextmanager
def atomic_open(path):
    """Write ``path`` all or nothing: yields a binary file, a temporary beside ``path``;
    when the block ends it is synced to disk, given the mode ``open`` would give, and
    renamed over ``path`` (readers see the old file or the new one, never half); if the
    block raises, the temporary is removed and ``path`` is untouched.  An ``OSError``
    (the folder cannot be made or written, the disk is full) becomes a ``WriteError``
    naming ``path``.

    Raises:
        WriteError: writing failed, or ``path`` is a folder (then nothing is written).
    """
    path = Path(path)
    if path.is_dir():
        raise WriteError(errno_codes.EISDIR, "it is a folder, expected the path of a file",
                         str(path))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)             # as open() would make it (mkstemp: 0600)
        os.replace(tmp, path)                     # atomic: readers see old or new, never half
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _write_error(err, path) from None
        raise
    _fsync_dir(path.parent)                       # the rename itself survives a crash


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with ``atomic_open``; returns the Path."""
    path = Path(path)
    with atomic_open(path) as f:
        f.write(data)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` with ``atomic_open``; returns the Path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value) -> Path:
    """Write ``value`` as indented JSON to ``path`` with ``atomic_open``; returns the Path."""
    return atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:                               # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
