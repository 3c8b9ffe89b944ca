"""What a ``Trainer`` keeps around the step, so that a run can stop anywhere and continue
bit for bit: the ``History``; divergence checks; checkpoints (the last, and the best on
validation beside it); the position inside an interrupted epoch; every random generator
(the data's order, the trainer's coin flips and each ``Dropout`` layer's masks); Ctrl-C.

``TrainerState`` is the part of ``minirnn.train.Trainer`` that does this; the training
loop itself is in ``minirnn.train``.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt_lib
from ._checks import plural
from ._files import atomic_write_text
from .layers import Dropout, evaluating

__all__ = ["History", "TrainerState", "TrainingDiverged", "TrainingInterrupted", "MAX_LOSS",
           "dropout_layers", "step_name"]


#: A mean loss above log(largest float) ~ 709.8 nats per token is a perplexity of inf.
MAX_LOSS = math.log(sys.float_info.max)


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient norm became NaN or infinite."""


class History:
    """Per-epoch records: ``epoch``, the losses (``train_ppl``, ``val_ppl`` of a language
    model; ``train_loss``, ``val_loss`` of another), ``tokens_per_s`` (targets per second of
    training time), ``wall_s`` (seconds since the run began, resumed runs included), and
    the trainer's ``evaluate`` results."""

    def __init__(self, records=None):
        self.records: list[dict] = [dict(r) for r in (records or [])]

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def column(self, key: str) -> list:
        """Every record's ``key`` (None where a record lacks it), e.g. ``'val_ppl'``."""
        return [r.get(key) for r in self.records]

    def save(self, path) -> Path:
        """Write the records as a JSON list (one object per epoch), atomically."""
        return atomic_write_text(Path(path), json.dumps(self.records, indent=1) + "\n")

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def __repr__(self):
        if not self.records:
            return "History(0 epochs)"
        last = self.records[-1]
        shown = ", ".join(f"{k} {last[k]:.3f}" for k in ("train_ppl", "val_ppl", "train_loss",
                                                          "val_loss") if k in last)
        return f"History({plural(len(self), 'epoch')}, last: {shown})"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``checkpoint`` is the file saved at that point (or None)."""

    def __init__(self, message: str, epoch: int, step: int, checkpoint: Path | None):
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


def step_name(step: int, n: int | None) -> str:
    return f"step {step}" if n is None else f"step {step} of {n}"


def dropout_layers(model) -> list:
    """Every ``Dropout`` inside ``model`` (depth first): their generators draw the masks."""
    found, todo = [], [model]
    while todo:
        layer = todo.pop(0)
        if isinstance(layer, Dropout):
            found.append(layer)
        todo[:0] = layer.sublayers() if hasattr(layer, "sublayers") else []
    return found


def best_mode(key: str) -> str:
    """``'min'`` for a loss or a perplexity, ``'max'`` for anything else (an accuracy)."""
    return "min" if key.endswith(("loss", "ppl")) else "max"


class TrainerState:
    """Checkpoints, resuming and Ctrl-C for ``Trainer`` (which sets ``model``, ``data``,
    ``data_rng``, ``rng``, ``optimizer``, ``vocab``, ``history``, ``samples``)."""

    def setup_state(self, checkpoint, checkpoint_every: int, best: str | None) -> None:
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.best = best or ("val_ppl" if self.regime else "val_loss")
        self.best_value = None                 # the best record's value of ``best`` so far
        self.epoch = 0                         # finished epochs
        self.updates = 0                       # finished updates (the schedule's step)
        self.total_updates = None
        self.dropouts = dropout_layers(self.model)
        self._position = None                  # where an interrupted epoch stopped
        self._interrupted = False
        self.saved_at: str | None = None       # where the checkpoint on disk is from ('epoch 2')
        self._checked = True                   # the parameters passed a loss check since the last update
        if self.checkpoint is not None:        # fail now, not at the first save
            ckpt_lib.check_jsonable(self.run_config(), "config")

    @property
    def best_path(self) -> Path | None:
        """``<checkpoint>-best.npz``, beside the last checkpoint."""
        if self.checkpoint is None:
            return None
        return self.checkpoint.with_name(f"{self.checkpoint.stem}-best{self.checkpoint.suffix}")

    # ------------------------------------------------------------ the position
    def take_position(self) -> dict:
        """Where this epoch starts: the start, or where an interrupted one stopped (its
        data order as it began: the done batches are drawn again and skipped)."""
        pos = self._position or {"step": 0, "loss_sum": 0.0, "tokens": 0, "train_s": 0.0,
                                 "elapsed_s": 0.0, "state": None, "data_rng": self._data_state()}
        self._position = None
        if self.data_rng is not None:
            self.data_rng.bit_generator.state = pos["data_rng"]   # the epoch's order, as it began
        return pos

    def keep_position(self, step, loss_sum, tokens, train_s, pos, started, state) -> None:
        import time
        self._position = {"step": step, "loss_sum": loss_sum, "tokens": tokens,
                          "train_s": train_s, "data_rng": pos["data_rng"], "state": state,
                          "elapsed_s": pos["elapsed_s"] + time.perf_counter() - started}

    def _data_state(self):
        return None if self.data_rng is None else self.data_rng.bit_generator.state

    def _check_finite(self, what, value, epoch, step, n, when=None):
        """Stop with ``TrainingDiverged`` if ``value`` is NaN or infinite, or is a loss
        whose perplexity overflows.  ``step`` None: after the epoch's last update."""
        if np.isfinite(value) and not ("loss" in what and value > MAX_LOSS):
            return
        if np.isfinite(value):
            value = f"{value:.4g} (perplexity exp(loss) overflows to inf)"
        self._diverged(f"{what} became {value}", epoch, step, n, when)

    def _diverged(self, what: str, epoch, step, n, when: str | None = None):
        if when is None:
            when = (f"at epoch {epoch}, {step_name(step, n)}: training stopped before this "
                    f"step changed the parameters" if step is not None else
                    f"after the last update of epoch {epoch}: training stopped before these "
                    f"parameters were saved")
        raise TrainingDiverged(f"{what} {when} ({self.last_checkpoint_note()}). Lower the "
                               f"learning rate or clip the gradients (clip={self.clip}).")

    def _check_new_parameters(self, epoch: int, last_batch, when: str | None = None) -> None:
        """Before parameters are recorded or saved: every entry finite and, if
        ``last_batch`` ``(batch, state)`` is given, the loss they give on it a number whose
        perplexity does not overflow."""
        from .checkpoint import check_finite
        try:
            check_finite(self.model.params, "the new parameters")
        except ValueError as err:
            self._diverged(str(err), epoch, None, None, when)
        if last_batch is not None:
            batch, state = last_batch
            with np.errstate(over="ignore", invalid="ignore"), evaluating(self.model):
                outputs, _ = self.model.forward(batch.inputs, state, batch.lengths)  # no dropout drawn
                loss = self.loss.forward(outputs, batch.targets) if batch.mask is None \
                    else self.loss.forward(outputs, batch.targets, batch.mask)
            self._check_finite("the loss on the last batch", loss, epoch, None, None, when)
            self._checked = True

    # ------------------------------------------------------------------ Ctrl-C
    def _sigint_flag(self):
        """While training, the first Ctrl-C sets a flag that the loop checks after each
        step (so no update is left half done); a second Ctrl-C stops at once."""
        from contextlib import contextmanager

        @contextmanager
        def flag():
            self._interrupted = False
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def handler(signum, frame):
                if self._interrupted:
                    raise KeyboardInterrupt
                self._interrupted = True

            previous = signal.signal(signal.SIGINT, handler)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, previous)
        return flag()

    def _stop(self, epoch: int, step: int, n: int | None):
        where = f"epoch {epoch}, {step_name(step, n)}" if step else f"the end of epoch {epoch}"
        if self.checkpoint is not None and not self._checked:
            self._check_new_parameters(epoch, self._last_batch, when=(
                f"in the last update before Ctrl-C (interrupted at {where}): these parameters "
                f"were not saved"))
        saved = self.save(self.checkpoint) if self.checkpoint is not None else None
        msg = (f"interrupted at {where}; checkpoint saved to {saved}" if saved
               else f"interrupted at {where} (no checkpoint path set: nothing saved)")
        raise TrainingInterrupted(msg, epoch, step, saved)

    # ------------------------------------------------------------ checkpoints
    def last_checkpoint_note(self) -> str:
        """Where the last good checkpoint is and which point of training it holds, for
        an error message, or ``'no checkpoint was saved'``."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return "no checkpoint was saved"
        if self.saved_at is None:
            return f"the last good checkpoint, {self.checkpoint}, is unchanged"
        return f"the last good checkpoint, {self.checkpoint}, is unchanged (from {self.saved_at})"

    @staticmethod
    def _point(epoch: int, position: dict | None) -> str:
        """'epoch 2' (the end of it), or 'epoch 3, step 17' for a checkpoint mid-epoch."""
        return f"epoch {epoch + 1}, step {position['step']}" if position else f"epoch {epoch}"

    def rng_states(self, data_state) -> dict:
        """Every generator's state: the data's order, the trainer's, each dropout's."""
        states = {"trainer": self.rng.bit_generator.state,
                  "dropout": [d.rng.bit_generator.state for d in self.dropouts]}
        if data_state is not None:
            states["data"] = data_state
        return states

    def keep_best(self, record: dict) -> None:
        """Save the best checkpoint when ``record`` improves on ``best``."""
        value = record.get(self.best)
        if self.checkpoint is None or value is None or not np.isfinite(value):
            return
        better = (self.best_value is None or
                  (value < self.best_value if best_mode(self.best) == "min" else value > self.best_value))
        if better:
            self.best_value = float(value)
            self.save(self.best_path)

    def save(self, path) -> Path:
        """Save a checkpoint of this exact point of training (see ``minirnn.checkpoint``,
        which checks the parameters to be finite first)."""
        if self.vocab is None:
            raise ValueError("a checkpoint needs the vocabulary: this Trainer has vocab=None")
        pos = self._position
        extra = {"samples": self.samples, "position": None, "updates": self.updates,
                 "best": {"key": self.best, "value": self.best_value}}
        arrays = {}
        data_state = self._data_state()
        if pos is not None:                                    # mid-epoch (Ctrl-C)
            extra["position"] = {k: pos[k] for k in ("step", "loss_sum", "tokens", "train_s",
                                                     "elapsed_s")}
            data_state = pos["data_rng"]
            if pos["state"] is not None:
                arrays.update(ckpt_lib.state_to_arrays(pos["state"]))
        saved = ckpt_lib.save(path, self.model, self.vocab, self.optimizer.state_dict(),
                              self.run_config(), self.epoch, self.rng_states(data_state),
                              history=self.history.records, extra=extra, extra_arrays=arrays)
        if self.checkpoint is not None and Path(path).resolve() == self.checkpoint.resolve():
            self.saved_at = self._point(self.epoch, extra["position"])
        return saved

    def _check_rng_state(self, ckpt, key, rng, state) -> None:
        try:                                                   # on a spare generator: checked
            type(rng.bit_generator)().state = state            # before anything changes
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"checkpoint {ckpt.path} has no usable {key!r} random-generator "
                             f"state for this trainer's {type(rng.bit_generator).__name__}: "
                             f"{err}") from None

    def restore(self, ckpt):
        """Continue from a checkpoint (a ``Checkpoint`` or a path): parameters, optimizer,
        epoch, history, every random generator and, if it was saved mid-epoch, the
        position in that epoch with its carried state."""
        if not isinstance(ckpt, ckpt_lib.Checkpoint):
            ckpt = ckpt_lib.load(ckpt)
        own = self.model.params
        if set(own) != set(ckpt.params) or any(own[k].shape != ckpt.params[k].shape for k in own):
            raise ValueError(f"checkpoint {ckpt.path} does not fit this model: it has "
                             f"{ {k: v.shape for k, v in ckpt.params.items()} }, the model "
                             f"{ {k: v.shape for k, v in own.items()} }")
        if self.vocab is not None and list(self.vocab.idx_to_token) != list(ckpt.vocab.idx_to_token):
            raise ValueError(f"checkpoint {ckpt.path} was trained with another vocabulary "
                             f"({len(ckpt.vocab)} tokens) than this trainer's ({len(self.vocab)})")
        states = ckpt.rng_state
        pairs = [("trainer", self.rng, states.get("trainer"))]
        if self.data_rng is not None:
            pairs.append(("data", self.data_rng, states.get("data")))
        dropout = states.get("dropout")                        # absent in older checkpoints
        if dropout is not None:
            if not isinstance(dropout, list) or len(dropout) != len(self.dropouts):
                raise ValueError(f"checkpoint {ckpt.path} has {len(dropout) if isinstance(dropout, list) else 'no list of'} "
                                 f"dropout generator states; this model has {len(self.dropouts)}")
            pairs += [("dropout", d.rng, s) for d, s in zip(self.dropouts, dropout)]
        for key, rng, state in pairs:
            self._check_rng_state(ckpt, key, rng, state)
        self.optimizer.load_state_dict(ckpt.optimizer_state)   # checks, then changes
        for k, p in own.items():
            p[...] = ckpt.params[k]
        for _, rng, state in pairs:
            rng.bit_generator.state = state
        self.epoch = ckpt.epoch
        self.history = type(self.history)(ckpt.history)
        self.samples = [list(s) for s in ckpt.extra.get("samples", [])]
        self.updates = int(ckpt.extra.get("updates", 0))
        best = ckpt.extra.get("best") or {}
        if best.get("key") == self.best:
            self.best_value = best.get("value")
        pos = ckpt.extra.get("position")
        if self.checkpoint is not None and ckpt.path is not None \
                and Path(ckpt.path).resolve() == self.checkpoint.resolve():
            self.saved_at = self._point(ckpt.epoch, pos)
        self._position = None
        if pos:
            self._position = dict(pos, data_rng=states.get("data"),
                                  state=ckpt_lib.state_from_arrays(ckpt.extra_arrays))
        return self
