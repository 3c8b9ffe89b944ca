"""Training any model of ``minirnn.models``: the book's step, and one ``Trainer`` around it.

The one step every model runs (``train_step``), on a ``Batch(inputs, targets, lengths,
mask)`` from ``state``::

    outputs, state = model.forward(inputs, state, lengths)   # language model: (B, T, V)
    loss = mean over the targets that count (mask)          # cross-entropy, or MSE
    model.backward(dL/doutputs)                              # BPTT; dL/dstate0 dropped
    g <- min(1, theta / ||g||) g                             # clip the global norm (theta 1)
    param <- param - lr g                                    # SGD (or Adam)

``Trainer`` runs that step over epochs and adds what a real run needs: a progress bar
(tqdm), divergence checks, Ctrl-C, atomic checkpoints (the last and the best on
validation), a bit-for-bit resume and the per-epoch ``History``.

The data is either a language model's, in the book's three ways to feed it:

* ``SeqDataLoader`` with sequential partitioning: minibatch i + 1 continues minibatch i
  in the text, so the final state is carried into the next minibatch; its gradient is
  not (``backward`` returns dL/dstate0 and the trainer drops it: truncated BPTT);
* ``SeqDataLoader`` with random sampling: every minibatch starts from the zero state;
* ``WindowedData`` (the 1.0 book): shuffled windows, zero state, validation perplexity;

or any re-iterable of batches (each ``iter(data)`` one epoch of ``Batch`` or ``(inputs,
targets)`` tuples; ``len(data)`` batches; a ``data.rng`` generator, if it draws, is saved
with checkpoints), with ``val_data`` likewise.  Records hold ``train_ppl`` / ``val_ppl``
for language models (``exp`` of the mean loss per token), ``train_loss`` / ``val_loss``
for the others, and whatever ``evaluate(model)`` returns.

BPTT strategies (language models, ``minirnn.bptt``): ``'truncated'``, ``'randomized'``
(``RNN.backward(keep=...)``) and ``'full'`` (sequential partitioning: one window per row).

Faults (NaN, Ctrl-C), checkpoints and the bit-for-bit resume are ``minirnn.train_state``'s.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import bptt as bptt_lib
from .data import SeqDataLoader, WindowedData
from .layers import evaluating
from .losses import SoftmaxCrossEntropy
from .metrics import perplexity
from .models import Batch
from ._checks import check_non_negative_int, check_positive_int, check_positive_number, plural
from .optim import clip_grad_norm, grad_norm, make_optimizer
from .train_state import (MAX_LOSS, History, TrainerState, TrainingDiverged,  # noqa: F401
                          TrainingInterrupted)

__all__ = ["History", "Trainer", "TrainingDiverged", "TrainingInterrupted", "train",
           "train_step", "train_epoch", "evaluate", "mean_loss", "data_regime",
           "cosine_lr", "as_batch", "RECORD_KEYS"]

#: A language model's record; other models have ``train_loss`` / ``val_loss`` instead.
RECORD_KEYS = ("epoch", "train_ppl", "val_ppl", "tokens_per_s", "wall_s")

def data_regime(data) -> str | None:
    """``'sequential'``, ``'random'`` or ``'windowed'`` for a language model's data (how the
    trainer handles state), None for any other iterable of batches."""
    if isinstance(data, WindowedData):
        return "windowed"
    if isinstance(data, SeqDataLoader):
        return "random" if data.use_random_iter else "sequential"
    if not hasattr(data, "__iter__") or isinstance(data, (str, bytes, np.ndarray)):
        raise TypeError(f"data must be a minirnn.data.SeqDataLoader, a WindowedData or a "
                        f"re-iterable of batches, got {type(data).__name__}")
    return None


def as_batch(batch) -> Batch:
    """A ``Batch`` from a batch or a tuple ``(inputs, targets[, lengths[, mask]])``."""
    return batch if isinstance(batch, Batch) else Batch(*batch)


def count(batch: Batch) -> int:
    """How many targets a batch's mean loss is over: the mask's, else every target."""
    return int(batch.mask.sum()) if batch.mask is not None else int(np.size(batch.targets))


def loss_of(loss, outputs, batch: Batch) -> float:
    """``loss.forward`` on a batch's targets, with its mask if it has one."""
    if batch.mask is None:
        return loss.forward(outputs, batch.targets)
    return loss.forward(outputs, batch.targets, batch.mask)


def mean_loss(model, batches, loss=None) -> float:
    """The mean loss per target of ``model`` on ``batches`` (each from the zero state, in
    evaluation mode): ``sum of the batches' losses * counts / total count``."""
    loss = loss or SoftmaxCrossEntropy()
    total, n = 0.0, 0
    with evaluating(model):                                    # dropout off
        for batch in batches:
            batch = as_batch(batch)
            outputs, _ = model.forward(batch.inputs, None, batch.lengths)
            total += loss_of(loss, outputs, batch) * count(batch)   # mean * count = sum
            n += count(batch)
    if n == 0:
        raise ValueError("evaluate: no targets to evaluate on")
    return total / n


def evaluate(model, batches, loss=None) -> float:
    """Perplexity of a language model on minibatches ``(X, Y)``, each from the zero state."""
    return perplexity(mean_loss(model, batches, loss))


def cosine_lr(lr: float, step: int, total: int) -> float:
    """``lr * (1 + cos(pi * step / total)) / 2``: from lr down to 0 over ``total`` steps."""
    return lr * 0.5 * (1.0 + np.cos(np.pi * step / total))


# ------------------------------------------------------------------ the book's loop
def train_step(model, batch, state, loss, optimizer, clip: float | None = 1.0, keep=None,
               check=None):
    """One update on ``batch`` (a ``Batch`` or ``(inputs, targets)``) from ``state``;
    returns ``(mean loss, final state)``.  ``check(what, value)``, if given, sees the loss
    before backward and the gradient norm before the update (the ``Trainer`` stops there
    on NaN).  ``keep``: randomized truncation's factors (language models)."""
    inputs, targets, lengths, mask = batch if isinstance(batch, Batch) else Batch(*batch)
    model.zero_grad()
    outputs, state = model.forward(inputs, state, lengths)  # LM: O_t = H_t W_hq + b_q (B, T, V)
    value = loss.forward(outputs, targets) if mask is None else \
        loss.forward(outputs, targets, mask)                # mean over the targets that count
    if check is not None:
        check("loss", value)
    if keep is None:
        model.backward(loss.backward())                     # BPTT; dL/dstate0 dropped
    else:
        model.backward(loss.backward(), None, keep=keep)    # randomized truncation (RNNLM)
    norm = clip_grad_norm(model.grads, clip) if clip is not None else grad_norm(model.grads)
    if check is not None:                                   # g <- min(1, theta/||g||) g
        check("gradient norm", norm)
    optimizer.step()                                        # theta <- theta - lr g
    return value, state


def train_epoch(model, batches, loss, optimizer, clip: float | None = 1.0,
                carry_state: bool = True):
    """One epoch of a language model as the book's ``train_epoch_ch8``: returns
    ``(perplexity, tokens/s)``.  ``carry_state``: sequential partitioning (the final state
    starts the next minibatch; its gradient stops there: the book's ``detach``); False:
    each minibatch from zeros.  ``Trainer`` runs this same step with the rest around it."""
    state, nll_sum, tokens = None, 0.0, 0
    start = time.perf_counter()
    for X, Y in batches:
        if not carry_state:
            state = None                                    # zeros: begin_state inside forward
        value, state = train_step(model, (X, Y), state, loss, optimizer, clip)
        nll_sum += value * Y.size                           # mean NLL * tokens = sum of NLLs
        tokens += Y.size
    return perplexity(nll_sum / tokens), tokens / (time.perf_counter() - start)


def _summary(record: dict) -> str:
    """An epoch's numbers in a few words: ``train ppl 5.12, val ppl 4.94, 250,000 tok/s``."""
    parts = [f"{k.replace('_', ' ')} {v:.{2 if k.endswith('ppl') else 4}f}"
             for k, v in record.items() if k not in ("epoch", "tokens_per_s", "wall_s")
             and isinstance(v, (int, float))]                  # losses, then evaluate's
    return f"{', '.join(parts)}, {record['tokens_per_s']:,.0f} tok/s"


class Trainer(TrainerState):
    """Trains any model of ``minirnn.models`` (``train_step`` on every batch).

    Args:
        model: a model following the protocol of ``minirnn.models``.
        data: a language model's ``SeqDataLoader`` / ``WindowedData``, or a re-iterable of
            batches (see the module docstring).
        vocab: the ``Vocab``; needed for samples and checkpoints.
        loss: the loss object (default ``SoftmaxCrossEntropy()``; ``MSELoss()`` for the
            regressors): ``forward(outputs, targets[, mask])``, ``backward()``.
        val_data: batches for the validation loss after every epoch (windowed language
            data brings its own).
        optimizer: ``'sgd'`` or ``'adam'`` (built with ``lr``), or an optimizer object.
        lr: learning rate; schedule: ``'constant'`` or ``'cosine'`` (``lr`` down to 0 over
            the run, per update; needs ``len(data)``).
        clip: theta of global-norm clipping, or None for no clipping.
        bptt, bptt_p: ``'truncated'``, ``'full'`` or ``'randomized'`` (language models).
        seed: seeds the trainer's generator (randomized truncation's coin flips).
        sample_every, sample_prefix, num_preds, token: a language model's greedy sample
            every this many epochs (0 or None: never).
        checkpoint: path of the ``.npz`` saved every ``checkpoint_every`` epochs, after the
            last epoch and on Ctrl-C; the best on validation (``best``, a record key:
            lower is better for a loss or perplexity, higher for anything else) is kept
            beside it as ``<name>-best.npz``.
        config: dict of JSON values stored in checkpoints.
        evaluate: ``evaluate(model) -> dict`` of numbers after every epoch (dropout off),
            added to its record (e.g. a task's accuracy).
        after_step: ``after_step(trainer, loss)`` after every update (e.g. a weight average).
        progress: a bar over each epoch's batches in a terminal (one line an epoch
            elsewhere, through ``log``); log: function for text lines.
        callback: ``callback(trainer, record)`` after every epoch (and its checkpoint).
    """

    #: Seconds between two redraws of the progress bar: a few times a second.
    PROGRESS_INTERVAL = 0.25

    def __init__(self, model, data, vocab=None, loss=None, val_data=None, optimizer="sgd",
                 lr: float = 1.0, schedule: str = "constant", clip: float | None = 1.0,
                 bptt: str = "truncated", bptt_p: float | None = None, seed: int = 0,
                 sample_every: int | None = 10, sample_prefix: str = "time traveller",
                 num_preds: int = 50, token: str = "char", checkpoint=None,
                 checkpoint_every: int = 1, best: str | None = None, config: dict | None = None,
                 evaluate=None, after_step=None, progress: bool = True, log=None,
                 callback=None):
        self.regime = data_regime(data)
        bptt_lib.validate_strategy(bptt, bptt_p)
        if self.regime is None and bptt != "truncated":
            raise ValueError(f"bptt={bptt!r} applies to a language model's data only")
        seed = check_non_negative_int(seed, "seed")           # an int: JSON in checkpoints
        if clip is not None:
            clip = check_positive_number(clip, "clip")
        if token not in ("char", "word"):
            raise ValueError(f"token must be 'char' or 'word', got {token!r}")
        if schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
        if schedule == "cosine" and self.regime is None and not hasattr(data, "__len__"):
            raise ValueError("schedule='cosine' needs data with a length (batches per epoch)")
        self.sample_every = check_non_negative_int(sample_every, "sample_every", allow_none=True)
        if self.regime is None:
            self.sample_every = 0                              # samples: language models only
        self.num_preds = check_non_negative_int(num_preds, "num_preds", allow_none=True)
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
        if (self.sample_every or checkpoint is not None) and vocab is None:
            raise ValueError("vocab is required for samples and checkpoints (got vocab=None); "
                             "pass it, or sample_every=0 and checkpoint=None")
        if vocab is not None and getattr(model, "vocab_size", len(vocab)) != len(vocab):
            raise ValueError(f"vocab has {plural(len(vocab), 'token')} but the model's "
                             f"vocab_size is {model.vocab_size}")
        if vocab is not None and self.regime is not None:      # a prefix samples cannot use
            from .generate import prefix_to_ids                # fails now, not after training
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                # <unk> warnings: at sampling
                prefix_to_ids(sample_prefix, vocab, token)
        self.model, self.data, self.vocab, self.val_data = model, data, vocab, val_data
        self.grads = model.grads
        if isinstance(optimizer, str):
            self.optimizer_name = optimizer
            optimizer = make_optimizer(optimizer, model.params, self.grads, lr)
        else:
            self.optimizer_name = type(optimizer).__name__.lower()
        self.optimizer, self.lr, self.schedule = optimizer, getattr(optimizer, "lr", lr), schedule
        self.clip, self.bptt, self.bptt_p, self.seed = clip, bptt, bptt_p, seed
        self.sample_prefix, self.token = sample_prefix, token
        self.config = dict(config or {})
        self.evaluate, self.after_step, self.callback = evaluate, after_step, callback
        self.progress = progress
        self.log = log or (tqdm.write if progress else print)
        self.loss = loss if loss is not None else SoftmaxCrossEntropy()
        self.rng = np.random.default_rng(seed)
        self.data_rng = getattr(data, "rng", None)             # the order's generator, if any
        self.history = History()
        self.samples: list[list] = []                          # [epoch, text] pairs
        self._last_batch = None        # (batch, state) of the last step, to check its update
        self.setup_state(checkpoint, checkpoint_every, best)
        if self.bptt == "full":
            self._check_full_bptt_memory()

    # ------------------------------------------------------------------ settings
    @property
    def full_sequence(self) -> bool:
        """Full BPTT over sequential partitioning: one window per row of the corpus."""
        return self.bptt == "full" and self.regime == "sequential"

    def _check_full_bptt_memory(self) -> None:
        if not self.full_sequence:
            return
        data = self.data
        row_len = (len(data.corpus) - 1) // data.batch_size           # longest a row can be
        if hasattr(self.model, "cache_bytes"):                 # what one window keeps alive
            bptt_lib.check_full_bptt_memory(self.model.cache_bytes(data.batch_size, row_len))

    def run_config(self) -> dict:
        """What a checkpoint records: the model's shape, the trainer's settings, and
        the caller's ``config`` (which wins on a clash)."""
        cfg = {**self.model.config(), "optimizer": self.optimizer_name, "lr": self.lr,
               "clip": self.clip, "bptt": self.bptt, "bptt_p": self.bptt_p, "seed": self.seed,
               "regime": self.regime, "token": self.token}
        if self.schedule != "constant":
            cfg["schedule"] = self.schedule
        cfg.update(self.config)
        return cfg

    # ------------------------------------------------------------------ one step
    def _step(self, batch, state, epoch: int, step: int, n: int | None):
        """One update (``train_step``) on ``batch`` from ``state``: (mean loss, final state)."""
        keep = None
        if self.regime is not None:
            keep = bptt_lib.keep_factors(self.bptt, batch.inputs.shape[1], self.bptt_p, self.rng)
        if self.schedule == "cosine":
            self.optimizer.lr = cosine_lr(self.lr, self.updates, self.total_updates)

        def check(what, value):                                  # stops before the update
            self._check_finite(what, value, epoch, step, n)

        with np.errstate(over="ignore", invalid="ignore"):      # checked explicitly
            loss, state = train_step(self.model, batch, state, self.loss, self.optimizer,
                                     self.clip, keep=keep, check=check)
        self.updates += 1
        self._checked = False                                    # new parameters, not yet checked
        if self.after_step is not None:
            self.after_step(self, loss)
        return loss, state

    # ----------------------------------------------------------------- one epoch
    def batches_per_epoch(self) -> int | None:
        """Batches in one epoch, if known ahead (sequential or random: at most this many)."""
        if self.regime == "windowed":
            return self.data.num_train_batches
        if self.full_sequence:
            return 1
        if self.regime is not None:
            d = self.data
            return (len(d.corpus) - 1) // d.batch_size // d.num_steps
        return len(self.data) if hasattr(self.data, "__len__") else None

    def _batches(self):
        """This epoch's minibatches, and how many there are (None: not known ahead)."""
        if self.regime == "windowed":
            return self.data.train_iter(), self.data.num_train_batches
        if self.full_sequence:                      # one window spanning each row
            batches = list(iter(self.data))         # (X, Y) (B, T) pairs, in order
            X = np.concatenate([b[0] for b in batches], axis=1)   # (B, L)
            Y = np.concatenate([b[1] for b in batches], axis=1)
            return iter([(X, Y)]), 1
        return iter(self.data), (None if self.regime else self.batches_per_epoch())

    def _progress_bar(self, epoch: int, num_epochs: int, n: int | None, step: int):
        """The bar of one epoch, in a terminal only (``disable=None``: tqdm turns itself off
        when stderr is a file or a pipe; ``_run_epoch`` logs one line an epoch there)."""
        total = self.batches_per_epoch() if n is None else n
        return tqdm(total=total, initial=step, desc=f"epoch {epoch}/{num_epochs}", unit="batch",
                    disable=None if self.progress else True, dynamic_ncols=True,
                    mininterval=self.PROGRESS_INTERVAL, file=sys.stderr)

    def _run_epoch(self, epoch: int, num_epochs: int, will_save: bool = False) -> dict:
        pos = self.take_position()
        started = time.perf_counter()
        batches, n = self._batches()
        for _ in range(pos["step"]):                           # resumed mid-epoch: skip done ones
            next(batches)
        bar = self._progress_bar(epoch, num_epochs, n, pos["step"])
        in_terminal = not bar.disable                          # (close() sets disable)
        try:
            record = self._train_epoch(epoch, batches, n, pos, started, bar, will_save)
        finally:
            bar.close()
        if self.progress and not in_terminal:                  # no terminal: one line an epoch
            self.log(f"epoch {epoch}/{num_epochs}: {_summary(record)}")
        if self.sample_every and epoch % self.sample_every == 0:
            text = self.sample()
            self.samples.append([epoch, text])
            self.log(f"epoch {epoch}: {text!r}")
        elapsed = pos["elapsed_s"] + time.perf_counter() - started
        record["wall_s"] = (self.history[-1]["wall_s"] if len(self.history) else 0.0) + elapsed
        return record

    def _train_epoch(self, epoch, batches, n, pos, started, bar, will_save) -> dict:
        """The epoch's steps from ``pos``, then its checks and validation: its record."""
        step, state = pos["step"], pos["state"]
        loss_sum, tokens, train_s = pos["loss_sum"], pos["tokens"], pos["train_s"]
        for batch in batches:
            batch = as_batch(batch)
            t0 = time.perf_counter()
            if self.regime != "sequential":
                state = None                                   # no carried state: zeros
            self._last_batch = (batch, state)
            loss, state = self._step(batch, state, epoch, step + 1, n)
            train_s += time.perf_counter() - t0
            step += 1
            loss_sum += loss * count(batch)                    # mean * count = sum of losses
            tokens += count(batch)
            bar.set_postfix_str(f"loss {loss:.3f}, {self._loss_words(loss_sum / tokens)}, "
                                f"{tokens / train_s:,.0f} tok/s", refresh=False)
            bar.update(1)                                      # redrawn a few times a second
            if self._interrupted:
                self.keep_position(step, loss_sum, tokens, train_s, pos, started,
                                   state if self.regime == "sequential" else None)
                self._stop(epoch, step, n)
        val = self.data.val_iter() if self.regime == "windowed" and self.data.num_val > 0 \
            else self.val_data
        self._check_new_parameters(epoch, self._last_batch if will_save and val is None else None)
        record = {"epoch": epoch, **self._loss_record("train", loss_sum / tokens)}
        if val is not None:                                    # also checks the new parameters
            with np.errstate(over="ignore", invalid="ignore"):
                val_loss = mean_loss(self.model, val, self.loss)
            self._check_finite("the validation loss", val_loss, epoch, None, None)
            self._checked = True
            record.update(self._loss_record("val", val_loss))
        if self.evaluate is not None:
            with evaluating(self.model):
                record.update(self.evaluate(self.model))
        record["tokens_per_s"] = tokens / train_s if train_s > 0 else float("nan")
        bar.total = step                                       # sequential: the count is now known
        bar.set_postfix_str(_summary(record), refresh=False)
        return record

    def _loss_record(self, split: str, mean: float) -> dict:
        """``{split_ppl: exp(mean)}`` for a language model, else ``{split_loss: mean}``."""
        return {f"{split}_ppl": perplexity(mean)} if self.regime else {f"{split}_loss": mean}

    def _loss_words(self, mean: float) -> str:
        return f"ppl {perplexity(mean):.2f}" if self.regime else f"mean {mean:.4f}"

    def sample(self, prefix: str | None = None, num_preds: int | None = None, **kwargs) -> str:
        """A greedy continuation of ``prefix`` (default: ``sample_prefix``), as ``predict``."""
        from .generate import predict
        return predict(self.sample_prefix if prefix is None else prefix,
                       self.num_preds if num_preds is None else num_preds,
                       self.model, self.vocab, token=self.token, **kwargs)

    # ------------------------------------------------------------------ the loop
    def fit(self, num_epochs: int) -> History:
        """Train until ``num_epochs`` epochs are finished in all (a trainer restored from
        a checkpoint continues from its epoch); return the history."""
        num_epochs = check_positive_int(num_epochs, "num_epochs")
        if num_epochs < self.epoch:
            raise ValueError(f"num_epochs={num_epochs} is fewer than the "
                             f"{plural(self.epoch, 'epoch')} already trained")
        n = self.batches_per_epoch()
        self.total_updates = num_epochs * n if n else None
        with self._sigint_flag():
            while self.epoch < num_epochs:
                will_save = self.checkpoint is not None and (
                    (self.epoch + 1) % self.checkpoint_every == 0 or self.epoch + 1 == num_epochs)
                record = self._run_epoch(self.epoch + 1, num_epochs, will_save)
                self.history.append(record)
                self.epoch += 1
                if will_save:
                    self.save(self.checkpoint)
                if self.callback is not None:
                    self.callback(self, record)
                self.keep_best(record)                         # <checkpoint>-best.npz
                if self._interrupted:                          # Ctrl-C during validation/sample
                    self._stop(self.epoch, 0, None)
        return self.history


def train(model, data, num_epochs: int, vocab=None, **kwargs) -> History:
    """Train ``model`` on ``data`` for ``num_epochs`` epochs; return the ``History``.
    The keyword arguments are ``Trainer``'s."""
    return Trainer(model, data, vocab=vocab, **kwargs).fit(num_epochs)
