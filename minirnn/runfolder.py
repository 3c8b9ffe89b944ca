"""A run's folder (``minirnn train --out``): what it holds, who may write it, and how a
run that stopped is recorded and resumed.

The folder holds ``checkpoint.npz``, ``config.json``, ``history.json``,
``perplexity.png`` and ``samples.txt``, and ``error.txt`` (one line) if the run ended in
an error.  A run takes its folder only if it is new, empty, or an earlier run's that
never saved a checkpoint; it never writes over or deletes a file it did not write.  It
locks the folder while it runs, writes every file atomically (``minirnn._files``), and
removes the temporaries a killed run left.  ``minirnn.cli`` only parses and prints.
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

from ._checks import is_int, plural
from ._files import atomic_write_text
from .checkpoint import build_model as build_model_from_checkpoint
from .plotting import plot_history
from .presets import DEFAULT_CONFIG, LATER_KEYS, MODEL_KEYS, make_data, make_model, make_trainer
from .settings import SETTINGS, as_flags, check_config

__all__ = ["RUN_FILES", "ERROR_FILE", "OWN_FILES", "SAMPLE_TEMPERATURES", "RESUME_KEYS", "OutDirError",
           "new_run_dir", "check_out_dir", "claim_out_dir", "release_out_dir", "out_dir_in_use",
           "record_failure", "load_run_checkpoint", "resume_config", "prepare_run",
           "finish_run", "write_samples", "train_run", "RunFailed"]

SAMPLE_TEMPERATURES = (0.5, 1.0)


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

#: Every file a run writes into its folder; it writes nothing else, and deletes only
#: ``error.txt`` (a new start) and the temporaries a killed run left.
OWN_FILES = (*RUN_FILES, "checkpoint-best.npz", "perplexity.png", "samples.txt", ERROR_FILE)


class OutDirError(ValueError):
    """The run folder (``--out``) cannot be used: a file, another run's, a folder of the
    user's files, in use by a run that is still going, or not writable."""


def _temporary(name: str) -> bool:
    """True for a temporary that ``minirnn._files`` writes beside one of a run's files
    (``.checkpoint.npz.k2j3h4.tmp``): a run killed while saving leaves one behind."""
    return name.endswith(".tmp") and any(name.startswith(f".{own}.") for own in OWN_FILES)


def _is_run_config(path: Path) -> bool:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "preset" in config and set(DEFAULT_CONFIG) <= set(config)


def check_out_dir(out: Path, resume=None) -> None:
    """``out`` must be a folder (or not exist yet), not in use by a run that is still
    going, and new, empty, or the folder of a run that never saved a checkpoint (its
    ``config.json`` a run's, no file but a run's files): a run never writes over or
    deletes a file it did not write, and never overwrites another run's checkpoint;
    ``--resume`` may write over only the very checkpoint it continues
    (``out/checkpoint.npz`` is that file), in its own folder."""
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {str(out)!r} is a file, not a folder")
    if _held_by_another(out):
        raise _in_use(out)
    ckpt = out / "checkpoint.npz"
    own = resume is not None and ckpt.exists() and ckpt.resolve() == Path(resume.path).resolve()
    if ckpt.exists() and not own:
        advice = (f"continue it with --resume {str(out)!r}" if resume is None else
                  f"resuming {str(resume.path)!r} would overwrite it")
        raise OutDirError(f"--out {str(out)!r} already holds a run ({ckpt.name}): {advice}; "
                          f"or choose another --out")
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() and not own else []
    foreign = [n for n in names if n not in OWN_FILES and not _temporary(n)]
    if foreign:
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutDirError(f"--out {str(out)!r} holds files that minirnn train did not write "
                          f"({listed}); choose a new or empty folder")
    if any(n in OWN_FILES for n in names) and not _is_run_config(out / "config.json"):
        raise OutDirError(f"--out {str(out)!r} holds {', '.join(n for n in names if n in OWN_FILES)} "
                          f"but no run's config.json: not a folder minirnn train wrote; "
                          f"choose a new or empty folder")


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
        for path in out.iterdir():                   # what a run killed while saving left
            if _temporary(path.name):
                path.unlink(missing_ok=True)
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
    """After a run stopped early: ``error.txt`` (the one line that says what happened, if
    ``message``) and ``history.json`` as the checkpoint on disk has it, never ahead of it
    (a failed save leaves the previous one), as far as they can still be written (a full
    disk may refuse them too: the error is what matters, so this never raises)."""
    from .checkpoint import load
    writes = []
    if (out / "checkpoint.npz").exists():
        writes.append(lambda: atomic_write_text(out / "history.json", json.dumps(
            load(out / "checkpoint.npz").history or [], indent=1) + "\n"))
    if message:                                      # in the command line's words
        writes.append(lambda: atomic_write_text(out / ERROR_FILE, as_flags(message) + "\n"))
    for write in writes:
        try:
            write()
        except (OSError, ValueError):
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
    _check_run_state(ckpt, config, where)
    given = dict(given or {})
    changed = [key for key, value in given.items() if key not in RESUME_KEYS
               and config.get(key) != value]
    if changed:
        flag = {k: "--preset" if k == "preset" else SETTINGS[k].flag for k in changed}
        flags = ", ".join(f"{flag[k]} {given[k]}" for k in changed)
        now = ", ".join(f"{flag[k]} {config.get(k)}" for k in changed)
        raise ValueError(f"{flags} cannot change when resuming (the run has {now}); only "
                         f"--epochs, --out, --sample-every, --prefix, --num-preds and "
                         f"--no-progress can")
    config.update({k: v for k, v in given.items() if k in RESUME_KEYS})
    return config


def _number(value, minimum=0.0) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value == value and minimum <= value < float("inf")


def _check_run_state(ckpt, config: dict, where: str) -> None:
    """What ``minirnn train`` saved beside the model, entry by entry (an edited file is one
    line naming the entry): the preset, the optimizer's rate, the history (one record per
    finished epoch), the samples, and a mid-epoch position with its carried state."""
    from .checkpoint import CheckpointError, check_finite
    from .presets import PRESETS

    def entry(ok, name, expected, got):
        if not ok:
            raise CheckpointError(f"{where}: its entry {name!r} must be {expected}, got "
                                  f"{got!r:.60}; the file was edited")
    entry(isinstance(config.get("preset"), str) and config["preset"] in PRESETS,
          "config.preset", "one of the presets", config.get("preset"))
    lr = ckpt.optimizer_state.get("lr", config["lr"])
    entry(lr == config["lr"], "optimizer.lr", f"the run's lr ({config['lr']})", lr)
    history = ckpt.history or []
    entry(len(history) == ckpt.epoch, "history", f"{ckpt.epoch} records, one per finished "
          f"epoch", f"{len(history)} records")
    for i, record in enumerate(history):
        entry(record.get("epoch") == i + 1 and all(_number(record.get(k)) for k in
              ("train_ppl", "wall_s")), f"history[{i}]", f"epoch {i + 1}'s record (epoch, "
              f"train_ppl, wall_s)", record)
    samples = ckpt.extra.get("samples", [])
    entry(isinstance(samples, list) and all(isinstance(x, list) and len(x) == 2 and
          isinstance(x[1], str) for x in samples), "extra.samples", "a list of [epoch, text]",
          samples)
    pos = ckpt.extra.get("position")
    state = [v for k, v in sorted(ckpt.extra_arrays.items()) if k.startswith("state")]
    if pos is None:
        entry(not state, "extra/state", "absent at the end of an epoch", f"{len(state)} arrays")
        return
    entry(isinstance(pos, dict) and set(pos) == {"step", "loss_sum", "tokens", "train_s",
                                                  "elapsed_s"}, "extra.position",
          "{step, loss_sum, tokens, train_s, elapsed_s}", pos)
    entry(is_int(pos["step"]) and pos["step"] >= 1, "extra.position.step", "an integer >= 1",
          pos["step"])
    entry(is_int(pos["tokens"]) and pos["tokens"] >= 1, "extra.position.tokens",
          "an integer >= 1", pos["tokens"])
    for key in ("loss_sum", "train_s", "elapsed_s"):
        entry(_number(pos[key]), f"extra.position.{key}", "a finite number >= 0", pos[key])
    if config["sampling"] != "sequential":
        entry(not state, "extra/state", "absent (only sequential data carries a state)",
              f"{len(state)} arrays")
        return
    dtype = next(iter(ckpt.params.values())).dtype
    shape = ((2 if config["bidirectional"] else 1) * config["num_layers"],
             config["batch_size"], config["num_hiddens"])
    count = 2 if config["cell"] == "lstm" else 1
    entry(len(state) == count and all(a.shape == shape and a.dtype == dtype for a in state),
          "extra/state", f"{count} {dtype} arrays of shape {shape}",
          [f"{a.dtype} {a.shape}" for a in state])
    try:
        check_finite({f"extra/state/{i}": a for i, a in enumerate(state)}, where)
    except ValueError as err:
        raise CheckpointError(str(err)) from None


def prepare_run(config: dict, out: Path, progress: bool = True, resume=None, log=None,
                after_epoch=None):
    """Data, model and trainer of a run writing into ``out`` (checkpoint, history, config
    files); with ``resume`` (a Checkpoint) restored to it.  Every check (including that
    ``out`` holds no other run) comes before the folder or any file is written; then the
    folder is taken (``claim_out_dir``) until ``finish_run`` or ``release_out_dir``.
    ``log``: the trainer's function for text lines; ``after_epoch(trainer, record)``:
    called after each epoch's checkpoint and ``history.json`` are written."""
    check_out_dir(out, resume)
    data, vocab = make_data(config, vocab=None if resume is None else resume.vocab)
    model = make_model(config, len(vocab)) if resume is None else build_model_from_checkpoint(resume)

    def callback(trainer, record):
        trainer.history.save(out / "history.json")   # (after the checkpoint: never ahead)
        if after_epoch is not None:
            after_epoch(trainer, record)

    trainer = make_trainer(config, model, data, vocab, checkpoint=out / "checkpoint.npz",
                           progress=progress, callback=callback, log=log)
    if resume is not None:
        pos = resume.extra.get("position")
        if pos is not None:                          # mid-epoch (Ctrl-C in its last step: n)
            n = data.num_train_batches if config["sampling"] == "windowed" else \
                sum(1 for _ in data)
            if pos["step"] > n:
                raise OutDirError(f"checkpoint {str(resume.path)!r}: its entry "
                                  f"'extra.position.step' must be at most the epoch's {n} "
                                  f"batches, got {pos['step']}; the file was edited")
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


class RunFailed(RuntimeError):
    """A run stopped by a failed write (a full disk, a read-only folder): its one line
    names the file, the reason and the last good checkpoint."""


def train_run(trainer, out: Path, num_epochs: int, title: str) -> list[str]:
    """Train a prepared run to ``num_epochs`` and write its files (``finish_run``); return
    the samples.  A run that stops early leaves its folder saying why (``error.txt``,
    ``record_failure``) beside the last good checkpoint, then raises: Ctrl-C
    (``TrainingInterrupted``), divergence (``TrainingDiverged``), a closed output
    (``BrokenPipeError``), memory running out (``MemoryError``) or a failed write
    (``RunFailed``), each with its one line."""
    from .train import TrainingDiverged, TrainingInterrupted
    try:
        trainer.fit(num_epochs)
        return finish_run(trainer, out, title=title)
    except TrainingInterrupted as err:
        record_failure(trainer, out, None if err.checkpoint else f"interrupted: {err}")
        raise
    except TrainingDiverged as err:
        record_failure(trainer, out, str(err))
        raise
    except MemoryError as err:
        message = (f"ran out of memory while training ({err}); lower --hidden, --batch or "
                   f"--steps ({trainer.last_checkpoint_note()})")
        record_failure(trainer, out, message)
        raise MemoryError(message) from None
    except BrokenPipeError:                                    # stdout closed: stop, quietly
        record_failure(trainer, out, f"stopped: its output was closed (a broken pipe); "
                                     f"{trainer.last_checkpoint_note()}")
        raise
    except OSError as err:                                     # a full disk, a read-only folder
        message = f"{err}; {trainer.last_checkpoint_note()}"
        record_failure(trainer, out, message)
        raise RunFailed(message) from None
