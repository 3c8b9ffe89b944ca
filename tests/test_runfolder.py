"""The run folder (``minirnn.runfolder``): a run never writes over or deletes a file it did
not write, cleans what a run killed while saving left, and its ``history.json`` never
lists an epoch its checkpoint does not hold."""
import contextlib
import errno
import io
import json
import os
from pathlib import Path

import pytest

import minirnn.checkpoint
from minirnn.checkpoint import load
from minirnn.cli import main
from minirnn.presets import preset_config

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
