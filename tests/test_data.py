"""Tests of minirnn.data: corpora and checksums, preprocessing, Vocab, minibatches, the
padding helpers (minirnn.data.padding) and ``check_lengths`` (minirnn._checks) with bad
input, the tasks' data (minirnn.data.tasks) and the F1 of word boundaries (minirnn.metrics).

Tests on the real corpus read *The Time Machine* from the folder named by MINIRNN_DATA;
without it they skip, except under CI=true, where they fail.
"""
import hashlib
import io
import json
import os
import string
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minirnn
from minirnn import data
from minirnn._checks import check_lengths
from minirnn.data import (ChecksumError, PairBatches, SeqDataLoader, Vocab, WindowedData,
                          bucket_batches, build_corpus, load_corpus, load_data_time_machine,
                          load_text, load_time_machine, pad_sequences, preprocess,
                          seq_data_iter_random, seq_data_iter_sequential, sequence_mask,
                          tokenize)
from minirnn.data.tasks import (PAD, PassageBatches, apply_pair_rule, author_test_passages,
                                char_vocab, consecutive_pieces,
                                fit_pair_rule, remove_spaces, restore_spaces, split_text)
from minirnn.metrics import boundary_f1

TM_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"
ITERATORS = [seq_data_iter_random, seq_data_iter_sequential]


def real_corpus_dir() -> Path:
    """The MINIRNN_DATA folder holding the real corpora: skip without it, fail in CI."""
    root = os.environ.get("MINIRNN_DATA")
    if root and (Path(root) / "timemachine.txt").is_file():
        return Path(root)
    reason = (f"timemachine.txt not found in MINIRNN_DATA={root!r}; set MINIRNN_DATA to "
              f"the folder that holds it")
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI needs the real corpus: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def raw_text():
    return load_time_machine(real_corpus_dir(), download=False)


@pytest.fixture(scope="module")
def raw_bytes():
    return (real_corpus_dir() / "timemachine.txt").read_bytes()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A working directory whose ../data is empty, and no MINIRNN_DATA."""
    cwd = tmp_path / "project" / "work"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("MINIRNN_DATA", raising=False)
    return tmp_path


class FakeResponse(io.BytesIO):
    """What urlopen returns: a readable context manager."""


def serve(monkeypatch, payload):
    """Make urllib.request.urlopen return ``payload`` (bytes) or raise it (exception);
    return the list of URLs requested."""
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        if isinstance(payload, Exception):
            raise payload
        return FakeResponse(payload)
    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    return requested


# ------------------------------------------------------------------ the real corpus

def test_time_machine_file_and_preprocessing_match_the_book(raw_text):
    assert hashlib.sha1(raw_text.encode("utf-8")).hexdigest() == TM_SHA1
    assert len(raw_text.splitlines()) == 3221
    text = preprocess(raw_text)
    assert len(text) == 173428
    assert set(text) == set(string.ascii_lowercase) | {" "}
    assert text.startswith("the time machine by h g wells")


def test_char_vocab_has_28_tokens_in_book_order(raw_text):
    vocab = Vocab(tokenize(preprocess(raw_text), "char"))
    assert len(vocab) == 28
    assert vocab.idx_to_token == ["<unk>", " "] + list(string.ascii_lowercase)
    # Letters keep the 1.0 book's indices ('t' 21, 'h' 9, 'e' 6).
    assert vocab[list("the")] == [21, 9, 6]


def test_top_words_match_the_book(raw_text):
    vocab = Vocab(tokenize(preprocess(raw_text), "word"))
    assert vocab.token_freqs[:3] == [("the", 2261), ("i", 1267), ("and", 1245)]


def test_load_data_time_machine_epochs(raw_text):
    data_iter, vocab = load_data_time_machine(32, 35, max_tokens=10000, seed=3,
                                              root=real_corpus_dir())
    assert len(vocab) == 28 and len(data_iter.corpus) == 10000
    epoch1, epoch2 = list(data_iter), list(data_iter)
    for epoch in (epoch1, epoch2):
        # (10000 - offset - 1) // 32 = 312 columns per row: 8 minibatches of 35.
        assert len(epoch) == 8
        for X, Y in epoch:
            assert X.shape == Y.shape == (32, 35) and X.dtype == np.int64
    # A fresh offset per epoch, yet reproducible from the seed.
    again, _ = load_data_time_machine(32, 35, seed=3, root=real_corpus_dir())
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(epoch1 + epoch2, list(again) + list(again)))
    text = "".join(vocab.to_tokens(epoch1[0][0][0].tolist()))
    assert text in preprocess(raw_text)[:10000]


def test_tinyshakespeare_by_name():
    root = real_corpus_dir()
    if not (root / "tinyshakespeare.txt").is_file():
        pytest.skip("tinyshakespeare.txt is not in MINIRNN_DATA")
    text = load_corpus("tinyshakespeare", root=root, download=False)
    assert len(text) == 1115394 and text.startswith("First Citizen:")


# ----------------------------------------------------- finding and checking files

def test_download_verifies_and_writes_atomically(isolated, raw_bytes, monkeypatch):
    requested = serve(monkeypatch, raw_bytes)
    root = isolated / "cache"
    text = load_time_machine(root)
    assert requested == ["http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"]
    assert text.encode("utf-8") == raw_bytes
    assert sorted(p.name for p in root.iterdir()) == ["timemachine.txt"]  # no temp left
    serve(monkeypatch, AssertionError("a verified copy must not be downloaded again"))
    assert load_time_machine(root) == text


def test_tampered_download_is_rejected_and_not_saved(isolated, raw_bytes, monkeypatch):
    serve(monkeypatch, raw_bytes.replace(b"Time Traveller", b"Time Travoller", 1))
    root = isolated / "cache"
    with pytest.raises(ChecksumError, match="timemachine.txt") as err:
        load_time_machine(root)
    assert str(root) in str(err.value) and TM_SHA1 in str(err.value)
    assert not root.exists() or list(root.iterdir()) == []


def test_offline_error_names_file_and_folder(isolated, monkeypatch):
    serve(monkeypatch, urllib.error.URLError("no network"))
    root = isolated / "cache"
    with pytest.raises(FileNotFoundError, match="timemachine.txt") as err:
        load_time_machine(root)
    assert str(root) in str(err.value) and "no network" in str(err.value)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_time_machine(root, download=False)


def test_corrupt_cached_file_is_never_used(isolated, raw_bytes, monkeypatch):
    root = isolated / "cache"
    root.mkdir()
    (root / "timemachine.txt").write_bytes(raw_bytes[:-1] + b"!")
    with pytest.raises(ChecksumError, match="corrupt") as err:
        load_time_machine(root, download=False)
    assert str(root / "timemachine.txt") in str(err.value)
    serve(monkeypatch, raw_bytes)           # with download=True it is replaced
    assert load_time_machine(root).encode("utf-8") == raw_bytes
    assert (root / "timemachine.txt").read_bytes() == raw_bytes


def test_search_order_env_cache_and_book_folder(isolated, raw_bytes, monkeypatch):
    serve(monkeypatch, AssertionError("no download expected"))
    # ../data, where the book's code downloads its files
    book = isolated / "project" / "data"
    book.mkdir()
    (book / "timemachine.txt").write_bytes(raw_bytes)
    assert len(load_time_machine(isolated / "empty", download=False)) == len(raw_bytes)
    (book / "timemachine.txt").unlink()
    # $MINIRNN_DATA
    env = isolated / "env"
    env.mkdir()
    (env / "timemachine.txt").write_bytes(raw_bytes)
    monkeypatch.setenv("MINIRNN_DATA", str(env))
    assert data.data_dirs()[0] == env
    assert len(load_time_machine(download=False)) == len(raw_bytes)
    # ~/.cache/minirnn without MINIRNN_DATA
    monkeypatch.delenv("MINIRNN_DATA")
    monkeypatch.setenv("HOME", str(isolated / "home"))
    assert data.data_dirs()[0] == isolated / "home" / ".cache" / "minirnn"
    with pytest.raises(FileNotFoundError, match=r"\.cache/minirnn"):
        load_time_machine(download=False)


def test_load_text_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("To be, or not to be\n", encoding="utf-8")
    assert load_text(good) == "To be, or not to be\n"
    assert load_corpus(str(good)) == "To be, or not to be\n"
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_text(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text(" \n")
    with pytest.raises(ValueError, match="empty"):
        load_text(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_text(tmp_path / "latin1.txt")
    with pytest.raises(OSError, match="cannot read"):
        load_text(tmp_path)
    with pytest.raises(FileNotFoundError, match="timemachine"):
        load_corpus("no-such-corpus")


# -------------------------------------------------------- preprocessing and Vocab

def test_preprocess_and_tokenize():
    text = preprocess("The Time-Machine, by H. G. Wells [1898]\n\nI\n")
    assert text == "the time machine by h g wells i "
    assert tokenize(text, "word") == ["the", "time", "machine", "by", "h", "g", "wells", "i"]
    assert tokenize("ab c", "char") == ["a", "b", " ", "c"]
    with pytest.raises(ValueError, match=r"token must be one of \('char', 'word'\), got 'bpe'"):
        tokenize(text, "bpe")


def test_vocab_indices_reserved_min_freq_and_unknowns():
    tokens = "b a c a b a d".split()
    vocab = Vocab(tokens, min_freq=2, reserved_tokens=("<pad>", "<eos>"))
    assert vocab.idx_to_token == ["<unk>", "<pad>", "<eos>", "a", "b"]
    assert vocab.unk == 0 and vocab["<unk>"] == 0
    assert vocab["a"] == 3 and vocab["c"] == 0 and vocab["zebra"] == 0
    assert vocab[["b", "zebra", "<eos>"]] == [4, 0, 2]
    assert vocab.to_tokens(4) == "b"
    assert vocab.to_tokens(np.array([[3, 4], [1, 0]])) == [["a", "b"], ["<pad>", "<unk>"]]
    # every counted token, by falling count, ties by token
    assert vocab.token_freqs == [("a", 3), ("b", 2), ("c", 1), ("d", 1)]
    with pytest.raises(IndexError, match="token id 5 out of range for vocab_size 5"):
        vocab.to_tokens([1, 5])
    for bad in (1.7, True, "1"):
        with pytest.raises(TypeError, match="token ids must be ints"):
            vocab.to_tokens(bad)
    with pytest.raises(TypeError, match="reserved_tokens"):
        Vocab(tokens, reserved_tokens="<pad>")
    assert Vocab([["x", "y"], ["y"]]).token_freqs == [("y", 2), ("x", 1)]  # 2-D flattened


def test_vocab_save_load_roundtrip(tmp_path):
    vocab = Vocab(list("hello world"), reserved_tokens=["<bos>"])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded.idx_to_token == vocab.idx_to_token
    assert loaded.token_freqs == vocab.token_freqs
    assert loaded[list("low")] == vocab[list("low")]
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]
    path.write_text(json.dumps({"idx_to_token": ["a", "<unk>"], "token_freqs": []}))
    with pytest.raises(ValueError, match="must start with '<unk>'"):
        Vocab.load(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a vocabulary"):
        Vocab.load(path)


def test_vocab_errors_name_the_argument(tmp_path):
    with pytest.raises(TypeError, match=r"tokens must all be str, got 1 \(int\) at index 1"):
        Vocab(["a", 1])
    with pytest.raises(TypeError, match=r"reserved_tokens must all be str, got None"):
        Vocab(["a"], reserved_tokens=[None])
    path = tmp_path / "vocab.json"
    path.write_bytes(b'{"idx_to_token": ["<unk>", "\xff"]}')
    with pytest.raises(ValueError, match=r"path='.*vocab.json' is not a vocabulary saved by "
                                         r"Vocab.save: not UTF-8 text \(byte 28"):
        Vocab.load(path)
    for doc, what in [([], "expected a JSON object, got list"),
                      ({"idx_to_token": ["<unk>"]}, "it has no token_freqs"),
                      ({"idx_to_token": ["<unk>", 3], "token_freqs": []},
                       "idx_to_token must be a list of str"),
                      ({"idx_to_token": ["<unk>", "a"], "token_freqs": [["a", "x"]]},
                       r"token_freqs must be a list of \[str, count >= 0\] pairs"),
                      ({"idx_to_token": ["<unk>", "a"], "token_freqs": [["a", -1]]},
                       r"token_freqs must be a list of \[str, count >= 0\] pairs")]:
        path.write_text(json.dumps(doc))
        with pytest.raises(ValueError, match=f"is not a vocabulary saved by Vocab.save: {what}"):
            Vocab.load(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"Vocab.save: path='.*folder' is a folder; "
                                                r"expected the path of a file"):
        Vocab(["a"]).save(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "vocab.json"]   # no temporary
    assert list(folder.iterdir()) == []


def test_build_corpus_truncates_after_building_the_vocab():
    corpus, vocab = build_corpus("Abc, ab! Z", max_tokens=4)
    assert vocab.idx_to_token == ["<unk>", " ", "a", "b", "c", "z"]
    assert corpus.tolist() == [2, 3, 4, 1] and corpus.dtype == np.int64
    assert len(build_corpus("Abc, ab! Z", max_tokens=-1)[0]) == 8      # the book's -1: all
    with pytest.raises(ValueError, match="max_tokens must be a positive int, got 0"):
        build_corpus("Abc", max_tokens=0)


# ------------------------------------------------------------------ minibatches

@pytest.mark.parametrize("data_iter_fn", ITERATORS)
def test_book_example_three_minibatches(data_iter_fn):
    for seed in range(10):
        batches = list(data_iter_fn(list(range(35)), 2, 5, np.random.default_rng(seed)))
        assert len(batches) == 3
        for X, Y in batches:
            assert X.shape == Y.shape == (2, 5)
            assert X.dtype == Y.dtype == np.int64
            np.testing.assert_array_equal(Y, X + 1)


corpus_settings = st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(0, 60),
                            st.integers(0, 2**32 - 1))


def one_epoch(data_iter_fn, args):
    """The batches of one epoch over ``arange(n)``, n just long enough plus ``extra``."""
    batch_size, num_steps, extra, seed = args
    n = batch_size * num_steps + num_steps + extra
    return n, list(data_iter_fn(np.arange(n), batch_size, num_steps, seed))


@settings(max_examples=60, deadline=None)
@given(corpus_settings)
def test_sequential_rows_continue_across_minibatches(args):
    batch_size, num_steps, _, _ = args
    n, batches = one_epoch(seq_data_iter_sequential, args)
    assert batches
    rows = np.concatenate([X for X, _ in batches], axis=1)       # (B, num_batches * T)
    offset = rows[0, 0]
    assert 0 <= offset < num_steps
    row_len = (n - offset - 1) // batch_size
    for b in range(batch_size):   # each row is one unbroken stretch of the text
        start = offset + b * row_len
        np.testing.assert_array_equal(rows[b], np.arange(start, start + rows.shape[1]))
    assert len(np.unique(rows)) == rows.size                      # nothing repeated
    assert len(batches) == row_len // num_steps                   # no full batch lost
    for X, Y in batches:
        np.testing.assert_array_equal(Y, X + 1)


@settings(max_examples=60, deadline=None)
@given(corpus_settings)
def test_random_sampling_visits_every_subsequence_once(args):
    batch_size, num_steps, _, _ = args
    n, batches = one_epoch(seq_data_iter_random, args)
    starts = np.concatenate([X[:, 0] for X, _ in batches])
    offset = starts.min() % num_steps
    num_subseqs = (n - offset - 1) // num_steps
    assert len(batches) == num_subseqs // batch_size
    assert len(set(starts.tolist())) == len(starts)                # none twice
    assert set(starts.tolist()) <= set(range(offset, n - num_steps, num_steps))
    if num_subseqs % batch_size == 0:                              # then all of them
        assert sorted(starts.tolist()) == list(range(offset, offset + num_subseqs * num_steps,
                                                     num_steps))
    for X, Y in batches:
        np.testing.assert_array_equal(X, X[:, :1] + np.arange(num_steps))
        np.testing.assert_array_equal(Y, X + 1)


def test_random_sampling_order_is_shuffled():
    corpus = np.arange(1000)
    first_pieces = {int(next(seq_data_iter_random(corpus, 2, 5, seed))[0][0, 0]) // 5
                    for seed in range(50)}
    assert len(first_pieces) > 20          # any of the ~200 pieces may come first


@pytest.mark.parametrize("data_iter_fn", ITERATORS)
def test_offset_is_below_num_steps_and_takes_every_value(data_iter_fn):
    corpus = np.arange(100)
    offsets = {int(next(data_iter_fn(corpus, 2, 5, seed))[0].min() % 5) for seed in range(200)}
    assert offsets == {0, 1, 2, 3, 4}
    firsts = [next(seq_data_iter_sequential(corpus, 2, 5, seed))[0][0, 0] for seed in range(200)]
    assert max(firsts) == 4      # the book's off-by-one would allow 5


@pytest.mark.parametrize("data_iter_fn", ITERATORS)
def test_same_seed_same_batches(data_iter_fn):
    corpus = np.arange(500) % 17
    run = lambda seed: np.stack([np.stack(b) for b in data_iter_fn(corpus, 4, 7, seed)])
    np.testing.assert_array_equal(run(7), run(7))
    np.testing.assert_array_equal(run(np.random.default_rng(7)), run(7))
    assert any(not np.array_equal(run(7), run(s)) for s in (8, 9, 10))


def test_seq_data_loader_is_reiterable_with_fresh_offsets():
    loader = SeqDataLoader(np.arange(1000), 4, 10, use_random_iter=False, seed=0)
    firsts = [next(iter(loader))[0][0, 0] for _ in range(30)]
    assert len(set(firsts)) > 1
    replay = SeqDataLoader(np.arange(1000), 4, 10, seed=0)
    assert firsts == [next(iter(replay))[0][0, 0] for _ in range(30)]


@pytest.mark.parametrize("data_iter_fn", ITERATORS + [SeqDataLoader])
def test_bad_minibatch_arguments(data_iter_fn):
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        data_iter_fn(range(100), 0, 5)
    with pytest.raises(ValueError, match="num_steps must be a positive int, got -3"):
        data_iter_fn(range(100), 2, -3)
    # a wrong kind of value is a TypeError (minirnn._checks), still naming the argument
    with pytest.raises(TypeError, match=r"num_steps must be a positive int, got 2.5 \(float\)"):
        data_iter_fn(range(100), 2, 2.5)
    with pytest.raises(ValueError, match="corpus has 14 tokens.*need at least 15"):
        data_iter_fn(range(14), 2, 5)
    with pytest.raises(ValueError, match="1-D sequence of int"):
        data_iter_fn(np.zeros((10, 10), dtype=int), 2, 2)
    assert len(list(iter(data_iter_fn(range(15), 2, 5)))) == 1   # exactly enough


# ------------------------------------------------------------------ WindowedData

def test_windowed_data_shapes_and_split():
    corpus = np.arange(200) * 3
    wd = WindowedData(corpus, num_steps=6, num_train=100, num_val=50, batch_size=16, seed=1,
                      drop_last=True)
    train = list(wd.train_iter())
    assert len(train) == wd.num_train_batches == 6
    starts = []
    for X, Y in train:
        assert X.shape == Y.shape == (16, 6) and X.dtype == np.int64
        np.testing.assert_array_equal(X, X[:, :1] + 3 * np.arange(6))
        np.testing.assert_array_equal(Y, X + 3)
        starts += (X[:, 0] // 3).tolist()
    assert len(set(starts)) == 96 and max(starts) < 100 and min(starts) >= 0
    val = list(wd.val_iter())
    assert [X.shape for X, _ in val] == [(16, 6)] * 3 + [(2, 6)] and wd.num_val_batches == 4
    val_starts = np.concatenate([X[:, 0] // 3 for X, _ in val]).tolist()
    assert val_starts == list(range(100, 150))                    # in order, each once
    assert not set(starts) & set(val_starts)


def test_windowed_data_keeps_the_last_partial_batch_as_the_book():
    """The 1.0 book's loader: 10,000 windows in batches of 1,024 is 9 full batches and
    one of 784, every window once an epoch."""
    corpus = np.arange(200)
    wd = WindowedData(corpus, num_steps=6, num_train=100, num_val=50, batch_size=16, seed=1)
    train = list(wd.train_iter())
    assert len(train) == wd.num_train_batches == 7
    assert [X.shape[0] for X, _ in train] == [16] * 6 + [4]
    starts = np.concatenate([X[:, 0] for X, _ in train])
    np.testing.assert_array_equal(np.sort(starts), np.arange(100))   # each window exactly once
    assert WindowedData(corpus, 6, num_train=10, num_val=0, batch_size=16).num_train_batches == 1


def test_windowed_data_shuffles_per_epoch_reproducibly():
    make = lambda: WindowedData(np.arange(300), 4, num_train=64, num_val=8, batch_size=8, seed=5)
    wd, twin = make(), make()
    epoch1 = [X[:, 0].tolist() for X, _ in wd.train_iter()]
    epoch2 = [X[:, 0].tolist() for X, _ in wd.train_iter()]
    assert epoch1 != epoch2 and sorted(sum(epoch1, [])) == list(range(64))
    assert epoch1 == [X[:, 0].tolist() for X, _ in twin.train_iter()]
    assert epoch1 != sorted(epoch1)


def test_windowed_data_errors():
    with pytest.raises(ValueError, match="corpus has 100 tokens.*need at least 105"):
        WindowedData(np.arange(100), 5, num_train=80, num_val=20, batch_size=8)
    with pytest.raises(ValueError, match="batch_size=32 is larger than num_train=10"):
        WindowedData(np.arange(100), 5, num_train=10, num_val=5, batch_size=32, drop_last=True)
    with pytest.raises(ValueError, match="num_steps must be a positive int, got 0"):
        WindowedData(np.arange(100), 0, num_train=10, num_val=5, batch_size=2)
    with pytest.raises(ValueError, match="num_val must be a non-negative int, got -1"):
        WindowedData(np.arange(100), 3, num_train=10, num_val=-1, batch_size=2)
    with pytest.raises(TypeError, match=r"num_val must be a non-negative int, got 5.0 \(float\)"):
        WindowedData(np.arange(100), 3, num_train=10, num_val=5.0, batch_size=2)


@pytest.mark.parametrize("text", ["!!! ??? ...", "Это не латиница", "", "   \n\t 123 "])
def test_a_text_without_latin_letters_is_named_as_such(text):
    with pytest.raises(ValueError, match="the text has no letters a-z: preprocessing keeps only Latin"):
        build_corpus(text)


# ------------------------------------------------------------------ the package

def test_importing_data_loads_no_model_trainer_or_progress_bar():
    """minirnn.data sits below the models: a fresh interpreter that imports it has not
    imported minirnn.sequence, minirnn.train or tqdm."""
    code = ("import minirnn.data, sys; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('minirnn', 'tqdm'))))")
    root = Path(minirnn.__file__).resolve().parents[1]      # this checkout's minirnn, first on the path
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=60, check=True)
    loaded = out.stdout.split()
    assert "minirnn.data.batches" in loaded                  # the package this checkout holds
    assert not {"minirnn.sequence", "minirnn.train", "tqdm"} & set(loaded), loaded
    assert not any(m.startswith("tqdm.") for m in loaded), loaded


def test_pad_sequences_refuses_a_size_no_memory_holds_naming_num_steps():
    """``pad_sequences([[1]], num_steps=10**12)`` was NumPy's raw MemoryError."""
    from minirnn._checks import SizeError
    from minirnn.data import pad_sequences
    with pytest.raises(SizeError, match=r"a padded batch of 1 x num_steps=1000000000000 int64 "
                                        r"ids would take 8.0 TB, .*; lower num_steps"):
        pad_sequences([[1]], num_steps=10 ** 12)


# ----------------------------------------------------------------- check_lengths itself
@pytest.mark.parametrize("args, error, message", [
    ((np.array([1]), 0, 1), ValueError, r"num_steps must be a positive int, got 0"),
    ((np.array([1]), 3.5, 1), TypeError, r"num_steps must be a positive int, got 3.5"),
    ((np.array([1]), 3, True), TypeError, r"batch_size must be a positive int, got True"),
    ((np.zeros(0, np.int64), 3, 0), ValueError, r"batch_size must be a positive int.*got 0"),
    ((np.array([2**64 - 1], np.uint64), 3, 1), ValueError, r"lengths must be in \[1, 3\].*got 18446744073709551615"),
])
def test_check_lengths_names_its_own_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        check_lengths(*args)


def test_check_lengths_gives_int64_for_any_int_dtype():
    out = check_lengths(np.array([3, 1], np.uint8), 3, 2)
    assert out.dtype == np.int64 and out.tolist() == [3, 1]


# ----------------------------------------------------------------- padding helpers
@pytest.mark.parametrize("call, error, message", [
    (lambda: pad_sequences([np.array([2**64 - 1], np.uint64)]), ValueError,
     r"seqs\[0\] holds token id 18446744073709551615.*int64"),
    (lambda: pad_sequences([[1, 2], [1, [2]]]), ValueError, r"seqs\[1\] must be a 1-D sequence of token ids"),
    (lambda: pad_sequences([[True, False]]), TypeError, r"seqs\[0\] must hold integer token ids, got dtype bool"),
    (lambda: pad_sequences([[1]], pad_id=True), TypeError, r"pad_id must be a non-negative int, got True"),
    (lambda: pad_sequences([[1]], pad_id=1.0), TypeError, r"pad_id must be a non-negative int, got 1.0"),
    (lambda: pad_sequences([[1]], num_steps=2.0), TypeError, r"num_steps must be a positive int"),
    (lambda: pad_sequences(None), TypeError, r"seqs must be a list of 1-D int sequences, got NoneType"),
    (lambda: pad_sequences(np.array([1, 2, 3])), TypeError, r"seqs must be a list"),
    (lambda: sequence_mask(np.zeros(0, np.int64), 3), ValueError,
     r"lengths must hold at least one length.*got shape \(0,\)"),
    (lambda: sequence_mask([], 3), ValueError, r"lengths must hold at least one length"),
    (lambda: sequence_mask(np.array([1]), 2, time_major="yes"), TypeError,
     r"time_major must be True or False, got 'yes'"),
    (lambda: sequence_mask(np.array([1.5]), 3), TypeError, r"lengths must hold integers.*float64"),
    (lambda: sequence_mask(np.array([True]), 3), TypeError, r"lengths must hold integers.*bool"),
    (lambda: sequence_mask(np.array([[1, 2]]), 3), ValueError, r"lengths must be 1-D \(B,\), got shape \(1, 2\)"),
    (lambda: sequence_mask(np.int64(2), 3), ValueError, r"lengths must be 1-D \(B,\), got shape \(\)"),
    (lambda: sequence_mask(np.array([0, 2]), 3), ValueError, r"lengths must be in \[1, 3\].*got 0"),
    (lambda: sequence_mask(np.array([1]), True), TypeError, r"num_steps must be a positive int, got True"),
    (lambda: bucket_batches(np.array([1.0, 2.0]), 1), TypeError, r"lengths must hold integers.*float64"),
    (lambda: bucket_batches([1.5, 2], 1), TypeError, r"lengths must hold integers.*float64"),
    (lambda: bucket_batches(np.array([True, True]), 1), TypeError, r"lengths must hold integers.*bool"),
    (lambda: bucket_batches(np.array([1, 2], object), 1), TypeError, r"lengths must hold integers.*object"),
    (lambda: bucket_batches(np.zeros(0, np.int64), 1), ValueError, r"lengths must hold at least one length"),
    (lambda: bucket_batches([], 1), ValueError, r"lengths must hold at least one length"),
    (lambda: bucket_batches(np.array([[1, 2]]), 1), ValueError, r"lengths must be 1-D \(N,\).*got shape \(1, 2\)"),
    (lambda: bucket_batches(np.int64(3), 1), ValueError, r"lengths must be 1-D \(N,\).*got shape \(\)"),
    (lambda: bucket_batches(np.array([-1, 2]), 1), ValueError, r"lengths must be >= 1, got -1"),
    (lambda: bucket_batches(np.array([1, 2]), True), TypeError, r"batch_size must be a positive int, got True"),
    (lambda: bucket_batches(np.array([1, 2]), 2.0), TypeError, r"batch_size must be a positive int, got 2.0"),
    (lambda: bucket_batches(np.array([1, 2]), -3), ValueError, r"batch_size must be a positive int, got -3"),
    (lambda: bucket_batches(np.array([3, 1]), 1, shuffle="no"), TypeError, r"shuffle must be True or False, got 'no'"),
    (lambda: bucket_batches(np.array([3, 1]), 1, drop_last="no"), TypeError, r"drop_last must be True or False, got 'no'"),
    (lambda: bucket_batches(np.array([3, 1]), 5, drop_last=True), ValueError,
     r"drop_last=True with batch_size 5 leaves no batch of the 2 sequences"),
])
def test_padding_helpers_name_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bucket_batches_with_a_huge_batch_size_is_one_batch():
    (only,) = bucket_batches(np.array([1, 3, 2]), 10**30, shuffle=False)
    assert only.tolist() == [1, 2, 0]


# ------------------------------------------------ author_test_passages: bad input
TEXTS = ["ab" * 300, "cd" * 125]                         # 600 and 250 characters


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_per_author=0), ValueError, "num_per_author must be a positive int, got 0"),
    (dict(num_per_author=2.0), TypeError, "num_per_author must be a positive int, got 2.0"),
    (dict(num_per_author=True), TypeError, "num_per_author must be a positive int, got True"),
    (dict(lengths=(0,)), ValueError, r"lengths\[0\] must be an int in \[1, 250\]"),
    (dict(lengths=(20, 260)), ValueError,
     r"lengths\[1\] must be an int in \[1, 250\] \(the shortest text's length\), got 260"),
    (dict(lengths=(20.0,)), TypeError, r"lengths\[0\] must be an int"),
    (dict(lengths=(True,)), TypeError, r"lengths\[0\] must be an int"),
    (dict(lengths=20), TypeError, "lengths must be a non-empty sequence of passage lengths, got 20"),
    (dict(lengths="20"), TypeError, "lengths must be a non-empty sequence of passage lengths, got '20'"),
    (dict(lengths=()), ValueError, r"lengths must be a non-empty sequence of passage lengths, got \(\)"),
    (dict(lengths=(20, 50, 20)), ValueError, r"lengths must not repeat a length, got \(20, 50, 20\)"),
    (dict(seed=-1), ValueError, "seed must be a non-negative int, got -1"),
    (dict(seed=1.0), TypeError, "seed must be a non-negative int, got 1.0"),
    (dict(seed=True), TypeError, "seed must be a non-negative int, got True"),
    (dict(texts="ab" * 300), TypeError, "texts must be a list of str"),
    (dict(texts=[]), ValueError, r"texts must be a non-empty list of str"),
    (dict(texts=["ab" * 300, 7]), TypeError, r"texts must be a list of str .* got int at texts\[1\]"),
])
def test_author_test_passages_refuses_bad_arguments_naming_them(kwargs, error, message):
    args = dict(texts=TEXTS, num_per_author=2, lengths=(20, 50), seed=0) | kwargs
    with pytest.raises(error, match=message):
        author_test_passages(**args)


def test_author_test_passages_keys_are_python_ints():
    tests = author_test_passages(TEXTS, 2, np.array([20, 50]), seed=0)
    assert list(tests) == [20, 50] and all(type(L) is int for L in tests)   # JSON-able keys
    assert tests[20][0] == author_test_passages(TEXTS, 2, (20, 50), seed=0)[20][0]


# ------------------------- the segmentation task's data and baseline, and its F1 (metrics)
def test_remove_and_restore_spaces():
    letters, tags = remove_spaces("the time machine")
    assert letters == "thetimemachine"
    assert tags.tolist() == [0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert restore_spaces(letters, tags) == "the time machine"
    assert restore_spaces("abc", [1, 1, 0]) == "a b c"
    assert restore_spaces("abc", [0, 0, 0]) == "abc"
    with pytest.raises(ValueError, match="one tag per letter"):
        restore_spaces("abc", [1, 0])


def test_split_text_cuts_at_a_space():
    train, test = split_text("aaaa bb cc dddd ee", 0.5)
    assert (train, test) == ("aaaa bb cc", "dddd ee")          # 0.5 * 18 = 9 -> the space at 10
    assert not set(train.split()) & set(test.split())


def test_boundary_f1_on_a_hand_made_case():
    true = [0, 1, 0, 1, 1, 0, 1]                                 # 4 boundaries
    pred = [1, 1, 0, 0, 1, 0, 0]                                 # 3 predicted, 2 right
    r = boundary_f1(pred, true)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(1 / 2)
    assert r["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    assert boundary_f1(true, true)["f1"] == 1.0
    assert boundary_f1([0] * 7, true) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_pair_rule_splits_where_a_space_mostly_was():
    # across a space: "e t" twice, "n a" once; inside words: "et" once (bet), "na" twice (nana)
    letters, tags = remove_spaces("the tin nana bet the tan in a")
    rule = fit_pair_rule(letters, tags)
    assert "et" in rule                                          # "e t" 2 times, "et" once
    assert "na" not in rule                                      # "n a" once, "na" twice
    assert "nn" in rule and "th" not in rule                     # "n n" once; "th" only inside
    pred = apply_pair_rule(rule, "thetan")
    assert pred.tolist() == [0, 0, 1, 0, 0, 1]                   # the last letter ends the text
    assert apply_pair_rule(rule, "xyz").tolist() == [0, 0, 1]  # unseen pairs: no space


def test_consecutive_pieces_tag_each_letter_once():
    pieces = consecutive_pieces(103, 5, 20, np.random.default_rng(0))
    covered = np.concatenate([np.arange(s, s + n) for s, n in pieces])
    np.testing.assert_array_equal(covered, np.arange(103))
    assert all(n <= 20 for _, n in pieces) and all(n >= 5 for _, n in pieces[:-1])


def test_passage_batches_pad_label_and_mask_every_prefix():
    vocab = char_vocab()
    texts = ["a" * 300, "b" * 300]
    plain = PassageBatches(texts, vocab, 5, 4, 20, 30, every_prefix=False, seed=0)
    batches = list(plain)
    assert len(plain) == len(batches) == 3                      # ceil(2 * 5 / 4)
    labels = np.concatenate([y for _, y, _ in batches])
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 5         # balanced
    for ids, y, lengths in batches:
        assert ((20 <= lengths) & (lengths <= 30)).all() and ids.shape[1] == lengths.max()
        for row, label, L in zip(ids, y, lengths):
            assert (row[:L] == vocab["ab"[label]]).all() and (row[L:] == vocab[PAD]).all()
    every = PassageBatches(texts, vocab, 5, 4, 20, 30, next_chars=True, seed=0)
    for ids, (y, following, lm_mask), lengths, mask in every:
        T = ids.shape[1]
        for b, L in enumerate(lengths):                         # prefixes of >= 20 characters
            np.testing.assert_array_equal(mask[b], (np.arange(T) >= 19) & (np.arange(T) < L))
            np.testing.assert_array_equal(lm_mask[b], np.arange(T) < L - 1)
            np.testing.assert_array_equal(following[b, :L - 1], ids[b, 1:L])
        assert y.shape == ids.shape and (y == y[:, :1]).all()   # the label at every step


def test_updates_takes_n_batches_across_epochs():
    from minirnn.data import Updates
    twin = SeqDataLoader(np.arange(50), 2, 5, use_random_iter=False, seed=0)
    first, second = list(twin), list(twin)                      # two epochs (each its offset)
    updates = Updates(SeqDataLoader(np.arange(50), 2, 5, use_random_iter=False, seed=0),
                      len(first) + 2)
    batches = list(updates)
    assert len(updates) == len(batches) == len(first) + 2
    for got, want in zip(batches, first + second[:2]):          # the second epoch goes on
        np.testing.assert_array_equal(got[0], want[0])


def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    from minirnn.data.tasks import AddingStream, adding_problem
    X, y = adding_problem(np.random.default_rng(0), 64, 10)
    assert X.shape == (10, 64, 2) and y.shape == (64, 1) and X.dtype == y.dtype == np.float32
    markers = X[..., 1]
    assert (markers[:5].sum(axis=0) == 1).all() and (markers[5:].sum(axis=0) == 1).all()
    np.testing.assert_allclose(y[:, 0], (X[..., 0] * markers).sum(axis=0), rtol=1e-6)
    a, b = next(iter(AddingStream(8, 10, 3))), next(iter(AddingStream(8, 10, 3)))
    np.testing.assert_array_equal(a[0], b[0])                   # drawn from the seed only


def test_pair_batches_cover_every_pair_once_an_epoch_with_its_mask():
    """A seq2seq task's batches: every (src, tgt_in, tgt_out) once an epoch, each padded to
    its batch's longest, the mask exactly the real target tokens, a new order each epoch."""
    rng = np.random.default_rng(0)
    src = [rng.integers(1, 9, size=n) for n in rng.integers(1, 12, size=23)]
    tgt_in = [np.r_[9, 11 + i, s[::-1]] for i, s in enumerate(src)]   # <bos>, pair i's mark, ...
    tgt_out = [np.r_[11 + i, s[::-1], 10] for i, s in enumerate(src)]  # ..., <eos>
    data = PairBatches(src, tgt_in, tgt_out, 0, 5, seed=3)
    assert len(data) == 5
    epochs = []
    for _ in range(2):
        seen = []
        for (X, Y_in), Y_out, (X_len, Y_len), mask in data:
            assert X.shape == (len(X_len), X_len.max()) and Y_in.shape == Y_out.shape
            assert (mask == (np.arange(Y_in.shape[1]) < Y_len[:, None])).all()
            for b, i in enumerate(Y_in[:, 1] - 11):
                assert (X[b, :X_len[b]] == src[i]).all() and (X[b, X_len[b]:] == 0).all()
                assert (Y_in[b, :Y_len[b]] == tgt_in[i]).all()
                assert (Y_out[b, :Y_len[b]] == tgt_out[i]).all()
                assert (Y_out[b, Y_len[b]:] == 0).all()
                seen.append(int(i))
        assert sorted(seen) == list(range(23))
        epochs.append(seen)
    assert epochs[0] != epochs[1]
    with pytest.raises(ValueError, match="src, tgt_in and tgt_out"):
        PairBatches(src, tgt_in[:-1], tgt_out, 0, 5, seed=3)
    with pytest.raises(ValueError, match="batch_size"):
        PairBatches(src, tgt_in, tgt_out, 0, 0, seed=3)
