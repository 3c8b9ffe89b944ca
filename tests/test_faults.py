"""Faults a user meets running ``minirnn``: nothing they have is lost, and a failure is one
line.  Writes that fail mid-run (a full disk, a read-only folder), runs that fail before
their first checkpoint, two runs racing for one folder, pipes closed early, Ctrl-C at any
moment, corpora that are not files.  As root, chmod does not stop writes, so failing
writes are simulated by monkeypatching (an ``OSError`` with the errno a full disk gives).
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minirnn._files
import minirnn.checkpoint
from minirnn.checkpoint import load
from minirnn.cli import main
from minirnn.runfolder import claim_out_dir, release_out_dir

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled and his usually pale "
        "face was flushed and animated the fire burned brightly ") * 8
TINY = ["--preset", "d2l-1.0", "--num-train", "300", "--num-val", "60", "--batch", "50",
        "--steps", "8", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01",
        "--sample-every", "0", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.txt"
    path.write_text(TEXT)
    return path


def train(corpus, out, *args):
    return main(["train", "--corpus", str(corpus), *TINY, "--out", str(out), *args])


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def leftovers(folder: Path) -> list:
    """Temporary files (``.name.xxx.tmp``) left in a folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def full_disk(after: int):
    """A ``write`` for file objects that works ``after`` times, then fails as a full disk."""
    calls = {"n": 0}

    def fail():
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return fail


# ------------------------------------------------------- writes that fail mid-run
def test_a_full_disk_at_a_checkpoint_is_one_line_and_keeps_the_last_good_one(corpus, tmp_path,
                                                                             monkeypatch, capsys):
    out = tmp_path / "r"
    fail = full_disk(after=2)        # epoch 1: checkpoint.npz and checkpoint-best.npz
    savez = np.savez

    def savez_on_a_small_disk(f, **arrays):
        fail()                                               # the second checkpoint: disk full
        savez(f, **arrays)

    monkeypatch.setattr(minirnn.checkpoint.np, "savez", savez_on_a_small_disk)
    assert train(corpus, out, "--epochs", "3") == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("minirnn train: error: cannot write ")
    assert f"{out / 'checkpoint.npz'}: No space left on device" in line
    assert "is unchanged (from epoch 1)" in line
    assert load(out).epoch == 1                              # the last good checkpoint, intact
    assert leftovers(out) == []                              # and no temporary file
    assert "No space left on device" in (out / "error.txt").read_text()


def test_a_folder_made_read_only_mid_run_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    mkstemp = minirnn._files.tempfile.mkstemp

    def read_only_after_epoch_1(*args, **kwargs):
        if load_epoch(out) == 1:                             # the folder turns read-only
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return mkstemp(*args, **kwargs)

    def load_epoch(folder):
        try:
            return load(folder).epoch
        except (FileNotFoundError, ValueError):
            return 0

    monkeypatch.setattr(minirnn._files.tempfile, "mkstemp", read_only_after_epoch_1)
    assert train(corpus, out, "--epochs", "3") == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot write {out / 'history.json'}: Permission denied" in line
    assert "(from epoch 1)" in line
    assert load(out).epoch == 1 and leftovers(out) == []


def test_a_failed_write_names_the_file_asked_for_never_the_temporary(tmp_path, monkeypatch):
    from minirnn._files import WriteError, atomic_write_text
    (tmp_path / "a.json").write_text("old")
    with pytest.raises(WriteError, match=f"^cannot write {tmp_path}: it is a folder"):
        atomic_write_text(tmp_path, "x")
    monkeypatch.setattr(minirnn._files.os, "fsync", lambda fd: full_disk(after=0)())
    with pytest.raises(WriteError) as err:
        atomic_write_text(tmp_path / "a.json", "new")
    assert str(err.value) == f"cannot write {tmp_path / 'a.json'}: No space left on device"
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "a.json")
    assert (tmp_path / "a.json").read_text() == "old" and leftovers(tmp_path) == []


def test_a_full_disk_at_the_figure_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    import matplotlib.figure
    out = tmp_path / "r"

    def savefig(self, f, **kwargs):
        f.write(b"\x89PNG half a figure")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    assert train(corpus, out, "--epochs", "1") == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot write {out / 'perplexity.png'}: No space left on device" in line
    assert "(from epoch 1)" in line
    assert load(out).epoch == 1 and not (out / "perplexity.png").exists() and leftovers(out) == []


# ------------------------------------------------- a run that fails before its first checkpoint
def test_a_run_that_diverges_before_its_first_checkpoint_says_so(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    assert train(corpus, out, "--optimizer", "sgd", "--lr", "1e6", "--clip", "none",
                 "--epochs", "2") == 1
    failure = one_line(capsys.readouterr().err)
    assert "loss became" in failure and not (out / "checkpoint.npz").exists()
    assert (out / "error.txt").read_text().strip() in failure          # the folder says what happened
    for command in (["train", "--resume", str(out), "--epochs", "3", "--no-progress"],
                    ["generate", "--checkpoint", str(out)]):
        assert main(command) == 2
        line = one_line(capsys.readouterr().err)
        assert f"run folder {str(out)!r} holds no checkpoint: its run failed before saving one: " \
               f"loss became" in line, line
    assert train(corpus, out, "--epochs", "1") == 0                     # the folder takes a new run
    assert load(out).epoch == 1 and not (out / "error.txt").exists()


def test_a_run_killed_in_its_first_epoch_is_one_clear_line(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    from minirnn.presets import preset_config                # what a killed run leaves
    (out / "config.json").write_text(json.dumps(preset_config("d2l-1.0")))
    assert main(["generate", "--checkpoint", str(out)]) == 2
    assert "holds no checkpoint: its run stopped before the end of its first epoch" in \
        one_line(capsys.readouterr().err)
    claim_out_dir(out)                                       # ... or one still running
    try:
        assert main(["train", "--resume", str(out), "--no-progress"]) == 2
        assert "holds no checkpoint yet: its run is still in its first epoch" in \
            one_line(capsys.readouterr().err)
    finally:
        release_out_dir(out)


# ------------------------------------------------------------ two runs, one folder
def test_a_folder_in_use_by_another_run_is_refused(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    claim_out_dir(out)                                       # another run holds it (a lock)
    try:
        assert train(corpus, out, "--epochs", "1") == 2
        assert f"--out {str(out)!r} is in use by another minirnn train" in \
            one_line(capsys.readouterr().err)
        assert sorted(p.name for p in out.iterdir()) == []   # nothing written
    finally:
        release_out_dir(out)
    assert train(corpus, out, "--epochs", "1") == 0          # once it has ended


def test_a_second_run_into_a_running_runs_folder_is_refused(corpus, tmp_path):
    """The race, between processes: the first run is in its folder (before or after its
    first checkpoint), the second starts with the same --out."""
    out = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "minirnn", "train", "--corpus", str(corpus), *TINY, "--out",
            str(out)]
    first = subprocess.Popen([*args, "--epochs", "100000"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not (out / "config.json").exists() and time.time() < deadline:
            time.sleep(0.02)
        second = subprocess.run([*args, "--epochs", "1"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"--out {str(out)!r} is in use by another minirnn train" in one_line(second.stderr)
    finally:
        first.send_signal(signal.SIGINT)                     # the first ends as Ctrl-C ends it
        first.wait(timeout=60)
    assert first.returncode == 130 and load(out).epoch >= 1


# ------------------------------------------------------------- pipes and streams
@pytest.fixture(scope="module")
def ckpt(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert train(corpus, out, "--epochs", "1") == 0
    return out


def minirnn_proc(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "minirnn", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.mark.parametrize("command, read", [
    (["gradcheck"], lambda out: out.readline()),                          # minirnn gradcheck | head -1
    (["generate", "--checkpoint", "{ckpt}", "--num-preds", "100000000"],  # generate | head -c 10
     lambda out: out.read(10))])
def test_a_pipe_closed_early_ends_quietly(command, read, ckpt, tmp_path):
    proc = minirnn_proc(*[a.format(ckpt=ckpt) for a in command], cwd=tmp_path)
    assert read(proc.stdout)
    proc.stdout.close()                                      # what head does after its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""        # 128 + SIGPIPE, no traceback


def test_train_into_a_closed_pipe_stops_quietly_and_says_why(corpus, tmp_path):
    out = tmp_path / "r"                                     # minirnn train ... | head -1
    proc = minirnn_proc("train", "--corpus", str(corpus), *TINY[:-3], "--sample-every", "1",
                        "--no-progress", "--epochs", "3", "--out", str(out), cwd=tmp_path)
    assert proc.stdout.readline().startswith(b"minirnn train: ")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""
    assert "its output was closed (a broken pipe)" in (out / "error.txt").read_text()


def test_generate_streams_and_ctrl_c_keeps_what_was_printed(ckpt, monkeypatch, capsys):
    """--num-preds 10^9 is fine: the text comes as it is generated, and Ctrl-C stops it."""
    from minirnn.models import RNNLM
    forward, calls = RNNLM.forward, {"n": 0}

    def forward_then_ctrl_c(self, X, state=None):
        calls["n"] += 1
        if calls["n"] == 501:                                # the 500th token was just printed
            raise KeyboardInterrupt
        return forward(self, X, state)

    monkeypatch.setattr(RNNLM, "forward", forward_then_ctrl_c)
    assert main(["generate", "--checkpoint", str(ckpt), "--prefix", "the ",
                 "--num-preds", "1000000000"]) == 130
    out, err = capsys.readouterr()
    assert out.startswith("the ") and out.endswith("\n") and len(out) == len("the ") + 500 + 1
    assert one_line(err) == "minirnn generate: interrupted"


def test_generate_memory_does_not_grow_with_num_preds(ckpt, monkeypatch):
    import tracemalloc

    class Sink:                                              # stdout that keeps nothing
        def write(self, text):
            return len(text)

        def flush(self):
            pass

    def peak(n):
        tracemalloc.start()
        try:
            assert main(["generate", "--checkpoint", str(ckpt), "--num-preds", str(n)]) == 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    monkeypatch.setattr(sys, "stdout", Sink())
    peak(10)                                                 # imports, caches: not counted
    small, large = peak(500), peak(5000)
    assert large < small + 20_000, (small, large)            # kept whole: 80 kB more


# ------------------------------------------------------------------- Ctrl-C at once
def test_ctrl_c_before_any_command_runs_is_quiet(monkeypatch, capsys):
    import minirnn.cli

    def importing_numpy():
        raise KeyboardInterrupt

    monkeypatch.setattr(minirnn.cli, "build_parser", importing_numpy)
    assert main(["gradcheck"]) == 130
    assert capsys.readouterr() == ("", "")


def test_ctrl_c_while_numpy_is_imported_prints_no_traceback(tmp_path):
    """``python -m minirnn gradcheck`` with Ctrl-C arriving while NumPy is being imported
    (an audit hook sends SIGINT at that moment: no timing to guess)."""
    code = ("import os, runpy, signal, sys\n"
            "def hook(event, args):\n"
            "    if event == 'import' and args[0] == 'numpy':\n"
            "        os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.addaudithook(hook)\n"
            "sys.argv = ['minirnn', 'gradcheck']\n"
            "runpy.run_module('minirnn', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "")


# ------------------------------------------------------------- corpora that are not files
@pytest.mark.parametrize("make, message", [
    (lambda tmp: "/dev/zero", "is not a regular file but a character device"),
    (lambda tmp: (os.mkfifo(tmp / "fifo"), tmp / "fifo")[1], "is not a regular file but a FIFO"),
])
def test_a_corpus_that_is_not_a_regular_file_is_refused(make, message, tmp_path, capsys):
    code = main(["train", "--corpus", str(make(tmp_path)), *TINY, "--out", str(tmp_path / "r")])
    assert code == 2 and message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_a_corpus_beyond_the_size_limit_is_refused(corpus, tmp_path, monkeypatch, capsys):
    import minirnn.data.corpus
    monkeypatch.setattr(minirnn.data.corpus, "MAX_CORPUS_BYTES", 1000)
    assert train(corpus, tmp_path / "r") == 2
    assert "is larger than the limit of 1,000 bytes for a corpus" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


# -------------------------------------------------------- no corpus and no network
def offline_env(tmp_path):
    """No corpus anywhere, and every download refused at once."""
    (tmp_path / "empty").mkdir()
    return dict(os.environ, PYTHONPATH=str(ROOT), MINIRNN_DATA=str(tmp_path / "empty"),
                http_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", MPLBACKEND="Agg")


def test_no_corpus_and_no_network_is_one_line_naming_the_places(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "minirnn", "train", "--no-progress"], cwd=work,
                          env=offline_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"timemachine.txt is not in $MINIRNN_DATA ({tmp_path / 'empty'}) or ../data " \
           f"({tmp_path / 'data'}) and downloading it failed" in line
    assert "set MINIRNN_DATA to the folder that holds it" in line


def test_an_example_without_its_corpus_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "rnn_concise.py")], cwd=tmp_path,
                          env=offline_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("rnn_concise.py: error: timemachine.txt is not in $MINIRNN_DATA")
    assert "set MINIRNN_DATA" in line


# ------------------------------------------------------------------ naming --out
def test_a_run_folder_that_cannot_be_made_names_out(corpus, tmp_path, monkeypatch, capsys):
    def mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert train(corpus, tmp_path / "r") == 2
    assert one_line(capsys.readouterr().err) == (
        f"minirnn train: error: --out {str(tmp_path / 'r')!r}: cannot create the run folder: "
        f"Permission denied")


def test_sequential_data_writes_no_window_counts(corpus, tmp_path):
    """--num-train / --num-val mean nothing to sequential or random sampling: config.json
    says None, not the 10000 / 5000 it used to carry."""
    assert main(["train", "--corpus", str(corpus), "--preset", "d2l-0.17", "--batch", "4",
                 "--steps", "5", "--hidden", "8", "--epochs", "1", "--sample-every", "0",
                 "--no-progress", "--out", str(tmp_path / "r")]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["sampling"] == "sequential"
    assert config["num_train"] is None and config["num_val"] is None


# ------------------------------------------------------------------ small things
def test_a_count_of_one_is_singular(corpus, tmp_path, capsys):
    import warnings
    from minirnn.data import SeqDataLoader, Vocab
    from minirnn.generate import prefix_to_ids
    from minirnn.train import History
    assert train(corpus, tmp_path / "r", "--epochs", "1") == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith(f", 1 epoch -> {tmp_path / 'r'}"), header
    assert repr(History([{"epoch": 1, "train_ppl": 5.0}])).startswith("History(1 epoch, ")
    with pytest.raises(ValueError, match="corpus has 1 token, too short"):
        SeqDataLoader(np.array([1]), 1, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prefix_to_ids("aZ", Vocab(list("ab")))
    assert "1 char token not in the vocabulary" in str(caught[0].message)
