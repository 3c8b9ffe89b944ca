"""A run of ``minirnn train``: the book's presets, the factories that turn a config into
data, a model and a trainer, and the run folder they write.

A config is a flat dict of JSON values (``DEFAULT_CONFIG`` lists every key); a preset
fills it, the command line overrides some keys.  The run folder holds
``checkpoint.npz``, ``config.json``, ``history.json``, ``perplexity.png`` and
``samples.txt``, and ``error.txt`` (one line) if the run ended in an error; a run
locks its folder while it runs.  ``minirnn.cli`` only parses arguments and prints; everything a run
does is here, so a script can do the same (``benchmarks/reproduce_book.py`` does).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:                 # Windows: run folders are not locked
    fcntl = None

import numpy as np

from ._checks import plural
from ._files import atomic_write_text
from .settings import RUN_KEYS, SETTINGS, check_config, check_memory, defaults
from .checkpoint import build_model as build_model_from_checkpoint
from .data import SeqDataLoader, WindowedData, build_corpus, load_corpus
from .models import build_model
from .plotting import plot_history
from .train import Trainer

__all__ = ["DEFAULT_CONFIG", "run_bytes", "check_run_memory", "PRESETS", "BOOK_RESULTS", "SAMPLINGS", "MODEL_KEYS", "LATER_KEYS",
           "preset_config", "model_config", "make_data", "make_model", "make_trainer",
           "RUN_FILES", "ERROR_FILE", "SAMPLE_TEMPERATURES", "OutDirError", "new_run_dir",
           "check_out_dir", "claim_out_dir", "release_out_dir", "out_dir_in_use",
           "record_failure", "load_run_checkpoint", "prepare_run", "finish_run", "write_samples"]

SAMPLE_TEMPERATURES = (0.5, 1.0)

#: Every setting of a run, with its default (``minirnn.settings`` defines them).  The
#: presets fill them all; the command line overrides some.
DEFAULT_CONFIG = defaults(RUN_KEYS)

_D2L_017 = {"max_tokens": 10000, "sampling": "sequential", "batch_size": 32, "num_steps": 35,
            "num_hiddens": 512, "lr": 1.0, "clip": 1.0, "num_epochs": 500, "sample_every": 50}

#: The book's published runs (REFERENCE.md section 5), and minirnn's default.
PRESETS = {
    # the README's main job: the 1.0 windows over the first 150,000 characters (the last
    # 20,000 held out), hidden 128 and Adam; docs/training.md says why these numbers
    "default": {"sampling": "windowed", "num_train": 150000, "num_val": 20000, "batch_size": 128,
                "num_steps": 32, "num_hiddens": 128, "optimizer": "adam", "lr": 0.005,
                "clip": 1.0, "num_epochs": 4, "init": "uniform", "sample_every": 1},
    # 0.17 "RNN from scratch": hidden 512, one-hot, N(0, 0.01^2), sequential partitioning
    "d2l-0.17": dict(_D2L_017),
    # ... the same with random sampling
    "d2l-0.17-random": dict(_D2L_017, sampling="random"),
    # 0.17 "concise": nn.RNN(256) with PyTorch's default init U(-1/sqrt(H), 1/sqrt(H))
    "d2l-0.17-concise": dict(_D2L_017, num_hiddens=256, init="uniform"),
    # 1.0 scratch/concise: hidden 32, 10,000 train / 5,000 validation windows
    "d2l-1.0": {"sampling": "windowed", "num_train": 10000, "num_val": 5000, "batch_size": 1024,
                "num_steps": 32, "num_hiddens": 32, "lr": 1.0, "clip": 1.0, "num_epochs": 100,
                "sample_every": 10},
    # 0.17 "Modern RNNs" (REFERENCE.md section 9): hidden 256, the rest as the RNN's runs.
    # From scratch: the book's N(0, 0.01^2) per gate; concise: PyTorch's nn.GRU / nn.LSTM,
    # U(+-1/sqrt(H)) weights (PyTorch also draws its biases; minirnn starts them at 0)
    "d2l-0.17-gru": dict(_D2L_017, num_hiddens=256, cell="gru"),
    "d2l-0.17-gru-concise": dict(_D2L_017, num_hiddens=256, cell="gru", reset_after=True,
                                 init="uniform"),
    "d2l-0.17-lstm": dict(_D2L_017, num_hiddens=256, cell="lstm"),
    "d2l-0.17-deep-lstm": dict(_D2L_017, num_hiddens=256, cell="lstm", num_layers=2, lr=2.0,
                               init="uniform"),
    "d2l-0.17-bilstm": dict(_D2L_017, num_hiddens=256, cell="lstm", num_layers=2,
                            bidirectional=True, init="uniform"),
}

#: What the book reports for each preset (REFERENCE.md section 5): (metric, value).
BOOK_RESULTS = {"d2l-0.17": ("train_ppl", 1.0), "d2l-0.17-random": ("train_ppl", 1.5),
                "d2l-0.17-concise": ("train_ppl", 1.3), "d2l-1.0": ("val_ppl", 7.2),
                "d2l-0.17-gru": ("train_ppl", 1.1), "d2l-0.17-gru-concise": ("train_ppl", 1.0),
                "d2l-0.17-lstm": ("train_ppl", 1.1), "d2l-0.17-deep-lstm": ("train_ppl", 1.0),
                "d2l-0.17-bilstm": ("train_ppl", 1.1)}

SAMPLINGS = ("sequential", "random", "windowed")


def preset_config(name: str, **overrides) -> dict:
    """The full config of preset ``name`` with ``overrides`` (config keys, e.g.
    ``num_hiddens=64``; ``clip=None``: no clipping), each checked by its setting.

    Raises:
        ValueError: an unknown preset or key, a value its setting refuses (naming the
            key), or a window setting without windowed data.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(DEFAULT_CONFIG)}")
    for key, value in overrides.items():
        SETTINGS[key].check(value)
    config = {**DEFAULT_CONFIG, **PRESETS[name], "preset": name, **overrides}
    if config["sampling"] != "windowed":             # windows are the windowed data's only
        given = [SETTINGS[k].flag for k in WINDOW_KEYS if overrides.get(k) is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} "
                             f"only to --sampling windowed (its training and validation "
                             f"windows), not to --sampling {config['sampling']}")
        config.update(dict.fromkeys(WINDOW_KEYS))    # not used: None in config.json, not 10000
    return config


#: The settings of windowed data only.
WINDOW_KEYS = ("num_train", "num_val")


def _seeds(seed: int) -> dict:
    """Independent generators for the model's init, the data order and the trainer."""
    data, model, trainer = np.random.SeedSequence(seed).spawn(3)
    return {"data": np.random.default_rng(data), "model": np.random.default_rng(model),
            "trainer": int(trainer.generate_state(1)[0])}


def make_data(config: dict, vocab=None):
    """The corpus ids, data object and Vocab of a config; errors before any training.

    Returns:
        (data, vocab): a ``SeqDataLoader`` or ``WindowedData``, and the Vocab.
    """
    if config["sampling"] not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {config['sampling']!r}")
    raw = load_corpus(config["corpus"])
    corpus, vocab = build_corpus(raw, config["token"], vocab=vocab, max_tokens=config["max_tokens"])
    rng = _seeds(config["seed"])["data"]
    if config["sampling"] == "windowed":
        data = WindowedData(corpus, config["num_steps"], num_train=config["num_train"],
                            num_val=config["num_val"], batch_size=config["batch_size"], seed=rng)
    else:
        data = SeqDataLoader(corpus, config["batch_size"], config["num_steps"],
                             use_random_iter=config["sampling"] == "random", seed=rng)
    return data, vocab


#: The run config's keys that are the language model's constructor arguments.
MODEL_KEYS = ("cell", "num_hiddens", "num_layers", "bidirectional", "dropout", "reset_after",
              "embed_dim", "tie_weights", "nonlinearity", "init", "sigma")

#: Keys added to the run config since version-1 checkpoints, with the value they implied.
LATER_KEYS = {"model": "rnnlm", "tie_weights": False, "cell": "rnn", "num_layers": 1,
              "bidirectional": False, "dropout": 0.0, "reset_after": False}


def model_config(config: dict, vocab_size: int) -> dict:
    """The model's part of a run config, as the registry takes it."""
    return {"vocab_size": vocab_size, **{k: config[k] for k in MODEL_KEYS}}


def run_bytes(config: dict, vocab_size: int) -> int:
    """About how many bytes a run of an RNN language model holds (float32): its
    parameters, their gradients and two optimizer buffers (Adam's), and one batch's
    caches and logits.  Python ints: no overflow, whatever the sizes."""
    get = {**DEFAULT_CONFIG, **config}.get
    H, L, V = get("num_hiddens"), get("num_layers"), vocab_size
    D = 2 if get("bidirectional") else 1
    gates = {"rnn": 1, "gru": 3, "lstm": 4}.get(get("cell"), 4)
    E = get("embed_dim") or 0
    params = V * E + H * D * V + V
    for layer in range(L):
        inputs = (E or V) if layer == 0 else H * D
        params += D * gates * (inputs * H + H * H + 2 * H)
    batch = get("batch_size") * get("num_steps") * (L * D * H * (gates + 3) + 3 * V + E)
    return 4 * (4 * params + batch)


def check_run_memory(config: dict, vocab_size: int, copies: int = 1,
                     flags: str = "--hidden, --layers, --embed-dim, --batch or --steps") -> None:
    """Refuse a run (or ``copies`` runs side by side) that no memory of this machine can
    hold, before anything is allocated: a ``SizeError`` (a ``MemoryError``) naming
    ``flags``, the settings to lower."""
    check_memory(copies * run_bytes(config, vocab_size), "the model, its gradients and a "
                 "batch", flags)


def make_model(config: dict, vocab_size: int):
    """The language model of a config, built by name from the registry (its init drawn
    from the config's seed).  Sizes no memory can hold are a ``MemoryError``."""
    check_run_memory(config, vocab_size)
    try:
        return build_model(config["model"], model_config(config, vocab_size),
                           rng=_seeds(config["seed"])["model"])
    except ValueError as err:
        if "array is too big" in str(err):           # NumPy's word for more than 2^63 bytes
            raise MemoryError(f"its parameters would take more than 2^63 bytes: {err}") from None
        raise


def make_trainer(config: dict, model, data, vocab, **kwargs) -> Trainer:
    """A ``Trainer`` with a config's settings; ``kwargs`` go to ``Trainer`` (checkpoint,
    progress, log, callback)."""
    return Trainer(model, data, vocab=vocab, optimizer=config["optimizer"], lr=config["lr"],
                   clip=config["clip"], bptt=config["bptt"], bptt_p=config["bptt_p"],
                   seed=_seeds(config["seed"])["trainer"], sample_every=config["sample_every"],
                   sample_prefix=config["prefix"], num_preds=config["num_preds"],
                   token=config["token"], config=config, **kwargs)


# ------------------------------------------------------------------ the run folder
def new_run_dir(preset: str) -> Path:
    base = Path("runs") / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def write_samples(path: Path, trainer, seed: int = 0) -> list[str]:
    """Greedy and sampled continuations of the run's prefix, into ``samples.txt``."""
    n = 200 if trainer.token == "char" else 50
    lines = [f"greedy: {trainer.sample(num_preds=n)}"]
    for T in SAMPLE_TEMPERATURES:
        text = trainer.sample(num_preds=n, strategy="sample", temperature=T, seed=seed)
        lines.append(f"sampled, temperature {T}: {text}")
    during = [f"epoch {e}: {t}" for e, t in trainer.samples]
    body = "\n".join(lines) + ("\n\nduring training (greedy):\n" + "\n".join(during) if during else "")
    atomic_write_text(path, body + "\n")
    return lines


RUN_FILES = ("checkpoint.npz", "config.json", "history.json")

#: Written into a run folder when its run ends in an error: that one line.
ERROR_FILE = "error.txt"


class OutDirError(ValueError):
    """The run folder (``--out``) cannot be used: a file, another run's, in use by a run
    that is still going, or not writable."""


def check_out_dir(out: Path, resume=None) -> None:
    """``out`` must be a folder (or not exist yet), not in use by a run that is still
    going, and must not hold another run's checkpoint: a new run never overwrites one;
    ``--resume`` may write over only the very checkpoint it continues
    (``out/checkpoint.npz`` is that file)."""
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {str(out)!r} is a file, not a folder")
    if _held_by_another(out):
        raise _in_use(out)
    ckpt = out / "checkpoint.npz"
    if ckpt.exists() and not (resume is not None and ckpt.resolve() == resume.path.resolve()):
        advice = (f"continue it with --resume {str(out)!r}" if resume is None else
                  f"resuming {str(resume.path)!r} would overwrite it")
        raise OutDirError(f"--out {str(out)!r} already holds a run ({ckpt.name}): {advice}; "
                          f"or choose another --out")


# A run holds an exclusive lock on its folder from the moment it takes it until it ends
# (the operating system drops it if the process dies), so that two runs started together
# with the same --out cannot both pass check_out_dir and write into one folder.
_CLAIMED: dict[str, int] = {}        # resolved folder -> the open descriptor holding its lock


def _lock(fd: int) -> bool:
    """Take the exclusive lock on an open folder; False if another open file holds it.
    Without ``fcntl`` (Windows) folders are not locked."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:                                  # a file system without locks: go on
        pass
    return True


def _in_use(out: Path) -> OutDirError:
    return OutDirError(f"--out {str(out)!r} is in use by another minirnn train that is still "
                       f"running; wait for it to end or choose another --out")


def _held_by_another(out: Path) -> bool:
    """True if a run other than this process's holds ``out``'s lock now."""
    if str(Path(out).resolve()) in _CLAIMED:
        return False
    try:
        fd = os.open(out, os.O_RDONLY)
    except OSError:                                  # not there (yet): nobody holds it
        return False
    try:
        return not _lock(fd)
    finally:
        os.close(fd)                                 # closing drops the lock just taken


def out_dir_in_use(out: Path) -> bool:
    """True if a run (of any process, this one too) holds ``out`` now."""
    return str(Path(out).resolve()) in _CLAIMED or _held_by_another(out)


def claim_out_dir(out: Path, resume=None) -> None:
    """Create ``out`` and take it for this run: lock it, check again (under the lock) that
    it holds no other run, and remove what a failed run before left there (``error.txt``).
    ``release_out_dir`` (or the end of the process) lets it go.

    Raises:
        OutDirError: ``out`` cannot be created or opened, another run holds it, or
            (``check_out_dir``) it holds another run's checkpoint.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY)
    except OSError as err:
        raise OutDirError(f"--out {str(out)!r}: cannot create the run folder: "
                          f"{err.strerror or err}") from None
    if not _lock(fd):
        os.close(fd)
        raise _in_use(out)
    _CLAIMED[str(out.resolve())] = fd
    try:
        check_out_dir(out, resume)                   # a run that ended since the first check
        (out / ERROR_FILE).unlink(missing_ok=True)   # a new start: the old failure is history
    except BaseException as err:
        release_out_dir(out)
        if isinstance(err, OSError):
            raise OutDirError(f"--out {str(out)!r}: cannot write the run folder: "
                              f"{err.strerror or err}") from None
        raise


def release_out_dir(out: Path) -> None:
    """Let ``out`` go (see ``claim_out_dir``); nothing happens if it was not taken."""
    fd = _CLAIMED.pop(str(Path(out).resolve()), None)
    if fd is not None:
        os.close(fd)


def record_failure(trainer, out: Path, message: str | None) -> None:
    """After a run stopped early: its history so far and, if ``message``, ``error.txt``
    (the one line that says what happened), as far as they can still be written (a full
    disk may refuse them too: the error is what matters, so this never raises)."""
    writes = [lambda: trainer.history.save(out / "history.json")]
    if message:
        writes.append(lambda: atomic_write_text(out / ERROR_FILE, message + "\n"))
    for write in writes:
        try:
            write()
        except OSError:
            pass


def load_run_checkpoint(path):
    """``minirnn.checkpoint.load``, with a run folder that holds no checkpoint explained
    in one line: the run failed before saving one (``error.txt`` says how), it is still
    running, or it stopped in its first epoch.

    Raises:
        FileNotFoundError, CheckpointError: as ``load``.
    """
    from .checkpoint import load
    path = Path(path)
    if path.is_dir() and not (path / "checkpoint.npz").exists() \
            and any((path / name).exists() for name in (*RUN_FILES, ERROR_FILE)):
        where = f"run folder {str(path)!r} holds no checkpoint"
        error = path / ERROR_FILE
        if error.is_file():
            reason = error.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise FileNotFoundError(f"{where}: its run failed before saving one: "
                                    f"{reason[0] if reason else '(no reason recorded)'}")
        if out_dir_in_use(path):
            raise FileNotFoundError(f"{where} yet: its run is still in its first epoch")
        raise FileNotFoundError(f"{where}: its run stopped before the end of its first epoch "
                                f"(killed?); start a new run (it may reuse this --out)")
    return load(path)


#: What may change when a run is resumed (config keys); the rest is the run's.
RESUME_KEYS = ("num_epochs", "sample_every", "prefix", "num_preds")


def resume_config(ckpt, given: dict | None = None) -> dict:
    """The config of a run continued from checkpoint ``ckpt``: its stored config (a
    version-1 checkpoint's completed by ``LATER_KEYS``), checked entry by entry and against
    its model's config, with ``given`` (config keys -> values, from the command line)
    applied.  Only ``RESUME_KEYS`` may differ from the stored values; a value equal to the
    stored one is accepted.

    Raises:
        ValueError: a config that is not a run's, an entry its setting refuses or that
            disagrees with the model (an edited file), or a setting that would change.
    """
    where = f"checkpoint {str(ckpt.path)!r}"
    if not isinstance(ckpt.config, dict):
        raise ValueError(f"{where}: its run config must be a JSON object, got "
                         f"{type(ckpt.config).__name__}")
    config = {**LATER_KEYS, **ckpt.config}
    missing = sorted(set(DEFAULT_CONFIG) - set(config))
    if missing:
        raise ValueError(f"{where} was not written by minirnn train (its config lacks "
                         f"{', '.join(missing)}); continue it in Python with "
                         f"minirnn.train.Trainer.restore")
    check_config(config, f"{where}: config")
    if ckpt.model.get("name") != config["model"]:
        raise ValueError(f"{where}: config entry 'model' is {config['model']!r} but the "
                         f"stored model is {ckpt.model.get('name')!r}; the file was edited")
    stored = ckpt.model.get("config", {})
    for key in MODEL_KEYS:
        if key in stored and stored[key] != config[key]:
            raise ValueError(f"{where}: config entry {key!r} is {config[key]!r} but its "
                             f"model's is {stored[key]!r}; the file was edited")
    given = dict(given or {})
    changed = [key for key, value in given.items() if key not in RESUME_KEYS
               and config.get(key, PRESET_KEY_DEFAULT) != value]
    if changed:
        flags = ", ".join(f"{_flag(k)} {given[k]}" for k in changed)
        now = ", ".join(f"{_flag(k)} {config.get(k)}" for k in changed)
        raise ValueError(f"{flags} cannot change when resuming (the run has {now}); only "
                         f"--epochs, --out, --sample-every, --prefix, --num-preds and "
                         f"--no-progress can")
    config.update({k: v for k, v in given.items() if k in RESUME_KEYS})
    return config


PRESET_KEY_DEFAULT = object()


def _flag(key: str) -> str:
    return "--preset" if key == "preset" else SETTINGS[key].flag


def prepare_run(config: dict, out: Path, progress: bool = True, resume=None):
    """Data, model and trainer of a run writing into ``out`` (checkpoint, history, config
    files); with ``resume`` (a Checkpoint) restored to it.  Every check (including that
    ``out`` holds no other run) comes before the folder or any file is written; then the
    folder is taken (``claim_out_dir``) until ``finish_run`` or ``release_out_dir``."""
    check_out_dir(out, resume)
    data, vocab = make_data(config, vocab=None if resume is None else resume.vocab)
    model = make_model(config, len(vocab)) if resume is None else build_model_from_checkpoint(resume)

    def after_epoch(trainer, record):
        trainer.history.save(out / "history.json")

    trainer = make_trainer(config, model, data, vocab, checkpoint=out / "checkpoint.npz",
                           progress=progress, callback=after_epoch)
    if resume is not None:
        trainer.restore(resume)
    if config["num_epochs"] < trainer.epoch:
        raise ValueError(f"--epochs {config['num_epochs']} is fewer than the "
                         f"{plural(trainer.epoch, 'epoch')} the checkpoint has already trained")
    claim_out_dir(out, resume)
    try:
        atomic_write_text(out / "config.json", json.dumps(config, indent=1) + "\n")
    except BaseException as err:                     # (Ctrl-C too: the folder is let go)
        release_out_dir(out)
        if isinstance(err, OSError):
            raise OutDirError(f"--out {str(out)!r}: {err}") from None
        raise
    return trainer


def finish_run(trainer, out: Path, title: str) -> list[str]:
    """Write ``history.json``, ``perplexity.png`` and ``samples.txt``; return the samples;
    let the folder go (``release_out_dir``)."""
    try:
        trainer.history.save(out / "history.json")
        plot_history(trainer.history, out / "perplexity.png", title=title)
        return write_samples(out / "samples.txt", trainer)
    finally:
        release_out_dir(out)
