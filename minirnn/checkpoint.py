"""Checkpoints: everything needed to generate from a model or to resume its training.

One ``.npz`` file holds the arrays (``param/<name>`` for the model, ``optim/<key>`` for
the optimizer's buffers, ``extra/<key>`` for the trainer's, e.g. a carried hidden state)
and one JSON document, ``meta.json``, stored as bytes, with the rest: the format tag and
version, the model's config, the vocabulary, the optimizer's numbers, the epoch, the
random generators' states (so a resumed run draws the same numbers as an uninterrupted
one) and, optionally, the training history.

``save`` writes a temporary file in the same folder and renames it into place
(``os.replace`` is atomic), so a crash or Ctrl-C while saving leaves the previous
checkpoint intact.  ``load`` names the problem with a missing, truncated, foreign or
edited file: one line that names the entry.  ``check_finite`` is the one check that a
model's parameters are finite: ``save`` and ``load`` call it (a NaN or an infinity is
never saved, nor used), and so does ``minirnn.interop.load_torch_state_dict``.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checks import check_finite_params as check_finite
from ._checks import check_non_negative_int, is_int, plural
from ._files import atomic_open

__all__ = ["FORMAT", "VERSION", "CheckpointError", "Checkpoint", "save", "load", "check_finite",
           "build_model", "export_torch", "vocab_to_dict", "vocab_from_dict", "state_to_arrays",
           "state_from_arrays"]

FORMAT = "minirnn.checkpoint"
VERSION = 2          # 2: the model is stored as (name, config); 1 (RNNLM only) still loads
_META = "meta.json"


class CheckpointError(ValueError):
    """A file that is not a readable minirnn checkpoint (truncated, corrupt or foreign)."""


@dataclass
class Checkpoint:
    """What ``load`` returns.

    Attributes:
        params: dict name -> array, the model's parameters (dotted names, ``"rnn.W_hh"``).
        vocab: the ``Vocab`` the model was trained with.
        optimizer_state: the optimizer's ``state_dict()`` (numbers and arrays).
        config: dict, the model's and the run's settings (JSON types).
        epoch: int, the number of finished epochs.
        rng_state: dict name -> ``bit_generator.state`` of each random generator.
        history: list of per-epoch records, or None.
        extra: dict of JSON values saved by the trainer (e.g. its position in an epoch).
        extra_arrays: dict name -> array saved by the trainer (e.g. the hidden state).
        path: the file it was read from.
        model: ``{"name": ..., "config": ...}``: the registry name and constructor
            arguments that ``build_model`` rebuilds the model from.
    """
    params: dict
    vocab: object
    optimizer_state: dict
    config: dict
    epoch: int
    rng_state: dict
    history: list | None = None
    extra: dict = field(default_factory=dict)
    extra_arrays: dict = field(default_factory=dict)
    path: Path | None = None
    model: dict = field(default_factory=dict)


def vocab_to_dict(vocab) -> dict:
    """A ``Vocab`` as JSON types: its tokens in index order and its token counts."""
    return vocab.to_dict()


def vocab_from_dict(doc: dict, source: str = "vocab"):
    """The ``Vocab`` with exactly the indices in ``doc`` (from ``vocab_to_dict``), checked
    as ``Vocab.from_dict`` checks it."""
    from .data import Vocab
    return Vocab.from_dict(doc, source)


def check_jsonable(value, name: str):
    """Check that ``value`` survives ``json.dumps`` (so that ``save`` fails before writing)."""
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must hold only JSON values (dict, list, str, number, bool, "
                        f"None): {err}") from None
    return value


def save(path, model, vocab, optimizer_state: dict, config: dict, epoch: int, rng_state: dict,
         history: list | None = None, extra: dict | None = None,
         extra_arrays: dict | None = None) -> Path:
    """Write a checkpoint to ``path`` (a ``.npz`` file), atomically.

    Args:
        path: str or Path of the file; its folder is created if missing.
        model: a registered model (``minirnn.models``): its ``params`` are saved, and
            its registry name and ``config()``, so that ``build_model`` can rebuild it.
        vocab: its ``Vocab``.
        optimizer_state: ``optimizer.state_dict()``: arrays go into the npz, the rest
            into the JSON metadata.
        config: dict of JSON values: the run's settings (data, seed, ...).
        epoch: int >= 0, finished epochs.
        rng_state: dict name -> ``np.random.Generator.bit_generator.state``.
        history, extra: JSON values; extra_arrays: dict name -> array.

    Returns:
        the Path written.
    """
    path = Path(path)
    epoch = check_non_negative_int(epoch, "epoch")
    if not isinstance(optimizer_state, dict):
        raise TypeError(f"optimizer_state must be a dict (optimizer.state_dict()), "
                        f"got {type(optimizer_state).__name__}")
    from .models import model_name
    name = model_name(model)                                  # a registered model, or TypeError
    if not hasattr(vocab, "idx_to_token"):
        raise TypeError(f"vocab must be a minirnn.data.Vocab, got {type(vocab).__name__}")
    vocab_size = getattr(model, "vocab_size", None)
    if vocab_size is not None and len(vocab) != vocab_size:
        raise ValueError(f"vocab has {plural(len(vocab), 'token')} but the model's vocab_size is "
                         f"{vocab_size}: a checkpoint holds the vocabulary its model was "
                         f"trained with")
    check_finite(model.params, f"cannot save {str(path)!r} (did training diverge?)")
    model_config = check_jsonable(model.config(), "model.config()")
    arrays = {f"param/{k}": np.asarray(v) for k, v in model.params.items()}
    optim_numbers = {}
    for k, v in optimizer_state.items():
        if isinstance(v, np.ndarray):
            arrays[f"optim/{k}"] = v
        else:
            optim_numbers[k] = v
    for k, v in (extra_arrays or {}).items():
        arrays[f"extra/{k}"] = np.asarray(v)
    meta = {
        "format": FORMAT, "version": VERSION,
        "model": {"name": name, "config": model_config},
        "config": check_jsonable(dict(config), "config"),
        "vocab": vocab_to_dict(vocab),
        "optimizer": check_jsonable(optim_numbers, "optimizer_state"),
        "epoch": int(epoch),
        "rng_state": check_jsonable(dict(rng_state), "rng_state"),
        "history": check_jsonable(history, "history"),
        "extra": check_jsonable(dict(extra or {}), "extra"),
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    with atomic_open(path) as f:
        np.savez(f, **arrays)
    return path


def load(path) -> Checkpoint:
    """Read a checkpoint written by ``save``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated or corrupt, not an npz, or an npz that
            ``save`` did not write (no minirnn metadata, or another format version).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.npz"           # a run folder holds its checkpoint
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at path={str(path)!r}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):                        # a .npy array, whatever its name
        raise CheckpointError(f"path={str(path)!r} holds a single .npy array, not a minirnn "
                              f"checkpoint (.npz)")
    if magic and not magic.startswith(b"PK"):                  # every .npz is a zip file
        raise CheckpointError(f"path={str(path)!r} is not a minirnn checkpoint: not an .npz "
                              f"(zip) file (it starts with {magic!r})")
    try:
        arrays = _read_arrays(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"path={str(path)!r} is not a readable minirnn checkpoint "
                              f"(truncated or corrupt: {err})") from err
    if _META not in arrays:
        raise CheckpointError(f"path={str(path)!r} is an .npz file but not a minirnn "
                              f"checkpoint (it has no {_META}; arrays: "
                              f"{', '.join(sorted(arrays)[:5]) or 'none'})")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"path={str(path)!r}: its {_META} is not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"path={str(path)!r} is not a minirnn checkpoint (format "
                              f"{meta.get('format') if isinstance(meta, dict) else None!r}, "
                              f"expected {FORMAT!r})")
    if meta.get("version") not in (1, VERSION):
        raise CheckpointError(f"path={str(path)!r} is a minirnn checkpoint of version "
                              f"{meta.get('version')!r}; this minirnn reads versions 1 to {VERSION}")

    def group(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    where = f"checkpoint {str(path)!r}"
    missing = [k for k in ("vocab", "config", "optimizer", "epoch", "rng_state") if k not in meta]
    if missing or (meta["version"] != 1 and "model" not in meta):
        raise CheckpointError(f"{where}: its {_META} lacks the entr"
                              f"{'y' if len(missing) == 1 else 'ies'} "
                              f"{', '.join(missing or ['model'])}: not a complete minirnn checkpoint")
    try:
        vocab = vocab_from_dict(meta["vocab"], f"{where}: its vocabulary")
    except (TypeError, ValueError) as err:
        raise CheckpointError(str(err)) from None
    for key in ("config", "optimizer", "rng_state"):
        _entry(isinstance(meta[key], dict), where, key, "a JSON object", meta[key])
    if meta["version"] == 1:                                   # RNNLM only, its settings in config
        meta["model"] = {"name": "rnnlm", "config": {k: meta["config"][k] for k in V1_MODEL_KEYS
                                                     if k in meta["config"]}}
    model = meta["model"]
    _entry(isinstance(model, dict) and isinstance(model.get("name"), str)
           and isinstance(model.get("config"), dict), where, "model",
           "{'name': str, 'config': {...}}", model)
    epoch = meta["epoch"]
    _entry(is_int(epoch) and epoch >= 0, where, "epoch", "an integer >= 0 (finished epochs)", epoch)
    history = meta.get("history")
    _entry(history is None or isinstance(history, list), where, "history", "a list or null",
           history)
    for i, record in enumerate(history or []):
        _entry(isinstance(record, dict) and is_int(record.get("epoch")) and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            for v in record.values()), where, f"history[{i}]",
            "an object of numbers with an integer 'epoch'", record)
    extra = meta.get("extra") or {}
    _entry(isinstance(extra, dict), where, "extra", "a JSON object", extra)
    params = group("param/")
    try:
        check_finite(params, f"{where} (edited, or saved after training diverged)")
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    vocab_size = model["config"].get("vocab_size")
    if vocab_size is not None and vocab_size != len(vocab):
        raise CheckpointError(f"{where}: its vocabulary has {plural(len(vocab), 'token')} but "
                              f"its model's vocab_size is {vocab_size!r}; the file was not "
                              f"written by minirnn.checkpoint.save (or was altered)")
    return Checkpoint(model=model, params=params, vocab=vocab,
                      optimizer_state={**meta["optimizer"], **group("optim/")},
                      config=meta["config"], epoch=int(epoch), rng_state=meta["rng_state"],
                      history=history, extra=extra, extra_arrays=group("extra/"), path=path)


def _entry(ok: bool, where: str, name: str, expected: str, got) -> None:
    """Refuse an entry of a checkpoint's metadata that is not what ``save`` writes."""
    if not ok:
        shown = repr(got) if len(repr(got)) <= 60 else repr(got)[:57] + "..."
        raise CheckpointError(f"{where}: its entry {name!r} must be {expected}, got {shown}; "
                              f"the file was not written by minirnn.checkpoint.save (or was "
                              f"edited)")


def _read_arrays(path: Path) -> dict:
    """The arrays of an ``.npz`` file, name -> array, never allocating more than the file
    holds: each member's ``.npy`` header is read first, and a shape whose bytes are not
    the bytes stored (a truncated or crafted file declaring, say, a (10^6, 10^6) array) is
    refused before any array is made.  Members must be stored uncompressed, as
    ``np.savez`` writes them, so the file's size bounds the memory; no pickles (object
    arrays) are ever read.
    """
    fmt = np.lib.format
    arrays = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            where = f"path={str(path)!r}: member {name!r}"
            if info.filename == name:
                raise CheckpointError(f"{where} is not a .npy array: not a minirnn checkpoint")
            if info.compress_type != zipfile.ZIP_STORED:
                raise CheckpointError(f"{where} is compressed; minirnn checkpoints are stored "
                                      f"uncompressed (np.savez), so that a file's size bounds "
                                      f"what loading it allocates")
            with zf.open(info) as f:
                version = fmt.read_magic(f)
                if version not in ((1, 0), (2, 0)):
                    raise CheckpointError(f"{where}: .npy format version {version} is not one "
                                          f"that np.savez writes")
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else \
                    fmt.read_array_header_2_0
                shape, fortran_order, dtype = read_header(f)
                if dtype.kind not in "biuf" or dtype.fields is not None:
                    raise CheckpointError(f"{where} has dtype {dtype}: a checkpoint holds only "
                                          f"numbers (no objects, no pickles)")
                declared = dtype.itemsize
                for n in shape:
                    declared *= n                            # Python ints: no overflow
                stored = info.file_size - f.tell()
                if declared != stored:
                    raise CheckpointError(f"{where} declares shape {shape} {dtype} "
                                          f"({declared:,} bytes) but holds {stored:,} bytes: "
                                          f"the file is corrupt or crafted")
                f.seek(0)
                arrays[name] = fmt.read_array(f, allow_pickle=False)
    return arrays


def _check_config_sizes(ckpt: Checkpoint) -> None:
    """Before a model is built from ``ckpt.model``'s config: no size in it may be larger
    than every dimension of the stored parameters and the vocabulary (a config that says
    ``num_hiddens=10**9`` beside parameters of 32 would allocate gigabytes first)."""
    largest = max([len(ckpt.vocab), *(n for p in ckpt.params.values() for n in p.shape)])
    for key, value in ckpt.model["config"].items():
        if is_int(value) and value > largest:
            raise CheckpointError(f"checkpoint {str(ckpt.path)!r}: its model config says "
                                  f"{key}={value}, larger than any dimension of its stored "
                                  f"parameters (at most {largest}); not the config of these "
                                  f"parameters")


#: What a version-1 checkpoint's config says of its model (always an RNNLM).
V1_MODEL_KEYS = ("vocab_size", "num_hiddens", "embed_dim", "nonlinearity", "init", "sigma")


def build_model(ckpt: Checkpoint):
    """The model that ``ckpt.model`` describes (by registry name and config), holding the
    checkpoint's parameters, in their dtype."""
    from .models import build_model as build
    if not ckpt.params:
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r} holds no parameters")
    dtype = next(iter(ckpt.params.values())).dtype
    _check_config_sizes(ckpt)
    try:
        model = build(ckpt.model["name"], ckpt.model["config"], seed=0, dtype=dtype)
    except (TypeError, ValueError, MemoryError) as err:
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r}: cannot rebuild its model: {err}") from None
    own = model.params
    if set(own) != set(ckpt.params):
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r} has parameters "
                              f"{sorted(ckpt.params)}, the model in its config "
                              f"{sorted(own)}")
    for k, p in own.items():
        if p.shape != ckpt.params[k].shape:
            raise CheckpointError(f"checkpoint {str(ckpt.path)!r}: parameter {k!r} has shape "
                                  f"{ckpt.params[k].shape}, the model needs {p.shape}")
        p[...] = ckpt.params[k]
    return model


def state_to_arrays(state, prefix: str = "state") -> dict:
    """A recurrent state (a tuple of arrays) as npz entries ``state/0``, ``state/1``, ..."""
    return {f"{prefix}/{i}": np.asarray(a) for i, a in enumerate(state)}


def state_from_arrays(arrays: dict, prefix: str = "state"):
    """The tuple ``state_to_arrays`` stored, or None.  A version-1 checkpoint stored one
    ``(B, H)`` array as ``state``: it becomes ``(h[None],)``, shape ``(1, B, H)``."""
    if prefix in arrays:                                       # version 1
        return (arrays[prefix][None],)
    parts = sorted((int(k.split("/")[1]), v) for k, v in arrays.items() if k.startswith(prefix + "/"))
    return tuple(v for _, v in parts) or None


def export_torch(path) -> dict:
    """The model of a checkpoint (or of a run folder: ``minirnn train --out``'s) as a
    PyTorch state dict: PyTorch's names and layouts (``minirnn.interop``) -> NumPy arrays,
    e.g. ``rnn.weight_ih_l0``; ``torch.from_numpy`` each to load it into a module.

    Raises:
        FileNotFoundError, CheckpointError: as ``load``.
        ValueError: a model with no exact PyTorch counterpart: the book's GRU (a run of
            ``--cell gru`` without ``--reset-after``).
    """
    from .interop import to_torch_state_dict
    ckpt = load(path)
    model = build_model(ckpt)
    config = ckpt.model["config"]
    if config.get("cell") == "gru" and not config.get("reset_after"):
        raise ValueError(f"checkpoint {str(ckpt.path)!r} holds the book's GRU (--cell gru "
                         f"without --reset-after), which has no exact PyTorch counterpart; "
                         f"train with --cell gru --reset-after to export to PyTorch")
    return to_torch_state_dict(model)
