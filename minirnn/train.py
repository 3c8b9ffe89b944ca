"""Training a language model: the book's ``train_epoch`` and ``train``, in NumPy.

One step, on a minibatch ``X, Y`` of token ids ``(B, T)``::

    logits, state = model.forward(X, state)        # O_t = H_t W_hq + b_q,  (B, T, V)
    loss = mean_t,b -log softmax(O_t)[Y_t]          # cross-entropy, mean over B*T tokens
    model.backward(dL/dlogits)                      # BPTT inside the window
    g <- min(1, theta / ||g||) g                    # clip the global norm (the book: theta 1)
    param <- param - lr g                           # SGD (or Adam)

The book's three ways to feed the data (``data`` picks one):

* ``SeqDataLoader`` with sequential partitioning: minibatch i + 1 continues minibatch i
  in the text, so the final state is carried into the next minibatch. Its gradient is
  not: ``backward`` returns dL/dstate0 and the trainer drops it (truncated BPTT).
* ``SeqDataLoader`` with random sampling: minibatches are not neighbours in the text,
  so every minibatch starts from the zero state.
* ``WindowedData`` (the 1.0 book): shuffled windows, zero state for each, and the
  validation perplexity after every epoch.

Perplexity is ``exp`` of the mean negative log-likelihood per token over the epoch,
``minirnn.metrics.perplexity``; a model that guesses uniformly scores the vocabulary size.

BPTT strategies (``minirnn.bptt``): ``'truncated'`` (above), ``'randomized'`` (each
step's recurrent gradient kept with probability ``bptt_p`` and reweighted by 1/p,
``RNN.backward(keep=...)``), and ``'full'``: with sequential partitioning each row of
the corpus becomes one window, so the gradient flows from the end of the text to its
start and there is one update per epoch (with random sampling or windows every
minibatch is already a whole sequence, so ``'full'`` is the same as ``'truncated'``).

Faults: a loss or gradient norm that is NaN or infinite (or a loss so large that the
perplexity overflows, ``MAX_LOSS``) stops training with
``TrainingDiverged`` naming the epoch and step, before that step changes anything, and
the last checkpoint on disk is left as it was.  An epoch's last update is checked before
its parameters are recorded or saved: they must be finite, and give a loss that passes
the same test on the validation windows, or, before a checkpoint without validation
data, on the epoch's last batch.  Ctrl-C finishes the current step, saves
a checkpoint of that exact point (when a checkpoint path is set) and raises
``TrainingInterrupted``; resuming from it continues bit for bit.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import bptt as bptt_lib
from . import checkpoint as ckpt_lib
from .data import SeqDataLoader, WindowedData
from .layers import evaluating
from .losses import SoftmaxCrossEntropy
from .metrics import perplexity
from ._checks import check_non_negative_int, check_positive_int, check_positive_number, plural
from ._files import atomic_write_text
from .optim import clip_grad_norm, grad_norm, make_optimizer

__all__ = ["History", "Trainer", "TrainingDiverged", "TrainingInterrupted", "train",
           "train_step", "train_epoch", "evaluate", "mean_nll", "data_regime", "RECORD_KEYS"]

RECORD_KEYS = ("epoch", "train_ppl", "val_ppl", "tokens_per_s", "wall_s")

#: A mean loss above log(largest float) ~ 709.8 nats per token is a perplexity of inf: the
#: model gives the text a probability that underflows to 0.  With tanh the logits stay
#: finite, so a diverging run (lr 1e6, no clipping) shows up as this, not as a NaN.
MAX_LOSS = math.log(sys.float_info.max)


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient norm became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``checkpoint`` is the file saved at that point (or None)."""

    def __init__(self, message: str, epoch: int, step: int, checkpoint: Path | None):
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


class History:
    """Per-epoch records: ``epoch``, ``train_ppl``, ``val_ppl`` (only with validation
    data), ``tokens_per_s`` (training tokens per second of training time) and ``wall_s``
    (seconds since the run began, resumed runs included)."""

    def __init__(self, records=None):
        self.records: list[dict] = [dict(r) for r in (records or [])]

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def column(self, key: str) -> list:
        """Every record's ``key`` (None where a record lacks it), e.g. ``'val_ppl'``."""
        return [r.get(key) for r in self.records]

    def save(self, path) -> Path:
        """Write the records as a JSON list (one object per epoch)."""
        path = Path(path)
        return atomic_write_text(path, json.dumps(self.records, indent=1) + "\n")   # never half

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
        val = f", val_ppl {last['val_ppl']:.3f}" if "val_ppl" in last else ""
        return (f"History({plural(len(self), 'epoch')}, last: train_ppl "
                f"{last['train_ppl']:.3f}{val})")


def data_regime(data) -> str:
    """``'sequential'``, ``'random'`` or ``'windowed'``: how the trainer handles state."""
    if isinstance(data, WindowedData):
        return "windowed"
    if isinstance(data, SeqDataLoader):
        return "random" if data.use_random_iter else "sequential"
    raise TypeError(f"data must be a minirnn.data.SeqDataLoader (sequential partitioning or "
                    f"random sampling) or a minirnn.data.WindowedData, got {type(data).__name__}")


def mean_nll(model, batches, loss=None) -> float:
    """Mean negative log-likelihood per token (nats) of ``model`` on minibatches
    ``(X, Y)``, each from the zero state: ``sum of token NLLs / number of tokens``."""
    loss = loss or SoftmaxCrossEntropy()
    total, count = 0.0, 0
    with evaluating(model):                                    # dropout off
        for X, Y in batches:
            logits, _ = model.forward(X, None)
            total += loss.forward(logits, Y) * Y.size          # mean NLL * tokens = sum of NLLs
            count += Y.size
    if count == 0:
        raise ValueError("evaluate: no tokens to evaluate on")
    return total / count


def evaluate(model, batches, loss=None) -> float:
    """Perplexity of ``model`` on minibatches ``(X, Y)``, each from the zero state:
    ``exp(sum of token NLLs / number of tokens)``."""
    return perplexity(mean_nll(model, batches, loss))


# ------------------------------------------------------------------ the book's loop
def train_step(model, X, Y, state, loss, optimizer, clip: float | None = 1.0, keep=None,
               check=None):
    """One update on a minibatch ``X, Y`` (ids ``(B, T)``) from ``state``; returns
    ``(mean loss, final state)``.  ``check(what, value)``, if given, sees the loss before
    backward and the gradient norm before the update (the ``Trainer`` stops there on NaN)."""
    model.zero_grad()
    logits, state = model.forward(X, state)                  # O_t = H_t W_hq + b_q  (B, T, V)
    value = loss.forward(logits, Y)                          # mean NLL over B*T tokens
    if check is not None:
        check("loss", value)
    model.backward(loss.backward(), None, keep=keep)         # BPTT in the window; dL/dstate0 dropped
    norm = clip_grad_norm(model.grads, clip) if clip is not None else grad_norm(model.grads)
    if check is not None:                                    # g <- min(1, theta/||g||) g
        check("gradient norm", norm)
    optimizer.step()                                         # theta <- theta - lr g
    return value, state


def train_epoch(model, batches, loss, optimizer, clip: float | None = 1.0,
                carry_state: bool = True):
    """One epoch as the book's ``train_epoch_ch8``: returns ``(perplexity, tokens/s)``.

    ``carry_state``: sequential partitioning (minibatch i + 1 continues minibatch i, so
    its final state starts the next one; the gradient stops at the boundary because
    ``dL/dstate0`` is dropped: the book's ``detach``); False: each minibatch starts from
    zeros (random sampling, shuffled windows).  ``Trainer`` runs this same step with
    divergence checks, Ctrl-C, checkpoints and resuming around it."""
    state, nll_sum, tokens = None, 0.0, 0
    start = time.perf_counter()
    for X, Y in batches:
        if not carry_state:
            state = None                                     # zeros: begin_state inside forward
        value, state = train_step(model, X, Y, state, loss, optimizer, clip)
        nll_sum += value * Y.size                            # mean NLL * tokens = sum of NLLs
        tokens += Y.size
    return perplexity(nll_sum / tokens), tokens / (time.perf_counter() - start)


def _summary(record: dict) -> str:
    """An epoch's numbers in a few words: ``train ppl 5.12, val ppl 4.94, 250,000 tok/s``."""
    text = f"train ppl {record['train_ppl']:.2f}"
    if "val_ppl" in record:
        text += f", val ppl {record['val_ppl']:.2f}"
    return f"{text}, {record['tokens_per_s']:,.0f} tok/s"


def _step_name(step: int, n: int | None) -> str:
    return f"step {step}" if n is None else f"step {step} of {n}"


class Trainer:
    """Trains a language model on one of the book's three data regimes.

    Args:
        model: a language model (``minirnn.models``): ``forward(ids, state) -> (logits,
            state)``, ``backward(dlogits, dstate, keep) -> dstate0``, ``params``,
            ``grads``, ``zero_grad``, ``config()``, ``vocab_size``.
        data: ``SeqDataLoader`` (sequential or random) or ``WindowedData``.
        vocab: the ``Vocab``; needed for samples and checkpoints.
        optimizer: ``'sgd'`` or ``'adam'`` (built with ``lr``), or an optimizer object.
        lr: learning rate for a named optimizer.
        clip: theta of global-norm clipping, or None for no clipping.
        bptt: ``'truncated'``, ``'full'`` or ``'randomized'``; ``bptt_p`` the keep
            probability of ``'randomized'``.
        seed: seeds the trainer's generator (randomized truncation's coin flips).
        sample_every: print a greedy sample from ``sample_prefix`` every this many epochs
            (0 or None: never); ``num_preds`` tokens; ``token`` ``'char'`` or ``'word'``.
        checkpoint: path of the ``.npz`` to save every ``checkpoint_every`` epochs, after
            the last epoch and on Ctrl-C (None: no checkpoints).
        config: dict of JSON values stored in checkpoints (data settings, init, ...).
        progress: show progress: in a terminal a bar over each epoch's batches with the
            running loss, perplexity and tokens/s, redrawn every ``PROGRESS_INTERVAL``
            seconds; elsewhere (a log file, a pipe) one line an epoch, through ``log``.
        log: function for text lines (samples); default ``tqdm.write``.
        callback: ``callback(trainer, record)`` after every epoch (and its checkpoint).
    """

    #: Seconds between two redraws of the progress bar: a few times a second.
    PROGRESS_INTERVAL = 0.25

    def __init__(self, model, data, vocab=None, optimizer="sgd", lr: float = 1.0,
                 clip: float | None = 1.0, bptt: str = "truncated", bptt_p: float | None = None,
                 seed: int = 0, sample_every: int | None = 10,
                 sample_prefix: str = "time traveller", num_preds: int = 50,
                 token: str = "char", checkpoint=None, checkpoint_every: int = 1,
                 config: dict | None = None, progress: bool = True, log=None, callback=None):
        self.regime = data_regime(data)
        bptt_lib.validate_strategy(bptt, bptt_p)
        seed = check_non_negative_int(seed, "seed")           # an int: JSON in checkpoints
        if clip is not None:
            clip = check_positive_number(clip, "clip")
        if token not in ("char", "word"):
            raise ValueError(f"token must be 'char' or 'word', got {token!r}")
        self.sample_every = check_non_negative_int(sample_every, "sample_every", allow_none=True)
        self.num_preds = check_non_negative_int(num_preds, "num_preds", allow_none=True)
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
        if (self.sample_every or checkpoint is not None) and vocab is None:
            raise ValueError("vocab is required for samples and checkpoints (got vocab=None); "
                             "pass it, or sample_every=0 and checkpoint=None")
        if vocab is not None and len(vocab) != model.vocab_size:
            raise ValueError(f"vocab has {plural(len(vocab), 'token')} but the model's "
                             f"vocab_size is {model.vocab_size}")
        if vocab is not None:                                  # a prefix samples cannot use
            from .generate import prefix_to_ids                # fails now, not after training
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                # <unk> warnings: at sampling
                prefix_to_ids(sample_prefix, vocab, token)
        self.model, self.data, self.vocab = model, data, vocab
        self.grads = model.grads
        if isinstance(optimizer, str):
            self.optimizer_name = optimizer
            optimizer = make_optimizer(optimizer, model.params, self.grads, lr)
        else:
            self.optimizer_name = type(optimizer).__name__.lower()
        self.optimizer = optimizer
        self.clip, self.bptt, self.bptt_p, self.seed = clip, bptt, bptt_p, seed
        self.sample_prefix, self.token = sample_prefix, token
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.config = dict(config or {})
        self.progress = progress
        self.log = log or (tqdm.write if progress else print)
        self.callback = callback
        self.loss = SoftmaxCrossEntropy()
        self.rng = np.random.default_rng(seed)
        self.epoch = 0                 # finished epochs
        self.history = History()
        self.samples: list[list] = []  # [epoch, text] pairs
        self._position = None          # where an interrupted epoch stopped (see _run_epoch)
        self._interrupted = False
        self._last_batch = None        # (X, Y, state) of the last step, to check its update
        self.saved_at: str | None = None   # where the checkpoint on disk is from ('epoch 2')
        self._checked = True           # the parameters passed a loss check since the last update
        if self.bptt == "full":
            self._check_full_bptt_memory()
        if self.checkpoint is not None:                        # fail now, not at the first save
            ckpt_lib.check_jsonable(self.run_config(), "config")

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
        cfg = {**self.model.config(), "optimizer": self.optimizer_name, "lr": getattr(self.optimizer, "lr", None),
               "clip": self.clip, "bptt": self.bptt, "bptt_p": self.bptt_p, "seed": self.seed,
               "regime": self.regime, "token": self.token}
        cfg.update(self.config)
        return cfg

    # ------------------------------------------------------------------ one step
    def _step(self, X, Y, state, epoch: int, step: int, num_steps_in_epoch: int | None):
        """One update on ``(X, Y)`` from ``state``; returns (mean loss, final state)."""
        keep = bptt_lib.keep_factors(self.bptt, X.shape[1], self.bptt_p, self.rng)

        def check(what, value):                                  # stops before the update
            self._check_finite(what, value, epoch, step, num_steps_in_epoch)

        with np.errstate(over="ignore", invalid="ignore"):      # checked explicitly
            loss, state = train_step(self.model, X, Y, state, self.loss, self.optimizer,
                                     self.clip, keep=keep, check=check)
        self._checked = False                                    # new parameters, not yet checked
        return loss, state

    def _check_finite(self, what, value, epoch, step, num_steps_in_epoch, when=None):
        """Stop with ``TrainingDiverged`` if ``value`` is NaN or infinite, or is a loss
        whose perplexity overflows.  ``step`` None: checked after the epoch's last update
        (``when`` overrides how the message says where)."""
        if np.isfinite(value) and not ("loss" in what and value > MAX_LOSS):
            return
        if np.isfinite(value):
            value = f"{value:.4g} (perplexity exp(loss) overflows to inf)"
        self._diverged(f"{what} became {value}", epoch, step, num_steps_in_epoch, when)

    def _diverged(self, what: str, epoch, step, num_steps_in_epoch, when: str | None = None):
        where = self.last_checkpoint_note()
        if when is None:
            when = (f"at epoch {epoch}, {_step_name(step, num_steps_in_epoch)}: training stopped "
                    f"before this step changed the parameters" if step is not None else
                    f"after the last update of epoch {epoch}: training stopped before these "
                    f"parameters were saved")
        raise TrainingDiverged(f"{what} {when} ({where}). Lower the learning rate or clip "
                               f"the gradients (clip={self.clip}).")

    def _check_new_parameters(self, epoch: int, last_batch, when: str | None = None) -> None:
        """Before parameters are recorded or saved: every entry finite and, if
        ``last_batch`` ``(X, Y, state)`` is given, the loss they give on it a number whose
        perplexity does not overflow (one more forward pass: only done before a checkpoint
        that validation has not checked, so that no checkpoint holds diverged parameters)."""
        bad = [k for k, p in self.model.params.items() if not np.isfinite(p).all()]
        if bad:
            self._diverged(f"parameters {', '.join(bad)} became NaN or infinite", epoch, None,
                           None, when)
        if last_batch is not None:
            X, Y, state = last_batch
            with np.errstate(over="ignore", invalid="ignore"):
                logits, _ = self.model.forward(X, state)
                loss = self.loss.forward(logits, Y)
            self._check_finite("the loss on the last batch", loss, epoch, None, None, when)
            self._checked = True

    # ----------------------------------------------------------------- one epoch
    def _batches(self):
        """This epoch's minibatches, and how many there are (None: not known ahead)."""
        if self.regime == "windowed":
            return self.data.train_iter(), self.data.num_train_batches
        if self.full_sequence:                      # one window spanning each row
            batches = list(iter(self.data))         # (X, Y) (B, T) pairs, in order
            X = np.concatenate([b[0] for b in batches], axis=1)   # (B, L)
            Y = np.concatenate([b[1] for b in batches], axis=1)
            return iter([(X, Y)]), 1
        return iter(self.data), None

    def _progress_bar(self, epoch: int, num_epochs: int, n: int | None, step: int):
        """The bar of one epoch, counting its batches: in a terminal only (``disable=None``:
        tqdm turns itself off when stderr is a file or a pipe, so no bar text floods a log;
        ``_run_epoch`` logs one line an epoch there instead)."""
        if n is None:                               # sequential or random: at most this many
            d = self.data
            n = (len(d.corpus) - 1) // d.batch_size // d.num_steps
        return tqdm(total=n, initial=step, desc=f"epoch {epoch}/{num_epochs}", unit="batch",
                    disable=None if self.progress else True, dynamic_ncols=True,
                    mininterval=self.PROGRESS_INTERVAL, file=sys.stderr)

    def _run_epoch(self, epoch: int, num_epochs: int, will_save: bool = False) -> dict:
        pos = self._position or {"step": 0, "loss_sum": 0.0, "tokens": 0, "train_s": 0.0,
                                 "elapsed_s": 0.0, "state": None,
                                 "data_rng": self.data.rng.bit_generator.state}
        self._position = None
        self.data.rng.bit_generator.state = pos["data_rng"]   # the epoch's order, as it began
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
        for X, Y in batches:
            t0 = time.perf_counter()
            if self.regime != "sequential":
                state = None                                   # random order: fresh zero state
            self._last_batch = (X, Y, state)
            loss, state = self._step(X, Y, state, epoch, step + 1, n)
            train_s += time.perf_counter() - t0
            step += 1
            loss_sum += loss * Y.size                          # sum of token NLLs
            tokens += Y.size
            bar.set_postfix_str(f"loss {loss:.3f}, ppl {perplexity(loss_sum / tokens):.2f}, "
                                f"{tokens / train_s:,.0f} tok/s", refresh=False)
            bar.update(1)                                      # redrawn a few times a second
            if self._interrupted:
                self._position = {"step": step, "loss_sum": loss_sum, "tokens": tokens,
                                  "train_s": train_s, "data_rng": pos["data_rng"],
                                  "state": state if self.regime == "sequential" else None,
                                  "elapsed_s": pos["elapsed_s"] + time.perf_counter() - started}
                self._stop(epoch, step, n)
        validating = self.regime == "windowed" and self.data.num_val > 0
        self._check_new_parameters(epoch, self._last_batch if will_save and not validating else None)
        record = {"epoch": epoch, "train_ppl": perplexity(loss_sum / tokens)}
        if validating:                                         # also checks the new parameters
            with np.errstate(over="ignore", invalid="ignore"):
                val_nll = mean_nll(self.model, self.data.val_iter(), self.loss)
            self._check_finite("the validation loss", val_nll, epoch, None, None)
            self._checked = True
            record["val_ppl"] = perplexity(val_nll)
        record["tokens_per_s"] = tokens / train_s if train_s > 0 else float("nan")
        bar.total = step                                       # sequential: the count is now known
        bar.set_postfix_str(_summary(record), refresh=False)
        return record

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
                if self._interrupted:                          # Ctrl-C during validation/sample
                    self._stop(self.epoch, 0, None)
        return self.history

    @contextmanager
    def _sigint_flag(self):
        """While training, the first Ctrl-C sets a flag that the loop checks after each
        step (so no update is left half done); a second Ctrl-C stops at once."""
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

    def _stop(self, epoch: int, step: int, n: int | None):
        where = f"epoch {epoch}, {_step_name(step, n)}" if step else f"the end of epoch {epoch}"
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
        an error message: ``'the last good checkpoint, runs/x/checkpoint.npz, is unchanged
        (from epoch 2)'``, or ``'no checkpoint was saved'``."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return "no checkpoint was saved"
        if self.saved_at is None:
            return f"the last good checkpoint, {self.checkpoint}, is unchanged"
        return f"the last good checkpoint, {self.checkpoint}, is unchanged (from {self.saved_at})"

    @staticmethod
    def _point(epoch: int, position: dict | None) -> str:
        """'epoch 2' (the end of it), or 'epoch 3, step 17' for a checkpoint mid-epoch."""
        return f"epoch {epoch + 1}, step {position['step']}" if position else f"epoch {epoch}"

    def save(self, path) -> Path:
        """Save a checkpoint of this exact point of training (see ``minirnn.checkpoint``)."""
        if self.vocab is None:
            raise ValueError("a checkpoint needs the vocabulary: this Trainer has vocab=None")
        pos = self._position
        extra = {"samples": self.samples, "position": None}
        arrays = {}
        data_rng = self.data.rng.bit_generator.state
        if pos is not None:                                    # mid-epoch (Ctrl-C)
            extra["position"] = {k: pos[k] for k in ("step", "loss_sum", "tokens", "train_s",
                                                     "elapsed_s")}
            data_rng = pos["data_rng"]
            if pos["state"] is not None:
                arrays.update(ckpt_lib.state_to_arrays(pos["state"]))
        saved = ckpt_lib.save(path, self.model, self.vocab, self.optimizer.state_dict(),
                              self.run_config(), self.epoch,
                              {"data": data_rng, "trainer": self.rng.bit_generator.state},
                              history=self.history.records, extra=extra, extra_arrays=arrays)
        if self.checkpoint is not None and Path(path).resolve() == self.checkpoint.resolve():
            self.saved_at = self._point(self.epoch, extra["position"])
        return saved

    def restore(self, ckpt) -> "Trainer":
        """Continue from a checkpoint (a ``Checkpoint`` or a path): parameters, optimizer,
        epoch, history, random generators and, if it was saved mid-epoch, the position
        in that epoch with its carried state."""
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
        for key, rng in (("data", self.data.rng), ("trainer", self.rng)):
            try:                                               # on a spare generator: checked
                type(rng.bit_generator)().state = ckpt.rng_state[key]   # before anything changes
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"checkpoint {ckpt.path} has no usable {key!r} random-generator "
                                 f"state for this trainer's {type(rng.bit_generator).__name__}: "
                                 f"{err}") from None
        self.optimizer.load_state_dict(ckpt.optimizer_state)   # checks, then changes
        for k, p in own.items():
            p[...] = ckpt.params[k]
        self.epoch = ckpt.epoch
        self.history = History(ckpt.history)
        self.samples = [list(s) for s in ckpt.extra.get("samples", [])]
        self.data.rng.bit_generator.state = ckpt.rng_state["data"]
        self.rng.bit_generator.state = ckpt.rng_state["trainer"]
        pos = ckpt.extra.get("position")
        if self.checkpoint is not None and ckpt.path is not None \
                and Path(ckpt.path).resolve() == self.checkpoint.resolve():
            self.saved_at = self._point(ckpt.epoch, pos)
        self._position = None
        if pos:
            self._position = dict(pos, data_rng=ckpt.rng_state["data"],
                                  state=ckpt_lib.state_from_arrays(ckpt.extra_arrays))
        return self


def train(model, data, num_epochs: int, vocab=None, **kwargs) -> History:
    """Train ``model`` on ``data`` for ``num_epochs`` epochs; return the ``History``.

    The keyword arguments are ``Trainer``'s (optimizer, lr, clip, bptt, bptt_p, seed,
    sample_every, sample_prefix, num_preds, checkpoint, progress, ...).
    """
    return Trainer(model, data, vocab=vocab, **kwargs).fit(num_epochs)
