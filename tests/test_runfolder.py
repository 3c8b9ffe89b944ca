"""The run folder (``minirnn.runfolder``): a run never writes over or deletes a file it did
not write, cleans what a run killed while saving left, and its ``history.json`` never
lists an epoch its checkpoint does not hold; writes that fail mid-run (a full disk, a
read-only folder) and runs that fail before their first checkpoint are one line; two runs
never share a folder."""
import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import full_disk, leftovers, one_line

import minirnn._files
import minirnn.checkpoint
from minirnn.checkpoint import load
from minirnn.cli import main
from minirnn.presets import preset_config
from minirnn.runfolder import claim_out_dir, release_out_dir

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding "
        "a recondite matter to us his grey eyes shone and twinkled and his usually pale ") * 8
TINY = ["--preset", "d2l-1.0", "--num-train", "300", "--num-val", "60", "--batch", "50",
        "--steps", "8", "--hidden", "8", "--sample-every", "0", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.txt"
    path.write_text(TEXT)
    return path


def train(corpus, *args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "--corpus", str(corpus), *TINY, *args])
    return code, err.getvalue()


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("files", [
    {"config.json": '{"my": 1}', "samples.txt": "notes", "error.txt": "x"},   # a run's names
    {"notes.txt": "mine"},
    {"config.json": json.dumps(preset_config("d2l-1.0")), "notes.txt": "mine"},
    {"history.json": "[]"},                                      # a run's name, no run config
])
def test_a_new_run_never_writes_into_a_folder_of_the_users_files(corpus, tmp_path, files):
    out = tmp_path / "D"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    before = snapshot(out)
    code, err = train(corpus, "--epochs", "1", "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--out {str(out)!r} holds" in err and "choose a new or empty folder" in err
    assert snapshot(out) == before                               # nothing written, nothing deleted


def test_out_dot_in_a_folder_of_the_users_files_is_refused(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    code, err = train(corpus, "--epochs", "1", "--out", ".")
    assert code == 2 and "--out '.' holds files that minirnn train did not write (notes.txt)" in err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    (tmp_path / "notes.txt").unlink()                            # an empty '.' takes the run
    assert train(corpus, "--epochs", "1", "--out", ".")[0] == 0 and load(tmp_path).epoch == 1


def test_a_killed_save_leaves_no_temporary_behind_the_next_run(corpus, tmp_path):
    out = tmp_path / "r"
    assert train(corpus, "--epochs", "1", "--out", str(out))[0] == 0
    (out / ".checkpoint.npz.k2j3h4.tmp").write_bytes(b"\0" * 1000)   # what kill -9 leaves
    (out / ".history.json.abcdef.tmp").write_text("[")
    assert train(corpus, "--epochs", "2", "--resume", str(out))[0] == 0
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    assert load(out).epoch == 2


def test_history_is_never_ahead_of_the_checkpoint_after_a_failed_save(corpus, tmp_path,
                                                                       monkeypatch):
    from minirnn._files import WriteError
    out, calls = tmp_path / "r", {"n": 0}
    atomic_open = minirnn.checkpoint.atomic_open

    @contextlib.contextmanager
    def atomic_open_on_a_full_disk(path):
        if Path(path).name == "checkpoint.npz":
            calls["n"] += 1
            if calls["n"] == 2:                                  # the second checkpoint fails
                raise WriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        with atomic_open(path) as f:
            yield f

    monkeypatch.setattr(minirnn.checkpoint, "atomic_open", atomic_open_on_a_full_disk)
    code, err = train(corpus, "--epochs", "3", "--out", str(out))
    assert code == 1 and "No space left on device" in err
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1] == [r["epoch"] for r in load(out).history]


# ------------------------------------------------- faults while a run writes its folder
# As root, chmod does not stop writes, so failing writes are simulated by monkeypatching
# (an OSError with the errno a full disk gives).
FAULT_TINY = ["--preset", "d2l-1.0", "--num-train", "300", "--num-val", "60", "--batch", "50",
              "--steps", "8", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01",
              "--sample-every", "0", "--no-progress"]
ROOT = Path(__file__).resolve().parents[1]


def train_into(corpus, out, *args):
    return main(["train", "--corpus", str(corpus), *FAULT_TINY, "--out", str(out), *args])








def test_a_full_disk_at_a_checkpoint_is_one_line_and_keeps_the_last_good_one(corpus, tmp_path,
                                                                             monkeypatch, capsys):
    out = tmp_path / "r"
    fail = full_disk(after=2)        # epoch 1: checkpoint.npz and checkpoint-best.npz
    savez = np.savez

    def savez_on_a_small_disk(f, **arrays):
        fail()                                               # the second checkpoint: disk full
        savez(f, **arrays)

    monkeypatch.setattr(minirnn.checkpoint.np, "savez", savez_on_a_small_disk)
    assert train_into(corpus, out, "--epochs", "3") == 1
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
    assert train_into(corpus, out, "--epochs", "3") == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot write {out / 'history.json'}: Permission denied" in line
    assert "(from epoch 1)" in line
    assert load(out).epoch == 1 and leftovers(out) == []


def test_a_full_disk_at_the_figure_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    import matplotlib.figure
    out = tmp_path / "r"

    def savefig(self, f, **kwargs):
        f.write(b"\x89PNG half a figure")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    assert train_into(corpus, out, "--epochs", "1") == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot write {out / 'perplexity.png'}: No space left on device" in line
    assert "(from epoch 1)" in line
    assert load(out).epoch == 1 and not (out / "perplexity.png").exists() and leftovers(out) == []


def test_a_run_that_diverges_before_its_first_checkpoint_says_so(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    assert train_into(corpus, out, "--optimizer", "sgd", "--lr", "1e6", "--clip", "none",
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
    assert train_into(corpus, out, "--epochs", "1") == 0                     # the folder takes a new run
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


def test_a_folder_in_use_by_another_run_is_refused(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    claim_out_dir(out)                                       # another run holds it (a lock)
    try:
        assert train_into(corpus, out, "--epochs", "1") == 2
        assert f"--out {str(out)!r} is in use by another minirnn train" in \
            one_line(capsys.readouterr().err)
        assert sorted(p.name for p in out.iterdir()) == []   # nothing written
    finally:
        release_out_dir(out)
    assert train_into(corpus, out, "--epochs", "1") == 0          # once it has ended


def test_a_second_run_into_a_running_runs_folder_is_refused(corpus, tmp_path):
    """The race, between processes: the first run is in its folder (before or after its
    first checkpoint), the second starts with the same --out."""
    out = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "minirnn", "train", "--corpus", str(corpus), *FAULT_TINY, "--out",
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


def test_a_run_folder_that_cannot_be_made_names_out(corpus, tmp_path, monkeypatch, capsys):
    def mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert train_into(corpus, tmp_path / "r") == 2
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
