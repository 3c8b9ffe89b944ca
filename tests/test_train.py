"""Tests of minirnn.train on a tiny corpus: the book's three data regimes, the step by
hand, BPTT strategies, faults (NaN, Ctrl-C) and bad input; and plotting.plot_history."""
import io
import json
import os
import re
import signal
import sys

import numpy as np
import pytest

from minirnn.bptt import FullBPTTMemoryError
from minirnn.checkpoint import load
from minirnn.data import SeqDataLoader, WindowedData, build_corpus
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.models import RNNLM
from minirnn.optim import SGD, clip_grad_norm
from minirnn.plotting import plot_history
from minirnn.presets import make_data, preset_config
from minirnn.losses import SoftmaxCrossEntropy
from minirnn.train import (History, Trainer, TrainingDiverged, TrainingInterrupted, evaluate, train,
                           train_epoch)

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled and his usually pale "
        "face was flushed and animated ") * 10


@pytest.fixture(scope="module")
def corpus_vocab():
    return build_corpus(TEXT)


def seq_data(corpus, kind="sequential", seed=0, B=4, T=8):
    return SeqDataLoader(corpus, B, T, use_random_iter=kind == "random", seed=seed)


def win_data(corpus, seed=0):
    return WindowedData(corpus, 8, num_train=400, num_val=100, batch_size=50, seed=seed)


def quiet(model, data, vocab, **kwargs):
    kwargs.setdefault("sample_every", 0)
    return Trainer(model, data, vocab=vocab, progress=False, **kwargs)


class Spy(RNNLM):
    """An RNNLM that records what the trainer passes to forward and backward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def forward(self, X, state=None, lengths=None):
        logits, out = super().forward(X, state, lengths)
        assert isinstance(out, tuple) and (state is None or isinstance(state, tuple))
        (h,) = out                                              # the state is a tuple (h,)
        self.calls.append({"X": X.copy(), "state": None if state is None else state[0].copy(),
                           "out": h.copy()})
        return logits, out

    def backward(self, dlogits, dstate=None, keep=None):
        self.calls[-1].update(dstate=dstate, keep=None if keep is None else keep.copy())
        return super().backward(dlogits, dstate, keep=keep)


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("kind", ["sequential", "random", "windowed"])
def test_loss_falls(corpus_vocab, kind):
    corpus, vocab = corpus_vocab
    data = win_data(corpus) if kind == "windowed" else seq_data(corpus, kind)
    history = train(RNNLM(len(vocab), 32, seed=0), data, 6, vocab=vocab, optimizer="adam",
                    lr=0.01, sample_every=0, progress=False)
    ppl = history.column("train_ppl")
    assert ppl[0] > 10 and ppl[-1] < 0.5 * ppl[0], ppl
    if kind == "windowed":
        val = history.column("val_ppl")
        assert val[-1] < 0.5 * val[0], val


def test_uniform_model_perplexity_is_the_vocabulary_size(corpus_vocab):
    corpus, vocab = corpus_vocab
    model = RNNLM(len(vocab), 8)
    for p in model.params.values():
        p[...] = 0                                       # logits 0: softmax is uniform
    assert evaluate(model, win_data(corpus).val_iter()) == pytest.approx(len(vocab), rel=1e-6)
    assert evaluate(model, iter(seq_data(corpus))) == pytest.approx(len(vocab), rel=1e-6)


def test_history_records(corpus_vocab, tmp_path):
    corpus, vocab = corpus_vocab
    h = train(RNNLM(len(vocab), 8), win_data(corpus), 3, vocab=vocab, sample_every=0, progress=False)
    assert [r["epoch"] for r in h] == [1, 2, 3]
    for r in h:
        assert set(r) == {"epoch", "train_ppl", "val_ppl", "tokens_per_s", "wall_s"}
        assert r["tokens_per_s"] > 0 and 1 < r["train_ppl"] < 100 and 1 < r["val_ppl"] < 100
    assert h[0]["wall_s"] < h[1]["wall_s"] < h[2]["wall_s"]
    assert json.loads(h.save(tmp_path / "h.json").read_text()) == h.records
    h2 = train(RNNLM(len(vocab), 8), seq_data(corpus), 1, vocab=vocab, sample_every=0, progress=False)
    assert "val_ppl" not in h2[0]                         # no validation data, no val_ppl


def test_prints_a_sample_every_k_epochs(corpus_vocab):
    corpus, vocab = corpus_vocab
    lines = []
    t = quiet(RNNLM(len(vocab), 8), seq_data(corpus), vocab, sample_every=2, log=lines.append,
              sample_prefix="time ", num_preds=7)
    t.fit(5)
    assert [line.split(":")[0] for line in lines] == ["epoch 2", "epoch 4"]
    assert [e for e, _ in t.samples] == [2, 4]
    assert all(len(text) == len("time ") + 7 and text.startswith("time ") for _, text in t.samples)


# ----------------------------------------------------------- the step by hand
def test_sequential_step_is_the_books_loop_by_hand(corpus_vocab):
    corpus, vocab = corpus_vocab
    trained = RNNLM(len(vocab), 8, seed=2)
    quiet(trained, seq_data(corpus, seed=5), vocab, lr=0.7, clip=0.5).fit(1)

    model, loss = RNNLM(len(vocab), 8, seed=2), SoftmaxCrossEntropy()
    opt = SGD(model.params, model.grads, lr=0.7)
    state = None                                          # the book: state None at epoch start
    for X, Y in seq_data(corpus, seed=5):
        model.zero_grad()
        logits, state = model.forward(X, state)           # carried over, detached
        loss.forward(logits, Y)
        model.backward(loss.backward())                   # dL/dstate0 dropped
        clip_grad_norm(model.grads, 0.5)
        opt.step()
    for k, p in model.params.items():
        np.testing.assert_array_equal(trained.params[k], p)


@pytest.mark.parametrize("kind", ["sequential", "random", "windowed"])
def test_state_is_carried_only_with_sequential_partitioning(corpus_vocab, kind):
    corpus, vocab = corpus_vocab
    spy = Spy(len(vocab), 8)
    data = win_data(corpus) if kind == "windowed" else seq_data(corpus, kind)
    quiet(spy, data, vocab).fit(2)
    calls = [c for c in spy.calls if "dstate" in c]       # training steps (validation has none)
    assert len(calls) > 4
    for prev, c in zip(calls, calls[1:]):
        assert c["dstate"] is None                        # no gradient from beyond the window
        if kind == "sequential" and c["state"] is not None:
            np.testing.assert_array_equal(c["state"], prev["out"])
    starts = [c["state"] is None for c in calls]
    if kind == "sequential":                              # zero state only at each epoch's start
        per_epoch = len(calls) // 2
        assert starts == ([True] + [False] * (per_epoch - 1)) * 2
    else:
        assert all(starts)


def test_full_bptt_is_one_window_per_row(corpus_vocab):
    corpus, vocab = corpus_vocab
    spy = Spy(len(vocab), 8)
    truncated = [X for X, _ in seq_data(corpus, seed=3)]
    quiet(spy, seq_data(corpus, seed=3), vocab, bptt="full").fit(1)
    assert len(spy.calls) == 1                            # one update per epoch
    X = spy.calls[0]["X"]
    np.testing.assert_array_equal(X, np.concatenate(truncated, axis=1))   # (B, L): whole rows
    assert X.shape == (4, 8 * len(truncated)) and spy.calls[0]["state"] is None


def test_full_bptt_refuses_a_sequence_too_long_for_memory(corpus_vocab):
    _, vocab = corpus_vocab
    long_corpus = np.zeros(3_000_000, dtype=np.int64)
    model = RNNLM(len(vocab), 512)
    before = model.params["rnn.W_hh"].copy()
    with pytest.raises(FullBPTTMemoryError, match="full BPTT over this sequence needs about"):
        Trainer(model, SeqDataLoader(long_corpus, 2, 35), vocab=vocab, bptt="full", progress=False)
    np.testing.assert_array_equal(model.params["rnn.W_hh"], before)


def test_randomized_truncation_passes_seeded_keep_factors(corpus_vocab):
    corpus, vocab = corpus_vocab
    keeps = []
    for _ in range(2):
        spy = Spy(len(vocab), 8)
        quiet(spy, seq_data(corpus), vocab, bptt="randomized", bptt_p=0.25, seed=9).fit(1)
        keeps.append(np.array([c["keep"] for c in spy.calls]))
    k = keeps[0]
    assert k.shape == (len(spy.calls), 8)
    assert set(np.unique(k)) == {0.0, 4.0}                # xi / p, xi ~ Bernoulli(0.25)
    np.testing.assert_array_equal(keeps[0], keeps[1])     # seeded
    spy = Spy(len(vocab), 8)
    quiet(spy, seq_data(corpus), vocab).fit(1)
    assert all(c["keep"] is None for c in spy.calls)      # truncated: no factors


# ------------------------------------------------------------------- faults
def test_a_diverging_run_stops_with_the_epoch_and_step(corpus_vocab):
    corpus, vocab = corpus_vocab
    t = quiet(RNNLM(len(vocab), 16), seq_data(corpus), vocab, lr=1e6, clip=None)
    with pytest.raises(TrainingDiverged, match=r"loss became .* at epoch 1, step \d+: training stopped") as info:
        t.fit(3)
    assert len(t.history) == 0
    # the Python API names its argument (the command line puts it in its flag's words)
    assert str(info.value).endswith("clip the gradients (clip=None).") and "--clip" not in str(info.value)


def test_nan_leaves_the_last_good_checkpoint_intact(corpus_vocab, tmp_path):
    corpus, vocab = corpus_vocab
    path = tmp_path / "ck.npz"
    t = quiet(RNNLM(len(vocab), 8), seq_data(corpus), vocab, checkpoint=path)
    t.fit(2)
    good = path.read_bytes()
    t.model.params["output.b"][0] = np.nan               # a broken parameter
    with pytest.raises(TrainingDiverged, match=rf"loss became nan at epoch 3, step 1: .*{path.name}, is unchanged"):
        t.fit(4)
    assert path.read_bytes() == good
    assert load(path).epoch == 2


def test_parameters_an_epochs_last_update_broke_are_never_saved(corpus_vocab, tmp_path):
    """Full BPTT: one update per epoch.  The update of epoch 2 makes the loss overflow; the
    checkpoint of epoch 1 must stay, and epoch 2 must be neither recorded nor saved."""
    corpus, vocab = corpus_vocab
    path = tmp_path / "ck.npz"
    t = quiet(RNNLM(len(vocab), 16, seed=1), seq_data(corpus), vocab, bptt="full", clip=None,
              checkpoint=path)
    t.fit(1)
    good = path.read_bytes()
    t.optimizer.lr = 1e6
    with pytest.raises(TrainingDiverged, match=r"the loss on the last batch became .* "
                                               r"after the last update of epoch 2: .*is unchanged"):
        t.fit(3)
    assert path.read_bytes() == good and len(t.history) == 1


def test_non_finite_parameters_or_validation_loss_stop_a_windowed_run(corpus_vocab, tmp_path,
                                                                     monkeypatch):
    corpus, vocab = corpus_vocab
    path = tmp_path / "ck.npz"
    one_batch = WindowedData(corpus, 8, num_train=50, num_val=50, batch_size=50)  # 1 update/epoch
    t = quiet(RNNLM(len(vocab), 8), one_batch, vocab, optimizer="adam", lr=1e300, clip=None,
              checkpoint=path)
    with pytest.raises(TrainingDiverged, match="the new parameters: parameter .* non-finite .* after the "
                                               "last update of epoch 1: .*no checkpoint was saved"):
        t.fit(2)
    assert not path.exists()
    import minirnn.train as train_module
    monkeypatch.setattr(train_module, "mean_loss", lambda *a, **k: float("nan"))
    t = quiet(RNNLM(len(vocab), 8), win_data(corpus), vocab, checkpoint=path)
    with pytest.raises(TrainingDiverged, match="the validation loss became nan after the last "
                                               "update of epoch 1"):
        t.fit(1)
    assert not path.exists() and len(t.history) == 0


def interrupting(batches, data):
    """Pass ``batches`` on, sending Ctrl-C (SIGINT) to this process while handing out batch
    ``data.at[1]`` of epoch ``data.at[0]`` (from 1), as a user pressing it mid-step would."""
    data.epochs_started = getattr(data, "epochs_started", 0) + 1
    for i, batch in enumerate(batches, start=1):
        if data.at == (data.epochs_started, i):
            os.kill(os.getpid(), signal.SIGINT)
        yield batch


class InterruptingLoader(SeqDataLoader):
    at = None

    def __iter__(self):
        return interrupting(super().__iter__(), self)


class InterruptingWindows(WindowedData):
    at = None

    def train_iter(self):
        return interrupting(super().train_iter(), self)


@pytest.mark.parametrize("kind", ["sequential", "windowed"])
def test_ctrl_c_saves_a_checkpoint_and_resuming_is_bit_identical(corpus_vocab, tmp_path, kind):
    corpus, vocab = corpus_vocab

    def trainer(data, path=None):
        return quiet(RNNLM(len(vocab), 8, seed=1), data, vocab, optimizer="adam", lr=0.01,
                     checkpoint=path)

    def fresh_data(cls=None):
        if kind == "windowed":
            return (cls or WindowedData)(corpus, 8, num_train=400, num_val=100, batch_size=50, seed=4)
        return (cls or SeqDataLoader)(corpus, 4, 8, seed=4)

    straight = trainer(fresh_data())
    straight.fit(3)
    path = tmp_path / "ck.npz"
    data = fresh_data(InterruptingWindows if kind == "windowed" else InterruptingLoader)
    data.at = (2, 3)
    first = trainer(data, path)
    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 2, step 3( of 8)?; "
                                                  r"checkpoint saved to") as info:
        first.fit(3)
    assert (info.value.epoch, info.value.step, info.value.checkpoint) == (2, 3, path)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored
    ck = load(path)
    assert ck.epoch == 1 and ck.extra["position"]["step"] == 3
    assert ("state/0" in ck.extra_arrays) == (kind == "sequential")   # the carried state (h,)

    second = trainer(fresh_data())
    second.restore(path)
    second.fit(3)
    for k, p in straight.model.params.items():
        assert np.array_equal(second.model.params[k], p), f"{k} differs after Ctrl-C and resume"
    assert second.history.column("train_ppl") == straight.history.column("train_ppl")


def test_without_a_checkpoint_path_ctrl_c_still_stops_cleanly(corpus_vocab):
    corpus, vocab = corpus_vocab
    data = InterruptingLoader(corpus, 4, 8)
    data.at = (1, 2)
    t = quiet(RNNLM(len(vocab), 8), data, vocab)
    with pytest.raises(TrainingInterrupted, match="no checkpoint path set"):
        t.fit(2)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(bptt="sometimes"), ValueError, "bptt must be one of 'truncated', 'full', 'randomized', got 'sometimes'"),
    (dict(bptt="randomized"), ValueError, r"p \(the keep probability of randomized truncation\) must be in \(0, 1\], got None"),
    (dict(bptt="randomized", bptt_p=1.5), ValueError, "must be in .0, 1., got 1.5"),
    (dict(clip=0), ValueError, "clip must be a positive number, got 0"),
    (dict(clip=-1.0), ValueError, "clip must be a positive number, got -1.0"),
    (dict(lr=0), ValueError, "lr must be a positive number, got 0"),
    (dict(optimizer="rmsprop"), ValueError, "optimizer must be one of 'sgd', 'adam', got 'rmsprop'"),
    (dict(sample_every=-2), ValueError, "sample_every must be a non-negative int or None, got -2"),
    (dict(checkpoint_every=0), ValueError, "checkpoint_every must be a positive int, got 0"),
    (dict(token="byte"), ValueError, "token must be 'char' or 'word', got 'byte'"),
])
def test_bad_trainer_arguments(corpus_vocab, kwargs, error, match):
    corpus, vocab = corpus_vocab
    model = RNNLM(len(vocab), 8)
    before = {k: p.copy() for k, p in model.params.items()}
    with pytest.raises(error, match=match):
        Trainer(model, seq_data(corpus), vocab=vocab, progress=False, **kwargs)
    for k, p in model.params.items():
        np.testing.assert_array_equal(p, before[k])


def test_bad_data_model_and_epochs(corpus_vocab):
    corpus, vocab = corpus_vocab
    model = RNNLM(len(vocab), 8)
    with pytest.raises(TypeError, match="data must be a minirnn.data.SeqDataLoader, a "
                                        "WindowedData or a re-iterable of batches, got int"):
        Trainer(model, 3, vocab=vocab)
    with pytest.raises(ValueError, match="bptt='full' applies to a language model's data only"):
        Trainer(model, [(corpus[None, :8], corpus[None, 1:9])], vocab=vocab, bptt="full")
    with pytest.raises(ValueError, match=f"vocab has 5 tokens but the model's vocab_size is {len(vocab)}"):
        Trainer(model, seq_data(corpus), vocab=build_corpus("abcd")[1])
    with pytest.raises(ValueError, match="vocab is required for samples and checkpoints"):
        Trainer(model, seq_data(corpus), vocab=None)
    t = quiet(model, seq_data(corpus), vocab)
    for bad in (0, -3, 2.5, True):
        with pytest.raises((TypeError, ValueError), match="num_epochs must be a positive int"):
            t.fit(bad)
    t.fit(2)
    with pytest.raises(ValueError, match="num_epochs=1 is fewer than the 2 epochs already trained"):
        t.fit(1)


def test_run_configs_fail_before_any_work(tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("the time machine " * 20)           # 340 characters
    with pytest.raises(ValueError, match="preset must be one of default, d2l-0.17"):
        preset_config("d2l-2.0")
    with pytest.raises(ValueError, match=r"unknown config keys \['hiden'\]"):
        preset_config("default", hiden=3)
    with pytest.raises(FileNotFoundError, match="neither a known corpus"):
        make_data(preset_config("d2l-0.17", corpus=str(tmp_path / "missing.txt")))
    with pytest.raises(ValueError, match="corpus has 340 tokens, too short for one minibatch"):
        make_data(preset_config("d2l-0.17", corpus=str(small)))
    with pytest.raises(ValueError, match="corpus has 340 tokens, too short: num_train=10000"):
        make_data(preset_config("d2l-1.0", corpus=str(small)))
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, \d+\], got 0"):
        make_data(preset_config("d2l-0.17", corpus=str(small), batch_size=0))
    with pytest.raises(ValueError, match="sampling must be one of sequential, random, windowed"):
        make_data(preset_config("d2l-0.17", corpus=str(small), sampling="strided"))


# ------------------------------------------------------------------ plotting
def test_plot_history_writes_a_png(tmp_path, corpus_vocab):
    corpus, vocab = corpus_vocab
    h = train(RNNLM(len(vocab), 8), win_data(corpus), 2, vocab=vocab, sample_every=0, progress=False)
    path = plot_history(h, tmp_path / "sub" / "ppl.png", title="tiny")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    plot_history(h.records, tmp_path / "list.png")       # a plain list of records works too
    with pytest.raises(ValueError, match="history is empty"):
        plot_history(History(), tmp_path / "empty.png")
    with pytest.raises(ValueError, match="path must end in .png"):
        plot_history(h, tmp_path / "ppl.pdf")


def test_ctrl_c_right_after_a_diverging_update_saves_nothing(corpus_vocab, tmp_path):
    """lr 1e6 without clipping: the first update blows the loss up, and Ctrl-C arrives during
    that step.  The checkpoint Ctrl-C would write must be refused, not saved."""
    corpus, vocab = corpus_vocab
    data = InterruptingLoader(corpus, 4, 8, seed=0)
    data.at = (1, 1)
    path = tmp_path / "ck.npz"
    t = quiet(RNNLM(len(vocab), 16, seed=1), data, vocab, lr=1e6, clip=None, checkpoint=path)
    try:
        t.fit(2)
    except TrainingInterrupted as err:                    # a KeyboardInterrupt: catch it here
        pytest.fail(f"the diverged parameters were saved: {err}")
    except TrainingDiverged as err:
        assert re.search(r"the loss on the last batch became .* in the last update before Ctrl-C "
                         r"\(interrupted at epoch 1, step 1\): these parameters were not saved",
                         str(err)), err
    else:
        pytest.fail("training went on")
    assert not path.exists()


def test_history_is_written_all_or_nothing(tmp_path, monkeypatch):
    import minirnn._files
    path = tmp_path / "history.json"
    History([{"epoch": 1, "train_ppl": 5.0}]).save(path)
    before = path.read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(minirnn._files.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        History([{"epoch": 1, "train_ppl": 5.0}, {"epoch": 2, "train_ppl": 4.0}]).save(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]


@pytest.mark.parametrize("kind", ["sequential", "random", "windowed"])
def test_the_books_train_epoch_is_the_trainers_step(corpus_vocab, kind):
    """``train_epoch`` (the book's loop, plain) and ``Trainer`` (the same step with checks,
    Ctrl-C and checkpoints around it) make bit-identical updates."""
    corpus, vocab = corpus_vocab
    data = (lambda: win_data(corpus)) if kind == "windowed" else (lambda: seq_data(corpus, kind))
    a, b = RNNLM(len(vocab), 16, seed=1), RNNLM(len(vocab), 16, seed=1)
    quiet(a, data(), vocab, lr=1.0, clip=1.0).fit(2)
    d = data()
    batches = (lambda: d.train_iter()) if kind == "windowed" else (lambda: iter(d))
    opt = SGD(b.params, b.grads, lr=1.0)
    for _ in range(2):
        ppl, speed = train_epoch(b, batches(), SoftmaxCrossEntropy(), opt, clip=1.0,
                                 carry_state=kind == "sequential")
        assert 1 < ppl < len(vocab) * 2 and speed > 0
    for k, p in a.params.items():
        assert np.array_equal(b.params[k], p), k


# ------------------------------------------------------------------ progress display
class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def progress_trainer(corpus_vocab, **kwargs):
    corpus, vocab = corpus_vocab
    data = WindowedData(corpus, 8, num_train=400, num_val=40, batch_size=40, seed=0)
    return Trainer(RNNLM(len(vocab), 8), data, vocab=vocab, sample_every=0, progress=True, **kwargs)


def test_in_a_terminal_the_bar_shows_batches_loss_perplexity_and_speed(corpus_vocab, monkeypatch):
    """Within the epoch, not only at its end (the default run showed 0/4 for 17 s)."""
    monkeypatch.setattr(Trainer, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(sys, "stderr", Terminal())
    progress_trainer(corpus_vocab).fit(2)
    shown = sys.stderr.getvalue().split("\r")
    midway = [s for s in shown if s.startswith("epoch 1/2:") and "| 3/10 [" in s]
    assert midway and re.search(r"loss \d\.\d{3}, ppl \d+\.\d\d, [\d,]+ tok/s", midway[-1]), shown
    assert any(s.startswith("epoch 2/2: 100%") and "val ppl" in s for s in shown)


def test_in_a_log_there_is_one_line_an_epoch_and_no_bar(corpus_vocab, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", io.StringIO())       # redirected: not a terminal
    progress_trainer(corpus_vocab).fit(2)
    assert sys.stderr.getvalue() == ""
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(rf"epoch {e}/2: train ppl [\d.]+, val ppl [\d.]+, "
                                                rf"[\d,]+ tok/s", line)
                                   for e, line in zip((1, 2), lines)), lines


@pytest.mark.parametrize("interrupt", [None, (2, 3)])
def test_resume_with_dropout_is_bit_identical(corpus_vocab, tmp_path, interrupt):
    """A two-layer GRU with dropout 0.3: one epoch, then resumed in a new model built from
    the checkpoint (as ``--resume`` does), is the same run as two epochs straight; and so
    is a run stopped by Ctrl-C mid-epoch.  The dropout masks' generator is saved."""
    from minirnn.checkpoint import build_model
    corpus, vocab = corpus_vocab

    def model():
        return RNNLM(len(vocab), 8, embed_dim=4, cell="gru", num_layers=2, dropout=0.3, seed=2)

    def data(cls=WindowedData):
        return cls(corpus, 8, num_train=200, num_val=50, batch_size=25, seed=4)

    def trainer(m, d, path=None):
        return quiet(m, d, vocab, optimizer="adam", lr=0.01, checkpoint=path)

    straight = trainer(model(), data())
    straight.fit(2)
    path = tmp_path / "ck.npz"
    if interrupt is None:
        trainer(model(), data(), path).fit(1)
    else:
        d = data(InterruptingWindows)
        d.at = interrupt
        with pytest.raises(TrainingInterrupted, match="interrupted at epoch 2, step 3"):
            trainer(model(), d, path).fit(2)
    ck = load(path)
    assert len(ck.rng_state["dropout"]) == 1                 # between the two layers
    resumed = trainer(build_model(ck), data(), path).restore(ck)
    resumed.fit(2)
    for k, p in straight.model.params.items():
        assert np.array_equal(resumed.model.params[k], p), f"{k} differs after resuming"
    assert resumed.history.column("val_ppl") == straight.history.column("val_ppl")
