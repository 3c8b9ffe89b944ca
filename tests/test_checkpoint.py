"""Tests of minirnn.checkpoint: round trip, bit-for-bit resume, atomic writes, and clear
errors for missing, truncated and foreign files."""
import json
import os
import zipfile

import numpy as np
import pytest

from minirnn import checkpoint
from minirnn.checkpoint import CheckpointError, build_model, load, save
from minirnn.data import SeqDataLoader, Vocab, WindowedData, build_corpus
from minirnn.gradcheck import randomize_params
from minirnn.models import RNNLM
from minirnn.optim import Adam
from minirnn.train import Trainer

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled ") * 12


@pytest.fixture(scope="module")
def corpus_vocab():
    return build_corpus(TEXT)


def make_data(kind, corpus, seed=7):
    if kind == "windowed":
        return WindowedData(corpus, 8, num_train=300, num_val=60, batch_size=64, seed=seed)
    return SeqDataLoader(corpus, 4, 8, use_random_iter=kind == "random", seed=seed)


def make_trainer(kind, corpus, vocab, path=None, optimizer="sgd", lr=1.0, model=None, **kwargs):
    model = model if model is not None else RNNLM(len(vocab), 12, seed=3)
    return Trainer(model, make_data(kind, corpus), vocab=vocab, optimizer=optimizer, lr=lr,
                   seed=11, sample_every=0, progress=False, checkpoint=path, **kwargs)


def test_round_trip_keeps_every_part(tmp_path):
    vocab = Vocab(list("hello world"), reserved_tokens=["<pad>"])
    model = RNNLM(len(vocab), 5, embed_dim=3, seed=0)
    randomize_params(model, np.random.default_rng(0))
    opt = Adam(model.params, model.grads, lr=0.01)
    for g in model.grads.values():
        g[...] = 1.0
    opt.step()
    rng = np.random.default_rng(42)
    rng.random(3)
    config = {"vocab_size": len(vocab), "num_hiddens": 5, "embed_dim": 3, "corpus": "x.txt"}
    history = [{"epoch": 1, "train_ppl": 9.5, "tokens_per_s": 10.0, "wall_s": 0.5}]
    path = save(tmp_path / "a" / "ck.npz", model, vocab, opt.state_dict(), config, 4,
                {"data": rng.bit_generator.state}, history=history,
                extra={"note": [1, 2]}, extra_arrays={"state": np.ones((2, 5), np.float32)})
    ck = load(path)
    assert set(ck.params) == set(model.params)
    for k, p in model.params.items():
        assert ck.params[k].dtype == p.dtype
        np.testing.assert_array_equal(ck.params[k], p)
    assert ck.vocab.idx_to_token == vocab.idx_to_token
    assert ck.vocab.token_freqs == vocab.token_freqs
    assert ck.config == config and ck.epoch == 4 and ck.history == history
    assert ck.model == {"name": "rnnlm", "config": model.config()}   # what rebuilds it
    assert ck.extra == {"note": [1, 2]}
    np.testing.assert_array_equal(ck.extra_arrays["state"], np.ones((2, 5)))
    state = opt.state_dict()
    assert set(ck.optimizer_state) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(ck.optimizer_state[k], v)
    again = np.random.default_rng(0)
    again.bit_generator.state = ck.rng_state["data"]
    np.testing.assert_array_equal(again.random(5), rng.random(5))
    # build_model gives a model that computes the same logits
    X = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(build_model(ck).forward(X)[0], model.forward(X)[0])


def run_epochs(trainer, n):
    trainer.fit(n)
    return {k: p.copy() for k, p in trainer.model.params.items()}


@pytest.mark.parametrize("kind, optimizer, lr, bptt, p", [
    ("sequential", "sgd", 1.0, "truncated", None),
    ("random", "adam", 0.01, "truncated", None),
    ("windowed", "sgd", 1.0, "truncated", None),
    ("sequential", "sgd", 1.0, "randomized", 0.5),
])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, corpus_vocab, kind, optimizer,
                                                         lr, bptt, p):
    corpus, vocab = corpus_vocab
    straight = run_epochs(make_trainer(kind, corpus, vocab, optimizer=optimizer, lr=lr,
                                       bptt=bptt, bptt_p=p), 4)
    path = tmp_path / "ck.npz"
    first = make_trainer(kind, corpus, vocab, path, optimizer=optimizer, lr=lr, bptt=bptt, bptt_p=p)
    run_epochs(first, 2)
    # as a new process would: the model from the file, new data with the same seed
    ck = load(path)
    second = make_trainer(kind, corpus, ck.vocab, optimizer=optimizer, lr=lr, bptt=bptt,
                          bptt_p=p, model=build_model(ck))
    second.restore(ck)
    assert second.epoch == 2 and len(second.history) == 2
    resumed = run_epochs(second, 4)
    for k in straight:
        assert np.array_equal(resumed[k], straight[k]), f"{k} differs after resuming"
    assert [r["train_ppl"] for r in second.history] == \
        [r["train_ppl"] for r in first.history] + [r["train_ppl"] for r in second.history[2:]]


def test_resume_without_the_random_states_would_differ(tmp_path, corpus_vocab):
    # the control for the test above: the data order really matters to the weights
    corpus, vocab = corpus_vocab
    straight = run_epochs(make_trainer("random", corpus, vocab), 4)
    path = tmp_path / "ck.npz"
    run_epochs(make_trainer("random", corpus, vocab, path), 2)
    second = make_trainer("random", corpus, vocab)
    second.restore(path)
    second.data.rng = np.random.default_rng(7)          # forget the saved data order
    resumed = run_epochs(second, 4)
    assert not np.array_equal(resumed["rnn.W_hh"], straight["rnn.W_hh"])


def test_save_is_atomic_and_leaves_the_old_file_on_failure(tmp_path, corpus_vocab, monkeypatch):
    corpus, vocab = corpus_vocab
    trainer = make_trainer("sequential", corpus, vocab, tmp_path / "ck.npz")
    trainer.fit(1)
    before = (tmp_path / "ck.npz").read_bytes()

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")                 # something, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        trainer.save(tmp_path / "ck.npz")
    assert (tmp_path / "ck.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]   # no temporary left


def test_checkpoint_file_mode_follows_the_umask(tmp_path, corpus_vocab):
    corpus, vocab = corpus_vocab
    old = os.umask(0o022)
    try:
        make_trainer("sequential", corpus, vocab, tmp_path / "ck.npz").fit(1)
    finally:
        os.umask(old)
    assert (tmp_path / "ck.npz").stat().st_mode & 0o777 == 0o644     # mkstemp alone gives 0600


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at path="):
        load(tmp_path / "nothing.npz")


def test_truncated_file(tmp_path, corpus_vocab):
    corpus, vocab = corpus_vocab
    trainer = make_trainer("sequential", corpus, vocab, tmp_path / "ck.npz")
    trainer.fit(1)
    data = (tmp_path / "ck.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable minirnn checkpoint .truncated or corrupt"):
        load(tmp_path / "cut.npz")


def test_foreign_files(tmp_path):
    np.savez(tmp_path / "other.npz", W=np.zeros(3))
    with pytest.raises(CheckpointError, match="an .npz file but not a minirnn checkpoint"):
        load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match=r"is not a minirnn checkpoint: not an .npz \(zip\) "
                                              r"file \(it starts with b'hello'\)"):
        load(tmp_path / "text.npz")
    meta = np.frombuffer(json.dumps({"format": "someone.else"}).encode(), np.uint8)
    np.savez(tmp_path / "fmt.npz", **{"meta.json": meta})
    with pytest.raises(CheckpointError, match="format 'someone.else', expected 'minirnn.checkpoint'"):
        load(tmp_path / "fmt.npz")
    meta = np.frombuffer(json.dumps({"format": "minirnn.checkpoint", "version": 99}).encode(), np.uint8)
    np.savez(tmp_path / "v99.npz", **{"meta.json": meta})
    with pytest.raises(CheckpointError, match="version 99; this minirnn reads versions 1 to 2"):
        load(tmp_path / "v99.npz")
    np.savez(tmp_path / "junk.npz", **{"meta.json": np.frombuffer(b"{not json", np.uint8)})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(tmp_path / "junk.npz")
    assert zipfile.is_zipfile(tmp_path / "other.npz")


def test_bad_save_arguments_write_nothing(tmp_path):
    vocab = Vocab(list("ab"))
    model = RNNLM(len(vocab), 2)
    with pytest.raises(TypeError, match="config must hold only JSON values"):
        save(tmp_path / "x.npz", model, vocab, {}, {"f": object()}, 0, {})
    with pytest.raises(ValueError, match="epoch must be a non-negative int, got -1"):
        save(tmp_path / "x.npz", model, vocab, {}, {}, -1, {})
    with pytest.raises(TypeError, match="optimizer_state must be a dict"):
        save(tmp_path / "x.npz", model, vocab, None, {}, 0, {})
    assert list(tmp_path.iterdir()) == []


def test_restore_refuses_another_model_or_vocabulary(tmp_path, corpus_vocab):
    corpus, vocab = corpus_vocab
    make_trainer("sequential", corpus, vocab, tmp_path / "ck.npz").fit(1)
    other = Trainer(RNNLM(len(vocab), 7), make_data("sequential", corpus), vocab=vocab,
                    sample_every=0, progress=False)
    before = other.model.params["rnn.W_hh"].copy()
    with pytest.raises(ValueError, match="does not fit this model"):
        other.restore(tmp_path / "ck.npz")
    np.testing.assert_array_equal(other.model.params["rnn.W_hh"], before)
    letters = Vocab([chr(ord("A") + i) for i in range(len(vocab) - 1)])   # same size, other tokens
    assert len(letters) == len(vocab)
    t = Trainer(RNNLM(len(vocab), 12), make_data("sequential", corpus), vocab=letters,
                sample_every=0, progress=False)
    with pytest.raises(ValueError, match="another vocabulary"):
        t.restore(tmp_path / "ck.npz")


@pytest.mark.parametrize("spoil", ["mt19937 generator", "no trainer generator", "adam optimizer"])
def test_a_failed_restore_changes_nothing(tmp_path, corpus_vocab, spoil):
    corpus, vocab = corpus_vocab
    make_trainer("sequential", corpus, vocab, tmp_path / "ck.npz").fit(1)
    ckpt = load(tmp_path / "ck.npz")
    if spoil == "mt19937 generator":
        ckpt.rng_state["data"] = np.random.MT19937(0).state
    elif spoil == "no trainer generator":
        del ckpt.rng_state["trainer"]
    else:
        ckpt.optimizer_state.update(name="adam", lr=0.01)
    fresh = make_trainer("sequential", corpus, vocab, lr=0.5)
    params = {k: v.copy() for k, v in fresh.model.params.items()}
    data_state = fresh.data.rng.bit_generator.state
    message = "state is from optimizer 'adam'" if spoil == "adam optimizer" else "random-generator state"
    with pytest.raises(ValueError, match=message):
        fresh.restore(ckpt)
    assert fresh.epoch == 0 and len(fresh.history) == 0 and fresh.optimizer.lr == 0.5
    assert fresh.data.rng.bit_generator.state == data_state
    for k, v in params.items():
        np.testing.assert_array_equal(fresh.model.params[k], v)


def test_settings_a_checkpoint_cannot_store_fail_before_training(tmp_path, corpus_vocab):
    corpus, vocab = corpus_vocab
    with pytest.raises(TypeError, match="config must hold only JSON values"):
        make_trainer("sequential", corpus, vocab, tmp_path / "ck.npz", config={"note": tmp_path})
    assert not (tmp_path / "ck.npz").exists()
    model = RNNLM(len(vocab), 12, embed_dim=np.int64(4), seed=3)   # numpy ints are stored as int
    trainer = Trainer(model, make_data("sequential", corpus), vocab=vocab, seed=np.int64(5),
                      sample_every=0, progress=False, checkpoint=tmp_path / "ck.npz")
    trainer.fit(1)
    assert load(tmp_path / "ck.npz").config["embed_dim"] == 4
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        Trainer(model, make_data("sequential", corpus), vocab=vocab, seed=-1, progress=False)


def as_version_1(path, out):
    """Rewrite a checkpoint as the first release wrote it: version 1, no "model" entry (the
    RNNLM's settings only in the run config), a carried state as one (B, H) array."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
    meta["version"] = 1
    model = meta.pop("model")
    meta["config"] = {**model["config"], **meta["config"]}
    for key in ("tie_weights", "cell", "num_layers", "bidirectional", "dropout", "reset_after"):
        meta["config"].pop(key, None)                              # keys version 1 did not have
    if "extra/state/0" in arrays:
        arrays["extra/state"] = arrays.pop("extra/state/0")[0]     # (1, B, H) -> (B, H)
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(out, **arrays)
    return out


def test_a_version_1_checkpoint_still_loads_and_resumes(tmp_path, corpus_vocab):
    """Checkpoints written before the model protocol (version 1) load, rebuild their RNNLM,
    and resume a sequential run mid-epoch with its carried state."""
    corpus, vocab = corpus_vocab
    straight = make_trainer("sequential", corpus, vocab)
    straight.fit(2)
    path = tmp_path / "ck.npz"
    first = make_trainer("sequential", corpus, vocab, path)
    first.fit(1)
    first._position = {"step": 3, "loss_sum": 1.0, "tokens": 3, "train_s": 0.1, "elapsed_s": 0.1,
                       "data_rng": first.data.rng.bit_generator.state,
                       "state": (np.full((1, 4, 12), 0.5, np.float32),)}
    first.save(path)
    old = load(as_version_1(path, tmp_path / "v1.npz"))
    assert old.model == {"name": "rnnlm", "config": {k: v for k, v in RNNLM(len(vocab), 12).config().items()
                                                     if k in checkpoint.V1_MODEL_KEYS}}
    model = build_model(old)
    for k, p in first.model.params.items():
        np.testing.assert_array_equal(model.params[k], p)
    again = make_trainer("sequential", corpus, vocab, model=model)
    again.restore(old)
    (h,) = again._position["state"]
    assert h.shape == (1, 4, 12) and (h == 0.5).all()              # (B, H) became ((1, B, H),)


def test_a_checkpoint_whose_model_cannot_be_rebuilt_is_one_clear_error(tmp_path):
    vocab = Vocab(list("abc"))
    model = RNNLM(len(vocab), 3)
    path = save(tmp_path / "ck.npz", model, vocab, {"kind": "sgd", "lr": 1.0}, {}, 0, {})
    ck = load(path)
    ck.model = {"name": "transformer", "config": {}}
    with pytest.raises(CheckpointError, match="cannot rebuild its model: unknown model 'transformer'"):
        build_model(ck)
    ck.model = {"name": "rnnlm", "config": {"vocab_size": 4, "num_hiddens": 2}}
    with pytest.raises(CheckpointError, match=r"parameter 'rnn.W_xh' has shape \(4, 3\), the model needs \(4, 2\)"):
        build_model(ck)
    with pytest.raises(TypeError, match="model must be a registered minirnn model"):
        save(tmp_path / "x.npz", object(), vocab, {}, {}, 0, {})
    assert not (tmp_path / "x.npz").exists()


# ------------------------------------------------------- what a file may make load do
def small_checkpoint(tmp_path, vocab=None):
    vocab = vocab or Vocab(list("abc"))
    return save(tmp_path / "ck.npz", RNNLM(len(vocab), 3), vocab, {"name": "sgd", "lr": 1.0},
                {}, 0, {})


def rewrite(path, out, **members):
    """A copy of the npz at ``path`` with the named members' raw bytes replaced."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, members.pop(info.filename, None) or src.read(info))
    return out


def npy_bytes(array, shape=None) -> bytes:
    """An .npy member: a header that declares ``shape`` (default: the array's) and the data."""
    import io
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                             "fortran_order": False,
                                             "shape": shape or array.shape})
    return f.getvalue() + array.tobytes()


def test_a_vocabulary_of_another_size_is_refused_at_save_and_at_load(tmp_path):
    vocab = Vocab(list("abc"))
    for other in (Vocab(list("ab")), Vocab(list("abcde"))):            # smaller and larger
        with pytest.raises(ValueError, match=f"vocab has {len(other)} tokens but the model's "
                                             f"vocab_size is 4"):
            save(tmp_path / "x.npz", RNNLM(len(vocab), 3), other, {}, {}, 0, {})
    assert not (tmp_path / "x.npz").exists()
    path = small_checkpoint(tmp_path, vocab)
    with np.load(path) as npz:
        meta = json.loads(npz["meta.json"].tobytes())
    meta["vocab"] = Vocab(list("ab")).to_dict()                        # as a hand-edited file
    rewrite(path, tmp_path / "bad.npz",
            **{"meta.json.npy": npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))})
    with pytest.raises(CheckpointError, match="its vocabulary has 3 tokens but its model's "
                                              "vocab_size is 4"):
        load(tmp_path / "bad.npz")


def test_a_huge_declared_shape_is_refused_before_anything_is_allocated(tmp_path):
    import tracemalloc
    path = small_checkpoint(tmp_path)
    with np.load(path) as npz:
        W_hh = npz["param/rnn.W_hh"]
    crafted = rewrite(path, tmp_path / "crafted.npz",
                      **{"param/rnn.W_hh.npy": npy_bytes(W_hh, shape=(10**6, 10**6))})
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"member 'param/rnn.W_hh' declares shape "
                                                  r"\(1000000, 1000000\) float32 \(4,000,000,000,000 "
                                                  r"bytes\) but holds 36 bytes"):
            load(crafted)
        assert tracemalloc.get_traced_memory()[1] < 10**7               # peak: no 4 TB, no 4 GB
    finally:
        tracemalloc.stop()


def test_pickles_and_compressed_members_are_refused(tmp_path):
    path = small_checkpoint(tmp_path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(tmp_path / "zipped.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"member '\S+' is compressed"):
        load(tmp_path / "zipped.npz")
    np.savez(tmp_path / "pickle.npz", **arrays, **{"extra/x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="'extra/x' has dtype object: a checkpoint holds only "
                                              "numbers"):
        load(tmp_path / "pickle.npz")


def test_a_config_larger_than_its_parameters_is_refused_before_the_model_is_built(tmp_path,
                                                                                  monkeypatch):
    ck = load(small_checkpoint(tmp_path))
    ck.model = {"name": "rnnlm", "config": {**ck.model["config"], "num_hiddens": 10**9}}

    def never(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(RNNLM, "__init__", never)
    with pytest.raises(CheckpointError, match="its model config says num_hiddens=1000000000, "
                                              "larger than any dimension of its stored parameters"):
        build_model(ck)


# ------------------------------------------------ non-finite parameters, edited metadata
def _edit_meta(path, **changes):
    """Rewrite a checkpoint's meta.json with ``changes`` (nested keys as 'a.b')."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta.json").tobytes())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = meta
        for key in parents:
            node = node[key]
        node[last] = value
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_non_finite_parameters_are_never_saved_nor_loaded(tmp_path):
    """One NaN parameter generated blank text with exit 0, and --resume called it the
    last good checkpoint: ``check_finite`` refuses it on save and on load."""
    vocab = Vocab(list("abcdef"))
    model = RNNLM(len(vocab), 4, seed=0)
    path = save(tmp_path / "ok.npz", model, vocab, {}, {}, 1, {})
    model.params["rnn.W_hh"][1, 2] = np.nan
    with pytest.raises(ValueError, match=r"cannot save .*parameter 'rnn.W_hh' holds 1 "
                                         r"non-finite value \(NaN or inf\) of 16"):
        save(tmp_path / "nan.npz", model, vocab, {}, {}, 1, {})
    assert not (tmp_path / "nan.npz").exists()
    with np.load(path) as z:                                  # the same NaN, written by hand
        arrays = {k: z[k] for k in z.files}
    arrays["param/output.W"] = arrays["param/output.W"].copy()
    arrays["param/output.W"][0, 0] = np.inf
    with open(tmp_path / "edited.npz", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(CheckpointError, match=r"parameter 'output.W' holds 1 non-finite"):
        load(tmp_path / "edited.npz")
    from minirnn.cli import main
    assert main(["generate", "--checkpoint", str(tmp_path / "edited.npz")]) == 2


@pytest.mark.parametrize("epoch", [-1, 2.7, "2", True, None])
def test_an_edited_epoch_is_refused_naming_the_entry(tmp_path, epoch):
    vocab = Vocab(list("abcdef"))
    path = save(tmp_path / "c.npz", RNNLM(len(vocab), 4), vocab, {}, {}, 2, {})
    _edit_meta(path, epoch=epoch)
    with pytest.raises(CheckpointError, match=r"its entry 'epoch' must be an integer >= 0"):
        load(path)


def test_a_run_config_that_disagrees_with_its_model_is_refused(tmp_path, capsys):
    """``cell: lstm`` written into a GRU run's config was accepted, the banner said lstm
    and config.json was rewritten wrongly."""
    from minirnn.cli import main
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the time traveller for so it will be convenient to speak of him " * 10)
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--preset", "d2l-1.0", "--num-train", "100",
                 "--num-val", "0", "--batch", "20", "--steps", "8", "--hidden", "4", "--cell",
                 "gru", "--epochs", "1", "--sample-every", "0", "--no-progress", "--out",
                 str(out)]) == 0
    _edit_meta(out / "checkpoint.npz", **{"config.cell": "lstm"})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "config entry 'cell' is 'lstm' but its model's is 'gru'; the file was edited" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_export_torch_of_a_run_and_its_gru_error_speak_the_command_line(tmp_path):
    from minirnn.checkpoint import export_torch
    from minirnn.interop import to_torch_state_dict
    vocab = Vocab(list("abcdef"))
    model = RNNLM(len(vocab), 4, cell="gru", reset_after=True, seed=0)
    save(tmp_path / "run" / "checkpoint.npz", model, vocab, {}, {}, 1, {})
    sd = export_torch(tmp_path / "run")                        # a run folder, as --out names it
    expected = to_torch_state_dict(model)
    assert sorted(sd) == sorted(expected) and all(np.array_equal(sd[k], expected[k]) for k in sd)
    save(tmp_path / "book.npz", RNNLM(len(vocab), 4, cell="gru"), vocab, {}, {}, 1, {})
    with pytest.raises(ValueError, match=r"the book's GRU \(--cell gru without --reset-after\)"
                                         r".*train with --cell gru --reset-after"):
        export_torch(tmp_path / "book.npz")
